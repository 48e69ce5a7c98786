"""Native PostgreSQL capture: exported-snapshot initial load, then pgoutput streaming, no loss, restart-safe.

Phases (recorded in the state file):
- snapshot: the slot was created with an exported snapshot; tables are read in primary-key chunks inside that
  snapshot and emitted as `op: r`. Progress is saved only after Kafka confirmed a chunk. After a crash the old
  snapshot is gone, so a new slot (next generation) is created with a fresh snapshot; the old slot's changes up to
  the new slot's start are "drained" (emitted), then the old slot is dropped and the remaining tables are read in
  the new snapshot. Every change after the first slot's start reaches Kafka, per key in source order.
- streaming: changes from the slot; the slot's confirmed LSN advances only to positions Kafka fully confirmed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from common.errors import ConfigError, SchemaError
from common.logging import get_logger
from producers.capture.postgres.events import SourceContext, change_events, snapshot_event
from producers.capture.postgres.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    Relation,
    Truncate,
    Update,
    format_lsn,
    parse_message,
)
from producers.capture.postgres.relations import RelationMap, SchemaChangeRefused, TableBinding, derive_columns
from producers.capture.postgres.replication import CreatedSlot, ReplicationSession
from producers.capture.postgres.source import SnapshotReader, SourceDatabase, connect
from producers.capture.postgres.state import CaptureState, SnapshotProgress, StateFile
from producers.capture.progress import CaptureProgress
from producers.publish import ChangePublisher
from schemas.catalog import Catalog, Table
from schemas.envelope import PostgresPosition, SnapshotMarker

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class PostgresCaptureConfig:
    slot_base: str = "cdc_retail"
    publication: str = "cdc_retail_pub"
    snapshot: Literal["initial", "never"] = "initial"
    chunk_rows: int = 20_000
    stop_when_idle: float | None = None  # seconds without changes after which `run` returns (demo, tests)
    feedback_interval: float = 1.0


def _now_us() -> int:
    return time.time_ns() // 1000


def _lookahead(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """Pairs (item, is_last)."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


def _marker(first_overall: bool, first_in_table: bool, last_in_table: bool, last_table: bool) -> SnapshotMarker:
    if last_in_table:
        return "last" if last_table else "last_in_data_collection"
    if first_overall:
        return "first"
    if first_in_table:
        return "first_in_data_collection"
    return "true"


class PostgresCapture:
    """Composes the source, the replication session and the publisher; holds no business rules of its own."""

    def __init__(
        self,
        *,
        dsn: str,
        catalog: Catalog,
        tables: Sequence[Table],
        publisher: ChangePublisher,
        state_file: StateFile,
        config: PostgresCaptureConfig,
        on_progress: Callable[[CaptureProgress], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._catalog = catalog
        self._tables = list(tables)
        self._publisher = publisher
        self._state_file = state_file
        self._config = config
        self._context = SourceContext(catalog.connector_name, catalog.database)
        self._on_progress = on_progress
        self.progress = CaptureProgress(source="postgres")
        self._last_report = 0.0

    # -- orchestration -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> CaptureProgress:
        admin = connect(self._dsn)
        source = SourceDatabase(admin)
        session: ReplicationSession | None = None
        try:
            for table in self._tables:
                relation = source.describe(table)
                source.check_primary_key(table, relation)
                if relation.replica_identity != "f":
                    log.warning(
                        "capture.replica_identity",
                        table=table.qualified_name,
                        hint="before images of updates/deletes carry only the key; set REPLICA IDENTITY FULL",
                    )
            source.ensure_publication(self._config.publication, self._tables)
            state = self._state_file.load()
            prefix = f"{self._config.slot_base}_g"
            existing = source.slots(prefix)
            for name in existing:
                if state is None or name != state.slot:
                    log.warning("capture.drop_orphan_slot", slot=name)
                    source.drop_slot(name)
            if state is not None and state.slot not in existing:
                raise ConfigError(
                    f"replication slot {state.slot} recorded in {self._state_file.path} no longer exists; "
                    "remove the state file to start over with a new snapshot"
                )
            session = ReplicationSession(self._dsn)
            if state is None:
                created = session.create_slot(f"{prefix}1")
                state = CaptureState(
                    slot=created.name,
                    consistent_lsn=created.consistent_lsn,
                    phase="snapshot" if self._config.snapshot == "initial" else "streaming",
                )
                self._state_file.save(state)
                log.info("capture.slot_created", slot=created.name, lsn=format_lsn(created.consistent_lsn))
                if state.phase == "snapshot":
                    self._snapshot(source, created, state, stop, drain_from=None)
            elif state.phase == "snapshot":
                created = session.create_slot(f"{prefix}{state.generation + 1}")
                log.info(
                    "capture.snapshot_resume",
                    old_slot=state.slot,
                    new_slot=created.name,
                    done=len(state.snapshot.completed),
                )
                self._snapshot(source, created, state, stop, drain_from=state.slot)
            if stop.is_set() and state.phase == "snapshot":
                return self.progress
            if state.phase != "streaming":
                state.phase = "streaming"
                self._state_file.save(state)
            session.start(state.slot, self._config.publication)
            self._stream(session, source, state, stop)
        finally:
            if session is not None:
                session.close()
            admin.close()
        return self.progress

    # -- snapshot ------------------------------------------------------------------------------------------

    def _snapshot(
        self,
        source: SourceDatabase,
        created: CreatedSlot,
        state: CaptureState,
        stop: threading.Event,
        drain_from: str | None,
    ) -> None:
        self.progress.phase = "snapshot"
        reader = SnapshotReader(self._dsn, created.snapshot_name)  # import before anything else
        try:
            if drain_from is not None:
                self._drain(source, drain_from, created.consistent_lsn, stop)
                if stop.is_set():
                    return
                old = state.slot
                state.slot, state.generation, state.consistent_lsn = (
                    created.name,
                    state.generation + 1,
                    created.consistent_lsn,
                )
                self._state_file.save(state)
                source.drop_slot(old)
            self._read_tables(source, reader, created, state, stop)
        finally:
            reader.close()

    def _read_tables(
        self,
        source: SourceDatabase,
        reader: SnapshotReader,
        created: CreatedSlot,
        state: CaptureState,
        stop: threading.Event,
    ) -> None:
        progress = state.snapshot
        todo = [table for table in self._tables if table.name not in progress.completed]
        position = PostgresPosition(lsn=created.consistent_lsn, tx_id=reader.snapshot_xmin, commit_ts_us=_now_us())
        first_overall = not progress.completed and progress.current is None
        self._publisher.reset_tracker()
        pending: dict[int, SnapshotProgress] = {}
        chunk_seq = 0
        for table_index, table in enumerate(todo):
            binding = self._snapshot_binding(source, table)
            names = [column.name for column in binding.columns]
            key_positions = [names.index(name) for name in table.primary_key]
            after = progress.last_key if progress.current == table.name else None
            first_in_table = True
            last_table = table_index == len(todo) - 1
            for rows, last_chunk in _lookahead(reader.chunks(table, names, after, self._config.chunk_rows)):
                if stop.is_set():
                    break
                chunk_seq += 1
                now = _now_us()
                for row_text, last_row in _lookahead(rows):
                    marker = _marker(first_overall, first_in_table, last_chunk and last_row, last_table)
                    first_overall = first_in_table = False
                    key, envelope = snapshot_event(self._context, binding, binding.row(row_text), position, marker, now)
                    self._publisher.publish(table, key, envelope, position=chunk_seq, columns=binding.columns)
                self._publisher.seal(chunk_seq)
                self.progress.events_by_table[table.topic] += len(rows)
                self.progress.snapshot_rows += len(rows)
                after_chunk = SnapshotProgress(
                    completed=[*progress.completed, *([table.name] if last_chunk else [])],
                    current=None if last_chunk else table.name,
                    last_key=None if last_chunk else [str(rows[-1][i]) for i in key_positions],
                    rows=progress.rows + len(rows),
                )
                pending[chunk_seq] = after_chunk
                progress = after_chunk
                self._save_confirmed(state, pending)
                self._report()
            else:
                if table.name not in progress.completed:  # an empty table
                    progress = SnapshotProgress(completed=[*progress.completed, table.name], rows=progress.rows)
                    chunk_seq += 1
                    self._publisher.seal(chunk_seq)
                    pending[chunk_seq] = progress
                continue
            break  # stopped
        self._publisher.flush()
        self._save_confirmed(state, pending)
        log.info(
            "capture.snapshot_done" if not stop.is_set() else "capture.snapshot_paused",
            rows=state.snapshot.rows,
            tables=len(state.snapshot.completed),
        )

    def _snapshot_binding(self, source: SourceDatabase, table: Table) -> TableBinding:
        relation = source.describe(table)
        columns = derive_columns(table, relation)
        binding = RelationMap(self._catalog, [table]).bind(relation)
        assert binding is not None and binding.columns == columns
        return binding

    def _save_confirmed(self, state: CaptureState, pending: dict[int, SnapshotProgress]) -> None:
        """Persist the furthest snapshot progress whose chunk (and every earlier one) Kafka confirmed."""
        self._publisher.poll()
        safe = self._publisher.acknowledged
        confirmed = [seq for seq in pending if safe is not None and seq <= safe]
        if not confirmed:
            return
        state.snapshot = pending[max(confirmed)]
        for seq in confirmed:
            del pending[seq]
        self._state_file.save(state)

    def _drain(self, source: SourceDatabase, old_slot: str, upto: int, stop: threading.Event) -> None:
        """Emit every change the old slot holds that committed before `upto` (the new snapshot's start).

        Keys already snapshotted get the changes they need; keys whose rows the crashed run may have emitted (an
        unconfirmed chunk) get them too, so a row deleted meanwhile cannot linger downstream. Keys not yet read see
        these changes before their `op: r` at `upto`, which supersedes them. Per key, order is kept.
        """
        relations = RelationMap(self._catalog, self._tables)
        self._publisher.reset_tracker()
        drained = 0
        while not stop.is_set():
            batch = source.peek(old_slot, self._config.publication, upto, 5000)
            if not batch:
                break
            begin: Begin | None = None
            last_commit: int | None = None
            for lsn, data in batch:
                message = parse_message(data)
                if isinstance(message, Begin):
                    begin = message
                elif isinstance(message, Relation):
                    relations.bind(message)
                elif isinstance(message, Insert | Update | Delete) and begin is not None:
                    binding = relations.get(message.relation_id)
                    if binding is None:
                        continue
                    position = PostgresPosition(lsn, begin.xid, begin.commit_ts_us, last_commit)
                    for key, envelope in change_events(self._context, binding, message, position, _now_us()):
                        self._publisher.publish(
                            binding.table, key, envelope, position=begin.final_lsn + 1, columns=binding.columns
                        )
                        self.progress.events_by_table[binding.table.topic] += 1
                        drained += 1
                elif isinstance(message, Commit):
                    if begin is not None:
                        self._publisher.seal(begin.final_lsn + 1)
                    last_commit = message.end_lsn
            self._publisher.flush()
            if last_commit is None:
                break
            source.advance(old_slot, last_commit)
        log.info("capture.drained", slot=old_slot, events=drained)

    # -- streaming -----------------------------------------------------------------------------------------

    def _stream(
        self, session: ReplicationSession, source: SourceDatabase, state: CaptureState, stop: threading.Event
    ) -> None:
        self.progress.phase = "streaming"
        self._publisher.reset_tracker()
        relations = RelationMap(self._catalog, self._tables)
        blocked_tables: dict[str, str] = self.progress.blocked
        held: set[int] = set()
        begin: Begin | None = None
        last_commit: int | None = None
        last_data = last_feedback = last_lag = time.monotonic()
        confirmed = 0
        while not stop.is_set():
            item = session.read()
            now = time.monotonic()
            if item is None:
                self._publisher.poll()
                if begin is None and self._publisher.tracker.in_flight == 0 and not held:
                    # Idle and nothing in flight: everything the server sent is handled.
                    confirmed = max(confirmed, session.wal_end, self._publisher.acknowledged or 0)
                    if self._config.stop_when_idle is not None and now - last_data >= self._config.stop_when_idle:
                        break
                if now - last_feedback >= self._config.feedback_interval:
                    confirmed = max(confirmed, self._publisher.acknowledged or 0)
                    if confirmed:
                        session.feedback(confirmed)
                    last_feedback = now
                if now - last_lag >= 5:
                    self.progress.slot_lag_bytes = source.slot_lag_bytes(state.slot)
                    last_lag = now
                self._report()
                session.wait(0.2)
                continue
            payload, data_start = item
            last_data = now
            message = parse_message(payload)
            if isinstance(message, Begin):
                begin = message
                self.progress.last_lsn = message.final_lsn
            elif isinstance(message, Commit):
                if begin is not None:
                    self._publisher.seal(begin.final_lsn + 1)
                last_commit = message.commit_lsn
                begin = None
                self.progress.transactions += 1
            elif isinstance(message, Relation):
                self._rebind(relations, message, blocked_tables)
            elif isinstance(message, Insert | Update | Delete) and begin is not None:
                binding = relations.get(message.relation_id)
                if binding is None:
                    continue
                position = begin.final_lsn + 1
                if binding.table.name in blocked_tables:
                    if position not in held:  # never confirmed: after a fix and restart it is sent again
                        held.add(position)
                        self._publisher.tracker.add(position)
                    continue
                source_position = PostgresPosition(data_start, begin.xid, begin.commit_ts_us, last_commit)
                for key, envelope in change_events(self._context, binding, message, source_position, _now_us()):
                    self._publisher.publish(binding.table, key, envelope, position=position, columns=binding.columns)
                    self.progress.events_by_table[binding.table.topic] += 1
            elif isinstance(message, Truncate):
                log.warning("capture.truncate_skipped", relations=len(message.relation_ids))
            if now - last_feedback >= self._config.feedback_interval:
                self._publisher.poll()
                acknowledged = self._publisher.acknowledged
                if acknowledged and acknowledged > confirmed:
                    confirmed = acknowledged
                    session.feedback(confirmed)
                last_feedback = now
                self._report()
        self._publisher.flush()
        final = self._publisher.acknowledged
        if final and final > confirmed:
            confirmed = final
        if confirmed:
            session.feedback(confirmed, force=True)
        self.progress.acknowledged = confirmed
        self._report(force=True)

    def _rebind(self, relations: RelationMap, message: Relation, blocked: dict[str, str]) -> None:
        """Bind a relation; a schema change registers the new schema first; refusals stop only that table."""
        try:
            binding = relations.bind(message)
            if binding is not None and binding.schema_changed:
                self._publisher.register(binding.table, binding.columns)
                log.info(
                    "capture.schema_changed",
                    table=binding.table.name,
                    columns=",".join(c.name for c in binding.columns),
                )
        except (SchemaChangeRefused, SchemaError) as exc:
            name = message.name
            blocked[name] = str(exc)
            log.error("capture.table_stopped", table=name, reason=str(exc))

    def _report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._on_progress is None or (not force and now - self._last_report < 0.5):
            return
        self._last_report = now
        self.progress.acknowledged = self._publisher.acknowledged
        self._on_progress(self.progress)
