"""The landing job: one streaming query per table, supervised until stopped (or, AvailableNow, done).

Queries are restarted, table by table, when Spark ends one with an error: at once when a record was written
with a newer schema than the query's reader (the restart picks up the new latest schema, the failed batch is
replayed from the checkpoint), after a pause for other errors, up to ``max_restarts`` in a row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from common.errors import CdcError
from common.lake import LakeLocation
from common.logging import get_logger
from common.metrics import NULL_SINK, IntervalMeter, MetricsSink
from schemas.catalog import Table
from streaming.decode import DecodePlan
from streaming.landing import SinkConfig, decode_to_landing, start_landing_query
from streaming.progress import TableProgress, fold
from streaming.source import KafkaSourceConfig, read_kafka_stream

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = get_logger(__name__)
POLL_S: Final = 0.5
OUTDATED_READER: Final = "ReaderSchemaOutdated"


class StreamingJobFailed(CdcError):
    """A table's query failed more often in a row than the job allows."""


@dataclass
class _TableStream:
    table: Table
    plan: DecodePlan
    progress: TableProgress
    query: StreamingQuery | None = None
    failures_in_row: int = 0
    batches_at_last_failure: int = 0
    emitted_batch: int = -1
    meter: IntervalMeter = field(default_factory=lambda: IntervalMeter(0.0))


@dataclass
class LandingJob:
    """Runs the landing queries of ``tables`` on ``spark``; ``plan_for`` reads each table's latest schema."""

    spark: SparkSession
    source: KafkaSourceConfig
    lake: LakeLocation
    sink: SinkConfig
    tables: list[Table]
    plan_for: Callable[[Table], DecodePlan]
    on_progress: Callable[[list[TableProgress]], None] | None = None
    max_restarts: int = 3
    restart_pause_s: float = 5.0
    metrics: MetricsSink = NULL_SINK
    _streams: list[_TableStream] = field(default_factory=list)

    @property
    def progress(self) -> list[TableProgress]:
        """The progress of every table so far (also while ``run`` is going on in another thread)."""
        return [stream.progress for stream in self._streams]

    def _start(self, stream: _TableStream) -> None:
        raw = read_kafka_stream(self.spark, self.source, [stream.table.topic])
        landing = decode_to_landing(raw, stream.plan, self.lake)
        stream.query = start_landing_query(landing, stream.table.name, self.lake, self.sink)
        stream.progress.state = "running"
        stream.progress.reader_schema_id = stream.plan.reader_id
        log.info("query_started", table=stream.table.name, reader_schema_id=stream.plan.reader_id)

    def run(self, stop: threading.Event) -> list[TableProgress]:
        """Start every table's query and supervise them; returns the final progress of each table."""
        for table in self.tables:
            plan = self.plan_for(table)
            stream = _TableStream(table, plan, TableProgress(table.name, table.topic, plan.reader_id))
            self._streams.append(stream)
        try:
            for stream in self._streams:
                self._start(stream)
            while not stop.is_set():
                if self._supervise():
                    break
                self._report()
                stop.wait(POLL_S)
        finally:
            self._stop_all()
            self._report()
        return self.progress

    def _supervise(self) -> bool:
        """One round over the queries; True when every query has finished (AvailableNow runs only)."""
        finished = True
        for stream in self._streams:
            query = stream.query
            if query is None:
                finished = False
                continue
            fold(stream.progress, list(query.recentProgress))
            self._emit_metrics(stream)
            if query.isActive:
                finished = False
                continue
            if stream.progress.state in ("finished", "failed"):
                continue
            error = query.exception()
            if error is None:
                stream.progress.state = "finished"
                continue
            finished = False
            self._restart_after(stream, error)
        return finished

    def _restart_after(self, stream: _TableStream, error: Any) -> None:
        message = _first_line(str(error))
        progress = stream.progress
        progress.last_error = message
        if OUTDATED_READER not in str(error):
            self.metrics.emit("stream", {"StepFailed": 1}, {"Table": stream.table.name})
        if progress.batches > stream.batches_at_last_failure:
            stream.failures_in_row = 0
        stream.failures_in_row += 1
        stream.batches_at_last_failure = progress.batches
        if stream.failures_in_row > self.max_restarts:
            progress.state = "failed"
            raise StreamingJobFailed(
                f"table {stream.table.name}: query failed {stream.failures_in_row} times: {message}"
            )
        progress.state = "restarting"
        progress.restarts += 1
        if OUTDATED_READER in str(error):
            progress.schema_restarts += 1
            log.info("reader_schema_outdated", table=stream.table.name, reader_schema_id=stream.plan.reader_id)
        else:
            log.warning("query_failed", table=stream.table.name, error=message, restart=progress.restarts)
            time.sleep(self.restart_pause_s)
        stream.plan = self.plan_for(stream.table)  # the latest reader schema, which may have moved on
        self._start(stream)

    def _stop_all(self) -> None:
        for stream in self._streams:
            query = stream.query
            if query is not None and query.isActive:
                query.stop()
                stream.progress.state = "stopped"
            if query is not None:
                fold(stream.progress, list(query.recentProgress))
                self._emit_metrics(stream)

    def _emit_metrics(self, stream: _TableStream) -> None:
        """Once per new batch (or group of batches seen in one poll): rows, dead letters, rate, lag, duration."""
        progress = stream.progress
        if progress.last_batch_id <= stream.emitted_batch:
            return
        stream.emitted_batch = progress.last_batch_id
        values = {
            "RowsLanded": stream.meter.delta("rows", progress.rows),
            "DeadLetterRecords": stream.meter.delta("dead_letters", progress.dead_letters),
            "EventsPerSecond": progress.rows_per_second,
            "ConsumerLag": progress.lag,
            "BatchDurationSeconds": progress.batch_seconds,
            "EndToEndLatencySeconds": progress.latency_s,
        }
        self.metrics.emit("stream", values, {"Table": stream.table.name})

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


def _first_line(message: str) -> str:
    """The useful line of a Spark/Python error (the deepest Python exception if there is one)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(marker in line for marker in ("Error:", "Exception:", "Outdated:")) and not line.startswith("at "):
            return line[:500]
    return (lines[0] if lines else message)[:500]
