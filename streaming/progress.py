"""Per-table progress of the landing job, folded from Spark's streaming query progress reports (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streaming.landing import metrics_name


@dataclass
class TableProgress:
    """What a user watches: batches, rows landed, rate, tombstones, dead letters and lag per table."""

    table: str
    topic: str
    reader_schema_id: int
    state: str = "starting"  # running | finished | restarting | stopped | failed
    batches: int = 0
    input_records: int = 0
    rows: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    rows_per_second: float = 0.0
    lag: int | None = None
    restarts: int = 0
    schema_restarts: int = 0  # of the restarts, those that picked up a newer reader schema (not failures)
    last_batch_id: int = -1
    last_error: str | None = None
    batch_seconds: float | None = None  # the last batch with records: its trigger's duration
    latency_s: float | None = None  # the last batch with rows: its end minus its newest change's source commit


def as_dict(progress: Any) -> dict[str, Any]:
    """A progress report as a dict (PySpark 3.5 gives dicts, 4.x ``StreamingQueryProgress`` objects)."""
    if isinstance(progress, dict):
        return progress
    raw = progress.json
    return dict(json.loads(raw() if callable(raw) else raw))


def _offsets_total(value: Any) -> int | None:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        return None
    return sum(int(o) for parts in data.values() if isinstance(parts, dict) for o in parts.values())


def lag_of(report: dict[str, Any]) -> int | None:
    """Records behind the log end after this batch: latest offset minus end offset, over all partitions."""
    sources = report.get("sources") or []
    if not sources:
        return None
    latest = _offsets_total(sources[0].get("latestOffset"))
    end = _offsets_total(sources[0].get("endOffset"))
    if latest is None or end is None:
        return None
    return max(0, latest - end)


def latency_of(report: dict[str, Any], newest_source_us: Any) -> float | None:
    """Seconds from the newest landed change's source commit to the end of its batch (None when unknown)."""
    started = report.get("timestamp")
    if newest_source_us is None or not isinstance(started, str):
        return None
    try:
        batch_start = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    duration_ms = float((report.get("durationMs") or {}).get("triggerExecution") or 0)
    return max(batch_start + duration_ms / 1000 - int(newest_source_us) / 1e6, 0.0)


def fold(progress: TableProgress, reports: list[Any]) -> None:
    """Add the batches of ``reports`` not seen yet (by batch id) to ``progress``."""
    for raw in reports:
        report = as_dict(raw)
        batch_id = int(report.get("batchId", -1))
        if batch_id <= progress.last_batch_id:
            continue
        progress.last_batch_id = batch_id
        records = int(report.get("numInputRows") or 0)
        if records:
            progress.batches += 1
            progress.input_records += records
            progress.rows_per_second = float(report.get("processedRowsPerSecond") or 0.0)
            duration_ms = (report.get("durationMs") or {}).get("triggerExecution")
            progress.batch_seconds = None if duration_ms is None else float(duration_ms) / 1000
        metrics = (report.get("observedMetrics") or {}).get(metrics_name(progress.table)) or {}
        if hasattr(metrics, "asDict"):  # PySpark 4 hands observed metrics over as Rows
            metrics = metrics.asDict()
        progress.rows += int(metrics.get("rows") or 0)
        progress.tombstones += int(metrics.get("tombstones") or 0)
        progress.dead_letters += int(metrics.get("dead_letters") or 0)
        latency = latency_of(report, metrics.get("newest_source_us"))
        if latency is not None:
            progress.latency_s = latency
        lag = lag_of(report)
        if lag is not None:
            progress.lag = lag
