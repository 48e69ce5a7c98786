"""Applying a pgoutput message sequence to the publisher: one code path for draining and for streaming.

Events are tagged with `final_lsn + 1` of their transaction; sealing it at Commit means "this transaction is
complete". Confirming that position to the slot makes PostgreSQL skip the transaction after a restart, and never
anything later. A table whose schema change is refused is stopped: its events are held back (a position that is
never confirmed), so the slot cannot move past them and nothing is lost; other tables keep flowing.
"""

from __future__ import annotations

import time

from common.errors import SchemaError
from common.logging import get_logger
from producers.capture.postgres.direct import DirectCodec, envelope_bytes, split_tuples
from producers.capture.postgres.events import SourceContext, change_events
from producers.capture.postgres.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
    Relation,
    Truncate,
    Update,
    parse_message,
)
from producers.capture.postgres.relations import RelationMap, SchemaChangeRefused
from producers.capture.progress import CaptureProgress
from producers.publish import ChangePublisher
from schemas.envelope import PostgresPosition

log = get_logger(__name__)


class ChangeApplier:
    def __init__(
        self,
        context: SourceContext,
        relations: RelationMap,
        publisher: ChangePublisher,
        progress: CaptureProgress,
    ) -> None:
        self._context = context
        self._relations = relations
        self._publisher = publisher
        self._progress = progress
        self._begin: Begin | None = None
        self._held: set[int] = set()
        # The end of the last commit record: Debezium's `lastCommitLsn`, the first half of `source.sequence`.
        self.last_commit_end: int | None = None
        self._direct_codecs: dict[int, DirectCodec] = {}

    @property
    def between_transactions(self) -> bool:
        """True when no transaction is open and no stopped table holds the slot back."""
        return self._begin is None and not self._held

    def apply_raw(self, data: bytes, lsn: int) -> None:
        """Handle one undecoded message: row changes take the direct path when they can, the rest is parsed."""
        if data[:1] in (b"I", b"U", b"D") and self._begin is not None and self._direct(data, lsn):
            return
        self.apply(parse_message(data), lsn)

    def _direct(self, data: bytes, lsn: int) -> bool:
        """Publish a plain insert/update/delete straight from its bytes; False leaves it to the general path."""
        relation_id, old_at, old_key_only, new_at = split_tuples(data)
        binding = self._relations.get(relation_id)
        if binding is None or old_key_only or binding.table.name in self._progress.blocked:
            return binding is None  # changes of tables capture does not follow are skipped
        codec = self._direct_codecs.get(id(binding))
        if codec is None or codec.binding is not binding:
            codec = self._direct_codecs[id(binding)] = DirectCodec(binding, self._context)
        before = after = None
        if old_at is not None:
            old = codec.tuple_bytes(data, old_at)
            if old is None:
                return False
            before, old_key, end = old
            if new_at == -1:
                if data[end : end + 1] != b"N":
                    return False
                new_at = end + 1
        if new_at is not None:
            new = codec.tuple_bytes(data, new_at)
            if new is None:
                return False
            after, key, _ = new
            if before is not None and key != old_key:
                return False  # a primary key change: delete + tombstone + create, by the general path
        else:
            key = old_key
        op = b"c" if before is None else (b"u" if after is not None else b"d")
        begin = self._begin
        assert begin is not None
        encoders = self._publisher.codec(binding.table, binding.columns)
        source = codec.source_bytes(
            lsn=lsn, tx_id=begin.xid, commit_ts_us=begin.commit_ts_us, last_commit_lsn=self.last_commit_end
        )
        processed_at_us = time.time_ns() // 1_000_000 * 1000  # millisecond grain, like Debezium's ts_ms
        value = envelope_bytes(encoders.value.header, before, after, source, op, processed_at_us)
        framed_key = encoders.key.header + key
        topic = binding.table.topic
        position = begin.final_lsn + 1
        self._publisher.publish_encoded(topic, framed_key, value, position=position)
        if op == b"d":
            self._publisher.publish_encoded(topic, framed_key, None, position=position)
            self._progress.events_by_table[topic] += 1
        self._progress.events_by_table[topic] += 1
        return True

    def apply(self, message: Message, lsn: int) -> None:
        """Handle one message whose WAL position is `lsn`."""
        if isinstance(message, Insert | Update | Delete):
            self._change(message, lsn)
        elif isinstance(message, Begin):
            self._begin = message
            self._progress.last_lsn = message.final_lsn
        elif isinstance(message, Commit):
            if self._begin is not None:
                self._publisher.seal(self._begin.final_lsn + 1)
            self.last_commit_end = message.end_lsn
            self._begin = None
            self._progress.transactions += 1
        elif isinstance(message, Relation):
            self._rebind(message)
        elif isinstance(message, Truncate):
            log.warning("capture.truncate_skipped", relations=len(message.relation_ids))

    def _change(self, message: Insert | Update | Delete, lsn: int) -> None:
        begin = self._begin
        binding = self._relations.get(message.relation_id)
        if begin is None or binding is None:
            return
        position = begin.final_lsn + 1
        if binding.table.name in self._progress.blocked:
            if position not in self._held:
                self._held.add(position)
                self._publisher.tracker.add(position)  # never acknowledged: the slot stays before it
            return
        source_position = PostgresPosition(lsn, begin.xid, begin.commit_ts_us, self.last_commit_end)
        now_us = time.time_ns() // 1000
        topic = binding.table.topic
        for key, envelope in change_events(self._context, binding, message, source_position, now_us):
            self._publisher.publish(binding.table, key, envelope, position=position, columns=binding.columns)
            self._progress.events_by_table[topic] += 1

    def _rebind(self, message: Relation) -> None:
        """Bind a relation; a schema change registers the new schema first; a refusal stops only that table."""
        try:
            binding = self._relations.bind(message)
            if binding is not None and binding.schema_changed:
                self._publisher.register(binding.table, binding.columns)
                log.info(
                    "capture.schema_changed",
                    table=binding.table.name,
                    columns=",".join(c.name for c in binding.columns),
                )
        except (SchemaChangeRefused, SchemaError) as exc:
            self._progress.blocked[message.name] = str(exc)
            log.error("capture.table_stopped", table=message.name, reason=str(exc))  # noqa: TRY400 - not a bug
