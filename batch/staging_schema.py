"""Column layout of the staging zone and of the landing columns it reads (ADR 0011 §2). Pure, no Spark session.

Batch may not import ``streaming``, so the landing read schema is derived here from the catalog the same way
``streaming.landing_schema`` derives it from the catalog's Debezium envelope (a unit test keeps the two equal).
Reading landing files with this explicit schema makes a column missing from older files (added at the source
later) read as NULL instead of depending on which file Spark samples.

Staging data files are grouped per bucket under ``data/run=<run>/bucket=NN/``: the folder names the bucket so
a run can carry the files of the buckets it did not touch over to the next version by path alone. The folder is
not called ``_bucket`` because Spark drops a ``partitionBy`` column from the files it writes, and readers of
the file list (DuckDB views, Spark) must still see ``_bucket`` as a column.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from pyspark.sql import types as T

from common.errors import ConfigError
from schemas.catalog import Column, Table

BUCKETS: Final = 16
BUCKET_FOLDER: Final = "bucket"  # data/run=<run>/bucket=NN/part-*.parquet
DELETED: Final = "_deleted"
BUCKET: Final = "_bucket"
RUN_ID: Final = "_run_id"
STAGED_AT: Final = "_staged_at"
KAFKA_OFFSET: Final = "_kafka_offset"

_BUCKET_PATH: Final = re.compile(rf"(?:^|/){BUCKET_FOLDER}=(\d{{2}})/[^/]+$")
_SIMPLE_TYPES: Final[dict[str, T.DataType]] = {
    "int16": T.ShortType(),
    "int32": T.IntegerType(),
    "int64": T.LongType(),
    "string": T.StringType(),
    "varchar": T.StringType(),
    "text": T.StringType(),
    "uuid": T.StringType(),
    "json": T.StringType(),
    "boolean": T.BooleanType(),
    "float64": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampNTZType(),  # Debezium MicroTimestamp: a wall-clock time without zone
    "timestamptz": T.TimestampType(),  # ZonedTimestamp: an instant
}
# Source position columns per connector, most significant first (types as the landing files hold them).
_POSITIONS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "postgresql": (("_lsn", "BIGINT"),),
    "sqlserver": (("_commit_lsn", "STRING"), ("_change_lsn", "STRING"), ("_event_serial_no", "BIGINT")),
}
_CHANGE_COLUMNS: Final = (("_op", "STRING"), ("_source_ts", "TIMESTAMP"))
_STAGING_TAIL: Final = ((DELETED, "BOOLEAN"), (BUCKET, "INT"), (RUN_ID, "STRING"), (STAGED_AT, "TIMESTAMP"))


def spark_data_type(column: Column) -> T.DataType:
    """The Spark type of a catalog column, as the landing and staging files hold it (Debezium's encodings)."""
    parsed = column.column_type
    if parsed.kind == "decimal":
        assert parsed.precision is not None and parsed.scale is not None
        return T.DecimalType(parsed.precision, parsed.scale)
    return _SIMPLE_TYPES[parsed.kind]


def spark_type(column: Column) -> str:
    """The same type as Spark SQL DDL text (``BIGINT``, ``DECIMAL(12,2)``, ``TIMESTAMP_NTZ``)."""
    return spark_data_type(column).simpleString().upper()


def position_columns(connector: Literal["postgresql", "sqlserver"]) -> tuple[str, ...]:
    """The columns that order a key's changes at the source, most significant first (never arrival order)."""
    return tuple(name for name, _ in _POSITIONS[connector])


def _ddl(fields: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def _catalog_fields(table: Table) -> list[tuple[str, str]]:
    reserved = {name for name, _ in (*_CHANGE_COLUMNS, *_STAGING_TAIL, *_POSITIONS[table.connector])}
    reserved |= {KAFKA_OFFSET, BUCKET_FOLDER}
    clashes = sorted(column.name for column in table.columns if column.name in reserved)
    if clashes:
        raise ConfigError(f"table '{table.name}': column(s) {', '.join(clashes)} clash with staging's own columns")
    return [(column.name, spark_type(column)) for column in table.columns]


def landing_read_ddl(table: Table) -> str:
    """The landing columns staging reads: catalog columns, ``_op``, ``_source_ts``, positions, ``_kafka_offset``."""
    positions = list(_POSITIONS[table.connector])
    return _ddl([*_catalog_fields(table), *_CHANGE_COLUMNS, *positions, (KAFKA_OFFSET, "BIGINT")])


def staging_ddl(table: Table) -> str:
    """A staging table's columns in file order: catalog columns, ``_op``, ``_source_ts``, positions, then
    ``_deleted``, ``_bucket``, ``_run_id``, ``_staged_at`` (ADR 0011 §2)."""
    return _ddl([*_catalog_fields(table), *_CHANGE_COLUMNS, *_POSITIONS[table.connector], *_STAGING_TAIL])


def staging_columns(table: Table) -> tuple[str, ...]:
    """The names of :func:`staging_ddl`, in order."""
    fields = [*_catalog_fields(table), *_CHANGE_COLUMNS, *_POSITIONS[table.connector], *_STAGING_TAIL]
    return tuple(name for name, _ in fields)


def bucket_folder(bucket: int) -> str:
    """``bucket=NN``: the folder a bucket's files are written to inside a run's data folder."""
    if not 0 <= bucket < BUCKETS:
        raise ValueError(f"bucket {bucket} is outside 0..{BUCKETS - 1}")
    return f"{BUCKET_FOLDER}={bucket:02d}"


def bucket_of_path(path: str) -> int | None:
    """The bucket a staging data file holds, from its folder (``…/bucket=03/part-….parquet``); None otherwise."""
    match = _BUCKET_PATH.search(path)
    return int(match[1]) if match else None
