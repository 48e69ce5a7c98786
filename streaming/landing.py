"""One table's landing query: Kafka records -> decoded rows -> Parquet under ``landing/<table>/``.

The only place a streaming query is started. Spark's file sink with a checkpoint per table gives exactly-once
output: files of a batch are listed in ``landing/<table>/_spark_metadata`` only when the batch commits, and a
batch interrupted by a crash is replayed from the offsets in ``checkpoints/landing/<table>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa
from pyspark.sql import functions as F

from common.lake import LakeLocation
from common.logging import get_logger
from streaming.dead_letters import DeadLetterSink
from streaming.decode import DecodePlan, decode_partition
from streaming.landing_schema import PARTITION_COLUMNS, RECORD_KIND

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming.query import StreamingQuery

AVAILABLE_NOW: Final = "available-now"
_TEMP_ENTRY: Final = re.compile(r"\.\d+\.[0-9a-f-]+\.tmp")  # a metadata log entry being written

log = get_logger(__name__)


@dataclass(frozen=True)
class SinkConfig:
    """How landing files are written: trigger (seconds, or AVAILABLE_NOW) and file size cap."""

    trigger: float | str = 5.0
    max_records_per_file: int = 250_000
    checkpoint_root: str | None = None  # default: <lake>/checkpoints


def metrics_name(table: str) -> str:
    return f"landing_{table}"


def decode_to_landing(raw: DataFrame, plan: DecodePlan, lake: LakeLocation) -> DataFrame:
    """The landing rows of a Kafka-columns DataFrame (native or Python source alike); dead letters to ``dlq/``.

    Tombstone and dead-letter markers are counted with ``observe`` (visible in each batch's progress) and
    filtered out before the sink.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sink = DeadLetterSink(lake, plan.table)
        yield from decode_partition(plan, batches, sink.write)

    decoded = raw.mapInArrow(run, plan.landing.spark_ddl(with_kind=True))
    kind = F.col(RECORD_KIND)
    observed = decoded.observe(
        metrics_name(plan.table),
        F.sum(F.when(kind == "row", 1).otherwise(0)).alias("rows"),
        F.sum(F.when(kind == "tombstone", 1).otherwise(0)).alias("tombstones"),
        F.sum(F.when(kind == "dead", 1).otherwise(0)).alias("dead_letters"),
        F.max(F.when(kind == "row", F.expr("unix_micros(_source_ts)"))).alias("newest_source_us"),  # freshness
    )
    return observed.where(kind == "row").drop(RECORD_KIND)


def checkpoint_path(lake: LakeLocation, config: SinkConfig, table: str) -> str:
    root = config.checkpoint_root or lake.path("checkpoints")
    return f"{root.rstrip('/')}/landing/{table}"


def clear_unwritten_first_offsets(checkpoint: str) -> list[str]:
    """Delete the temporary files a killed first batch left in the offsets log of a local checkpoint.

    Spark writes each offsets entry as ``.<batch>.<uuid>.tmp`` and renames it; a SIGKILL in between leaves the temp
    file. Spark ignores it on restart, except before the first committed entry: Spark 4 then requires the offsets
    folder to be empty (STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY), so the query could never start again. With no
    entry written, nothing was read or landed, so removing the leftovers loses nothing. S3 writes are atomic (no
    temp files there), and Glue's Spark 3.5 has no such check. Returns the removed names.
    """
    if "://" in checkpoint and not checkpoint.startswith("file:"):
        return []
    offsets = Path(checkpoint.removeprefix("file://").removeprefix("file:")) / "offsets"
    if not offsets.is_dir():
        return []
    entries = list(offsets.iterdir())
    if any(entry.name.isdigit() for entry in entries):
        return []
    leftovers = [entry for entry in entries if entry.is_file() and _TEMP_ENTRY.fullmatch(entry.name)]
    for entry in leftovers:
        entry.unlink()
    return sorted(entry.name for entry in leftovers)


def start_landing_query(landing: DataFrame, table: str, lake: LakeLocation, config: SinkConfig) -> StreamingQuery:
    """Start the file sink of one table, partitioned year/month/day/hour of the change's source time."""
    removed = clear_unwritten_first_offsets(checkpoint_path(lake, config, table))
    if removed:
        log.warning("landing.checkpoint.leftovers_removed", table=table, files=",".join(removed))
    writer = (
        landing.writeStream.format("parquet")
        .queryName(metrics_name(table))
        .outputMode("append")
        .option("path", lake.path("landing", table))
        .option("checkpointLocation", checkpoint_path(lake, config, table))
        .option("maxRecordsPerFile", str(config.max_records_per_file))
        .partitionBy(*PARTITION_COLUMNS)
    )
    if config.trigger == AVAILABLE_NOW:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{float(config.trigger)} seconds")
    return writer.start()
