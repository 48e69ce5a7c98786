"""Pure DataFrame transforms of the staging job: landing changes → one current row per primary key (ADR 0011 §2).

A key's state is decided by source position only — ``_lsn`` (PostgreSQL), ``(_commit_lsn, _change_lsn,
_event_serial_no)`` (SQL Server) — with ``_kafka_offset`` as the last tie-breaker inside one run's input. Arrival
order (file, hour folder, ingestion time) never matters, so a late change read after a newer one was staged
loses, and reading the same change twice (a replayed or compacted file) changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from batch.staging_schema import (
    BUCKET,
    BUCKETS,
    DELETED,
    KAFKA_OFFSET,
    RUN_ID,
    STAGED_AT,
    position_columns,
    staging_columns,
)
from schemas.catalog import Table

_RANK: Final = "__rank"
_SIDE: Final = "__side"
_CURRENT_POSITION: Final = "__current_position"


def source_position(table: Table) -> SparkColumn:
    """The change's source position as one orderable struct (compared field by field, most significant first)."""
    return F.struct(*[F.col(name) for name in position_columns(table.connector)])


def _key(table: Table) -> list[str]:
    return list(table.primary_key)


def latest_changes(changes: DataFrame, table: Table) -> DataFrame:
    """The winning change per primary key: highest source position, then highest ``_kafka_offset``."""
    order = [F.col(name).desc_nulls_last() for name in (*position_columns(table.connector), KAFKA_OFFSET)]
    window = Window.partitionBy(*_key(table)).orderBy(*order)
    return changes.withColumn(_RANK, F.row_number().over(window)).where(F.col(_RANK) == 1).drop(_RANK)


def bucket_of(table: Table) -> SparkColumn:
    """The key's bucket: ``pmod(xxhash64(key columns), 16)``; stable as long as the key columns' types are."""
    return F.pmod(F.xxhash64(*_key(table)), F.lit(BUCKETS)).cast("int")


def to_staging_rows(changes: DataFrame, table: Table, run_id: str, staged_at: datetime) -> DataFrame:
    """Changes in staging's column layout; a delete keeps its before image and becomes ``_deleted = true``."""
    extra = {
        DELETED: F.coalesce(F.col("_op") == F.lit("d"), F.lit(False)),
        BUCKET: bucket_of(table),
        RUN_ID: F.lit(run_id),
        STAGED_AT: F.lit(staged_at).cast("timestamp"),
    }
    return changes.select(*[extra.get(name, F.col(name)).alias(name) for name in staging_columns(table)])


def newer_than_current(candidates: DataFrame, current: DataFrame, table: Table) -> DataFrame:
    """The candidates whose source position is above the staged row of their key (or whose key is new).

    Run before data-quality checks so a late or re-read change, which would lose the merge anyway, is neither
    checked nor quarantined nor counted as touching its bucket.
    """
    key = _key(table)
    staged = current.select(*key, source_position(table).alias(_CURRENT_POSITION))
    joined = candidates.join(staged, on=key, how="left")
    newer = F.col(_CURRENT_POSITION).isNull() | (source_position(table) > F.col(_CURRENT_POSITION))
    return joined.where(newer).select(*candidates.columns)


def merge_into_current(current: DataFrame, new_rows: DataFrame, table: Table) -> DataFrame:
    """The current rows with the new ones merged in: per key the higher source position wins; on a tie the
    row already staged stays (a change read twice keeps its first ``_run_id``/``_staged_at``)."""
    columns = list(staging_columns(table))
    both = current.select(*columns, F.lit(0).alias(_SIDE)).unionByName(new_rows.select(*columns, F.lit(1).alias(_SIDE)))
    order = [F.col(name).desc_nulls_last() for name in position_columns(table.connector)]
    window = Window.partitionBy(*_key(table)).orderBy(*order, F.col(_SIDE).asc())
    ranked = both.withColumn(_RANK, F.row_number().over(window))
    return ranked.where(F.col(_RANK) == 1).select(*columns)
