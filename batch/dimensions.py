"""The curated dimensions as pure DataFrame transforms (ADR 0011 decision 4), with the warehouse's semantics.

Column names, order and meaning are those of ``redshift/sql/V003`` and ``V005`` (ADR 0010 §5-6):

* ``dim_customer`` / ``dim_product`` (SCD2) from a table's whole landing change history;
* ``dim_payment_method`` / ``dim_shipment_status`` (SCD1 members: every value the changes ever carried);
* ``dim_date`` (generated for a range of days).

Surrogate keys are not identities as in the warehouse but a 63-bit hash (xxhash64 masked to non-negative) of what
identifies the row: (natural key, ``version_lsn``) for SCD2 versions, the member name for SCD1 members. A rebuild
therefore gives every row the key it had before. Two different rows hashing to one key is possible in principle
(about n²/2⁶⁴ for n rows: 5·10⁻⁸ for a million versions); the curated job checks uniqueness before it commits and
fails instead of publishing a collision (see ``batch.curated_job``).

Timestamps are naive UTC (Spark ``TIMESTAMP_NTZ``), like the warehouse's ``TIMESTAMP``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import reduce
from typing import Final

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch.staging_schema import spark_data_type
from common.errors import ConfigError
from schemas.catalog import Table

OPEN_END: Final = "9999-12-31 00:00:00"  # valid_to of a current version, as in the warehouse
KEY_MASK: Final = 0x7FFF_FFFF_FFFF_FFFF  # surrogate keys are non-negative BIGINTs
# Columns every SCD2 dimension has besides the source's; a source column of the same name becomes source_<name>
# (customer.updated_at -> dim_customer.source_updated_at), as redshift/generate.py names them.
DIMENSION_METADATA: Final = ("valid_from", "valid_to", "is_current", "is_deleted", "version_lsn", "updated_at")
# Landing metadata the SCD2 build reads: operation, commit time, source position, Kafka coordinates (tie-break).
CHANGE_COLUMNS: Final = ("_op", "_source_ts", "_lsn", "_kafka_partition", "_kafka_offset")

# V005's CASE expressions: the attribute of each member value ("other" for anything else).
PAYMENT_TYPES: Final[Mapping[str, str]] = {
    "card": "card",
    "paypal": "digital_wallet",
    "gift_card": "stored_value",
    "bank_transfer": "bank",
}
STATUS_CATEGORIES: Final[Mapping[str, str]] = {
    "pending": "open",
    "in_transit": "in_progress",
    "delivered": "complete",
    "returned": "exception",
    "lost": "exception",
}
MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
DAY_NAMES: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# --------------------------------------------------------------------------------------------------------------
# Shared helpers


def catalog_schema(table: Table, *extra: T.StructField) -> T.StructType:
    """The table's catalog columns as a Spark schema, followed by ``extra`` fields."""
    return T.StructType([T.StructField(c.name, spark_data_type(c), True) for c in table.columns] + list(extra))


def surrogate_key(*columns: str | SparkColumn) -> SparkColumn:
    """A stable non-negative 63-bit key: xxhash64 (Spark's, seed 42) of the columns, sign bit cleared."""
    return F.xxhash64(*columns).bitwiseAND(F.lit(KEY_MASK))


def timestamp_literal(value: datetime | str) -> SparkColumn:
    """A naive-UTC ``TIMESTAMP_NTZ`` literal (an aware datetime is converted to UTC first)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        value = value.isoformat(sep=" ")
    return F.lit(value).cast(T.TimestampNTZType())


def naive_utc(frame: DataFrame, name: str) -> SparkColumn:
    """Column ``name`` as naive UTC: an instant (``TIMESTAMP``) is shown in UTC whatever the session's zone."""
    column = F.col(name)
    if isinstance(frame.schema[name].dataType, T.TimestampNTZType):
        return column
    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
    return F.convert_timezone(F.lit(zone), F.lit("UTC"), column.cast(T.TimestampNTZType()))


def dimension_column_name(column: str) -> str:
    """A source attribute's name in its dimension (see :data:`DIMENSION_METADATA`)."""
    return f"source_{column}" if column in DIMENSION_METADATA else column


def surrogate_key_name(dimension: str) -> str:
    """``dim_customer`` -> ``customer_key``."""
    return f"{dimension.removeprefix('dim_')}_key"


# --------------------------------------------------------------------------------------------------------------
# SCD2 dimensions


def change_schema(table: Table) -> T.StructType:
    """The columns :func:`conform_changes` returns (an empty history has this schema)."""
    return catalog_schema(
        table,
        T.StructField("_op", T.StringType()),
        T.StructField("_source_ts", T.TimestampNTZType()),
        T.StructField("_lsn", T.LongType()),
        T.StructField("_kafka_partition", T.IntegerType()),
        T.StructField("_kafka_offset", T.LongType()),
    )


def conform_changes(landing: DataFrame, table: Table) -> DataFrame:
    """Landing rows reduced to the catalog columns (typed; a column no file has yet is NULL) plus
    :data:`CHANGE_COLUMNS`, ``_source_ts`` as naive UTC."""
    if table.connector != "postgresql":
        raise ConfigError(
            f"table '{table.name}': curated SCD2 dimensions order changes by PostgreSQL's source.lsn (as the "
            f"warehouse does); the '{table.connector}' connector is not supported yet"
        )
    present = set(landing.columns)
    selected = []
    for field in change_schema(table).fields:
        if field.name not in present:
            selected.append(F.lit(None).cast(field.dataType).alias(field.name))
        elif field.name == "_source_ts":
            selected.append(naive_utc(landing, field.name).alias(field.name))
        else:
            selected.append(F.col(field.name).cast(field.dataType).alias(field.name))
    return landing.select(*selected)


def scd2_dimension(changes: DataFrame, table: Table, *, loaded_at: datetime) -> DataFrame:
    """The SCD2 dimension of ``table`` from its change history (:func:`conform_changes` output), exactly as
    ``staging.load_dim_<x>`` (V003) builds it after seeing the same changes:

    1. a change without key, position or commit time is ignored; of changes with the same key and ``_lsn`` (a
       replay, a file landed twice) the first by Kafka coordinates counts, the others are ignored;
    2. per key in ``_lsn`` order, ``effective_ts`` = the running maximum of ``_source_ts`` (history never runs
       backwards); of several changes at one instant only the last counts;
    3. a version starts at the first instant, where a type2 attribute differs from the previous instant (NULLs
       compare equal), and where the deletion state flips (a delete, a re-insert after it); ``valid_from`` = its
       ``effective_ts``, ``valid_to`` = the next version's (open: 9999-12-31), ``version_lsn`` = its ``_lsn``;
    4. type1 attributes (and ``created_at``/``source_updated_at``) are the key's latest change's, on every version.

    Arrival order plays no part: the result depends on the set of changes only.
    """
    if table.dimension is None:
        raise ConfigError(f"table '{table.name}' has no dimension block")
    keys = list(table.primary_key)
    type2 = [column.name for column in table.scd_columns(2)]
    surrogate = surrogate_key_name(table.dimension.name)

    valid = changes.where(
        reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keys])
        & F.col("_lsn").isNotNull()
        & F.col("_source_ts").isNotNull()
    )
    occurrence = Window.partitionBy(*keys, "_lsn").orderBy("_kafka_partition", "_kafka_offset")
    log = (
        valid.withColumn("_occurrence", F.row_number().over(occurrence))
        .where(F.col("_occurrence") == 1)
        .drop("_occurrence")
    )
    in_order = Window.partitionBy(*keys).orderBy("_lsn")
    log = log.withColumn(
        "_effective_ts",
        F.max("_source_ts").over(in_order.rowsBetween(Window.unboundedPreceding, Window.currentRow)),
    ).withColumn("_is_deleted", F.coalesce(F.col("_op") == "d", F.lit(False)))

    last_at_instant = Window.partitionBy(*keys, "_effective_ts").orderBy(F.col("_lsn").desc())
    timeline = (
        log.select(*keys, *type2, "_is_deleted", "_lsn", "_effective_ts")
        .withColumn("_last", F.row_number().over(last_at_instant))
        .where(F.col("_last") == 1)
        .drop("_last")
    )
    differs = [~F.col(name).eqNullSafe(F.lag(name).over(in_order)) for name in ["_is_deleted", *type2]]
    starts = reduce(lambda a, b: a | b, [F.row_number().over(in_order) == 1, *differs])
    versions = (
        timeline.withColumn("_starts", starts)
        .where(F.col("_starts"))
        .select(
            *keys,
            *type2,
            F.col("_is_deleted").alias("is_deleted"),
            F.col("_lsn").alias("version_lsn"),
            F.col("_effective_ts").alias("valid_from"),
            F.coalesce(F.lead("_effective_ts").over(in_order), timestamp_literal(OPEN_END)).alias("valid_to"),
        )
    )

    type1 = [column.name for column in table.scd_columns(1)]
    recency = Window.partitionBy(*keys).orderBy(F.col("_lsn").desc())
    latest = (
        log.select(*keys, *type1, "_lsn")
        .withColumn("_recency", F.row_number().over(recency))
        .where(F.col("_recency") == 1)
        .drop("_recency", "_lsn")
    )

    attributes = [F.col(c.name).alias(dimension_column_name(c.name)) for c in table.non_key_columns]
    return versions.join(latest, on=keys, how="inner").select(
        surrogate_key(*keys, "version_lsn").alias(surrogate),
        *keys,
        *attributes,
        "valid_from",
        "valid_to",
        (F.col("valid_to") == timestamp_literal(OPEN_END)).alias("is_current"),
        "is_deleted",
        "version_lsn",
        timestamp_literal(loaded_at).alias("updated_at"),
    )


# --------------------------------------------------------------------------------------------------------------
# SCD1 member dimensions


def member_dimension(
    values: DataFrame,
    *,
    source: str,
    dimension: str,
    name_column: str,
    attribute_column: str,
    attributes: Mapping[str, str],
    loaded_at: datetime,
) -> DataFrame:
    """One row per distinct non-NULL value of ``values[source]`` (V005's members): its key (hash of the name),
    the name, the attribute ``attributes`` maps it to (``other`` when unmapped) and the load time."""
    mapped = F.coalesce(
        F.create_map(*[F.lit(item) for pair in sorted(attributes.items()) for item in pair])[F.col(name_column)],
        F.lit("other"),
    )
    return (
        values.select(F.col(source).cast(T.StringType()).alias(name_column))
        .where(F.col(name_column).isNotNull())
        .distinct()
        .select(
            surrogate_key(name_column).alias(surrogate_key_name(dimension)),
            name_column,
            mapped.alias(attribute_column),
            timestamp_literal(loaded_at).alias("updated_at"),
        )
    )


def payment_method_dimension(payment_changes: DataFrame, *, loaded_at: datetime) -> DataFrame:
    """``dim_payment_method``: every ``payment.method`` the changes carried (delete images included)."""
    return member_dimension(
        payment_changes,
        source="method",
        dimension="dim_payment_method",
        name_column="method_name",
        attribute_column="payment_type",
        attributes=PAYMENT_TYPES,
        loaded_at=loaded_at,
    )


def shipment_status_dimension(shipment_changes: DataFrame, *, loaded_at: datetime) -> DataFrame:
    """``dim_shipment_status``: every ``shipment.status`` the changes carried (delete images included)."""
    return member_dimension(
        shipment_changes,
        source="status",
        dimension="dim_shipment_status",
        name_column="status_name",
        attribute_column="status_category",
        attributes=STATUS_CATEGORIES,
        loaded_at=loaded_at,
    )


# --------------------------------------------------------------------------------------------------------------
# dim_date


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of days of ``dim_date`` (the warehouse's migration generates 2015-01-01 … 2035-12-31)."""

    first: date = date(2015, 1, 1)
    last: date = date(2035, 12, 31)

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ConfigError(f"dim_date range ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days >= 100_000:
            raise ConfigError(f"dim_date range {self.first} to {self.last} is longer than 100000 days")

    def covering(self, days: Sequence[date | None]) -> DateRange:
        """This range widened to include ``days`` (NULLs ignored), as the fact load extends dim_date."""
        known = [day for day in days if day is not None]
        return DateRange(min([self.first, *known]), max([self.last, *known]))


def date_dimension(spark: SparkSession, days: DateRange) -> DataFrame:
    """``dim_date`` for every day of ``days``: V005's columns (day_of_week 0 = Sunday, ISO week of year).
    Names come from fixed English tables, not the JVM's locale (PostgreSQL's ``TO_CHAR`` is English too)."""
    count = (days.last - days.first).days + 1
    day = F.col("full_date")
    month_names = F.array(*[F.lit(name) for name in MONTH_NAMES])
    day_names = F.array(*[F.lit(name) for name in DAY_NAMES])
    return (
        spark.range(0, count, numPartitions=1)
        .select(F.date_add(F.lit(days.first), F.col("id").cast("int")).alias("full_date"))
        .select(
            (F.year(day) * 10000 + F.month(day) * 100 + F.dayofmonth(day)).cast("int").alias("date_key"),
            day,
            F.year(day).cast("smallint").alias("calendar_year"),
            F.quarter(day).cast("smallint").alias("calendar_quarter"),
            F.month(day).cast("smallint").alias("calendar_month"),
            F.element_at(month_names, F.month(day)).alias("month_name"),
            F.dayofmonth(day).cast("smallint").alias("day_of_month"),
            (F.dayofweek(day) - 1).cast("smallint").alias("day_of_week"),
            F.element_at(day_names, F.dayofweek(day)).alias("day_name"),
            F.weekofyear(day).cast("smallint").alias("week_of_year"),
            F.dayofweek(day).isin(1, 7).alias("is_weekend"),
        )
    )
