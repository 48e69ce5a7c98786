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
from typing import Literal, TypeVar

from common.errors import ConfigError
from common.logging import get_logger
from common.metrics import NULL_SINK, IntervalMeter, MetricsSink
from producers.capture.postgres.changes import ChangeApplier
from producers.capture.postgres.events import SourceContext, snapshot_event
from producers.capture.postgres.feedback import SlotFeedback
from producers.capture.postgres.pgoutput import (
    format_lsn,
    parse_message,
)
from producers.capture.postgres.relations import RelationMap, TableBinding
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
        metrics: MetricsSink = NULL_SINK,
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
        self._metrics = metrics
        self._meter = IntervalMeter(metrics.interval_s)

    # -- orchestration -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> CaptureProgress:
        admin = connect(self._dsn)
        source = SourceDatabase(admin)
        # source.db is the database actually read, as Debezium writes it (the catalog's name is the default).
        self._context = SourceContext(self._catalog.connector_name, source.database_name())
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
        with_rows = [table.name for table in todo if reader.has_rows(table)]
        last_with_rows = with_rows[-1] if with_rows else None
        self._publisher.reset_tracker()
        pending: dict[int, SnapshotProgress] = {}
        chunk_seq = 0
        for table in todo:
            binding = self._snapshot_binding(source, table)
            names = [column.name for column in binding.columns]
            key_positions = [names.index(name) for name in table.primary_key]
            after = progress.last_key if progress.current == table.name else None
            first_in_table = True
            last_table = table.name == last_with_rows  # Debezium's `last` marks the snapshot's very last row
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
        binding = RelationMap([table]).bind(source.describe(table))
        assert binding is not None  # the map holds exactly this table
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
        self._publisher.reset_tracker()
        before = self.progress.events
        applier = ChangeApplier(self._context, RelationMap(self._tables), self._publisher, self.progress)
        while not stop.is_set():
            batch = source.peek(old_slot, self._config.publication, upto, 5000)
            if not batch:
                break
            for lsn, data in batch:
                applier.apply(parse_message(data), lsn)
            self._publisher.flush()
            if applier.last_commit_end is None:
                break
            source.advance(old_slot, applier.last_commit_end)
        drained = self.progress.events - before
        log.info("capture.drained", slot=old_slot, events=drained)

    # -- streaming -----------------------------------------------------------------------------------------

    def _stream(
        self, session: ReplicationSession, source: SourceDatabase, state: CaptureState, stop: threading.Event
    ) -> None:
        self.progress.phase = "streaming"
        self._publisher.reset_tracker()
        applier = ChangeApplier(self._context, RelationMap(self._tables), self._publisher, self.progress)
        feedback = SlotFeedback(session, self._publisher, self._config.feedback_interval)
        last_data = last_lag = time.monotonic()
        while not stop.is_set():
            item = session.read()
            now = time.monotonic()
            if item is not None:
                last_data = now
                applier.apply_raw(item[0], item[1])
                feedback.maybe_send(now)
                continue
            self._publisher.poll()
            idle = applier.between_transactions and self._publisher.tracker.in_flight == 0
            if idle:
                feedback.caught_up()  # everything the server sent so far is handled
                if self._config.stop_when_idle is not None and now - last_data >= self._config.stop_when_idle:
                    break
            feedback.maybe_send(now)
            if now - last_lag >= 5:
                self.progress.slot_lag_bytes = source.slot_lag_bytes(state.slot)
                last_lag = now
            self._report()
            session.wait(0.2)
        self._publisher.flush()
        self.progress.acknowledged = feedback.finish()
        self._report(force=True)

    def _report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        self._emit_metrics(now, force=force)
        if self._on_progress is None or (not force and now - self._last_report < 0.5):
            return
        self._last_report = now
        self.progress.acknowledged = self._publisher.acknowledged
        self._on_progress(self.progress)

    def _emit_metrics(self, now: float, *, force: bool) -> None:
        """Throughput since the previous emission and the slot's lag (per interval, and once at the end)."""
        elapsed = self._meter.due(now, force=force)
        if elapsed is None:
            return
        events = self._meter.delta("events", self.progress.events)
        rate = events / elapsed if elapsed > 0 else None
        self._metrics.emit("capture", {"EventsPerSecond": rate, "CaptureSlotLagBytes": self.progress.slot_lag_bytes})


def reset_capture(dsn: str, slot_base: str, state_file: StateFile) -> list[str]:
    """Forget this capture: drop its slots (all generations) and its state, so the next run snapshots afresh."""
    conn = connect(dsn)
    try:
        source = SourceDatabase(conn)
        dropped = list(source.slots(f"{slot_base}_g"))
        for name in dropped:
            source.drop_slot(name)
    finally:
        conn.close()
    state_file.remove()
    return dropped
