"""The landing table of a CDC topic: its columns derived from the latest registered envelope schema.

Pure. The row columns come from the envelope's ``Value`` record (so a column added at the source appears as
soon as its schema is registered); CDC metadata and partition columns follow. Each column knows its Arrow and
Spark types, so the decoder's output and the streaming query's declared schema cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import pyarrow as pa

from common.errors import SchemaError

Kind = Literal[
    "short",
    "int",
    "long",
    "float",
    "double",
    "boolean",
    "string",
    "binary",
    "decimal",
    "date",
    "timestamp_ntz",
    "timestamp",
]
# How a Debezium value is turned into the column's value; "plain" means no conversion.
Conversion = Literal["plain", "int16", "date", "micros", "millis", "nanos", "zoned", "decimal", "enum"]

_SPARK: Final[dict[str, str]] = {
    "short": "SMALLINT", "int": "INT", "long": "BIGINT", "float": "FLOAT", "double": "DOUBLE",
    "boolean": "BOOLEAN", "string": "STRING", "binary": "BINARY", "date": "DATE",
    "timestamp_ntz": "TIMESTAMP_NTZ", "timestamp": "TIMESTAMP",
}  # fmt: skip
_ARROW: Final[dict[str, pa.DataType]] = {
    "short": pa.int16(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(), "double": pa.float64(),
    "boolean": pa.bool_(), "string": pa.string(), "binary": pa.binary(), "date": pa.date32(),
    "timestamp_ntz": pa.timestamp("us"), "timestamp": pa.timestamp("us", tz="UTC"),
}  # fmt: skip
# connect.name of Debezium/Connect logical types -> (column kind, conversion)
_CONNECT: Final[dict[str, tuple[Kind, Conversion]]] = {
    "io.debezium.time.Date": ("date", "date"),
    "org.apache.kafka.connect.data.Date": ("date", "date"),
    "io.debezium.time.Timestamp": ("timestamp_ntz", "millis"),
    "org.apache.kafka.connect.data.Timestamp": ("timestamp_ntz", "millis"),
    "io.debezium.time.MicroTimestamp": ("timestamp_ntz", "micros"),
    "io.debezium.time.NanoTimestamp": ("timestamp_ntz", "nanos"),
    "io.debezium.time.ZonedTimestamp": ("timestamp", "zoned"),
    "io.debezium.time.Time": ("int", "plain"),  # milliseconds past midnight (Spark 3.5 has no TIME type)
    "io.debezium.time.MicroTime": ("long", "plain"),  # microseconds past midnight
    "io.debezium.time.NanoTime": ("long", "plain"),  # nanoseconds past midnight
}
_PRIMITIVE: Final[dict[str, Kind]] = {
    "int": "int", "long": "long", "float": "float", "double": "double", "boolean": "boolean",
    "string": "string", "bytes": "binary",
}  # fmt: skip

# Partition folders of the landing zone, from the change's source commit time (UTC).
PARTITION_COLUMNS: Final = ("year", "month", "day", "hour")
RECORD_KIND: Final = "_record_kind"  # decoder output only: "row", "tombstone" or "dead"; never landed


@dataclass(frozen=True)
class LandingColumn:
    """One landing column: name, kind (with decimal precision/scale) and how the Debezium value converts."""

    name: str
    kind: Kind
    conversion: Conversion = "plain"
    precision: int | None = None
    scale: int | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "decimal":
            assert self.precision is not None and self.scale is not None
            return pa.decimal128(self.precision, self.scale)
        return _ARROW[self.kind]

    @property
    def spark_type(self) -> str:
        if self.kind == "decimal":
            return f"DECIMAL({self.precision},{self.scale})"
        return _SPARK[self.kind]


@dataclass(frozen=True)
class LandingSchema:
    """Row columns (from the envelope's Value record), CDC metadata columns and partition columns."""

    connector: Literal["postgresql", "sqlserver"]
    row: tuple[LandingColumn, ...]
    metadata: tuple[LandingColumn, ...]

    @property
    def partitions(self) -> tuple[LandingColumn, ...]:
        return tuple(LandingColumn(name, "int") for name in PARTITION_COLUMNS)

    @property
    def columns(self) -> tuple[LandingColumn, ...]:
        return (*self.row, *self.metadata, *self.partitions)

    @property
    def row_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.row)

    def arrow_schema(self, *, with_kind: bool = False) -> pa.Schema:
        fields = [pa.field(c.name, c.arrow_type) for c in self.columns]
        if with_kind:
            fields.append(pa.field(RECORD_KIND, pa.string()))
        return pa.schema(fields)

    def spark_ddl(self, *, with_kind: bool = False) -> str:
        parts = [f"`{c.name}` {c.spark_type}" for c in self.columns]
        if with_kind:
            parts.append(f"`{RECORD_KIND}` STRING")
        return ", ".join(parts)


def _metadata(connector: str) -> tuple[LandingColumn, ...]:
    position: tuple[LandingColumn, ...]
    if connector == "postgresql":
        position = (LandingColumn("_lsn", "long"), LandingColumn("_tx_id", "string"))
    else:
        position = (
            LandingColumn("_commit_lsn", "string"),
            LandingColumn("_change_lsn", "string"),
            LandingColumn("_event_serial_no", "long"),
            LandingColumn("_tx_id", "string"),
        )
    return (
        LandingColumn("_op", "string"),
        LandingColumn("_source_ts", "timestamp"),
        *position,
        LandingColumn("_snapshot", "boolean"),
        LandingColumn("_schema_id", "int"),
        LandingColumn("_kafka_topic", "string"),
        LandingColumn("_kafka_partition", "int"),
        LandingColumn("_kafka_offset", "long"),
        LandingColumn("_kafka_timestamp", "timestamp"),
        LandingColumn("_ingested_at", "timestamp"),
    )


def _non_null(avro: Any) -> Any:
    if isinstance(avro, list):
        branches = [branch for branch in avro if branch != "null"]
        if len(branches) != 1:
            raise SchemaError(f"union {avro} has more than one non-null branch")
        return branches[0]
    return avro


def column_of(name: str, avro: Any) -> LandingColumn:
    """The landing column of one ``Value`` field (its Avro type as Debezium + the AvroConverter write it)."""
    avro = _non_null(avro)
    if isinstance(avro, str):
        if avro not in _PRIMITIVE:
            raise SchemaError(f"field '{name}': unsupported Avro type '{avro}'")
        return LandingColumn(name, _PRIMITIVE[avro])
    if not isinstance(avro, dict):
        raise SchemaError(f"field '{name}': unsupported Avro type {avro!r}")
    if avro.get("logicalType") == "decimal":
        return LandingColumn(name, "decimal", "decimal", int(avro.get("precision", 38)), int(avro.get("scale", 0)))
    connect_name = avro.get("connect.name")
    if connect_name in _CONNECT:
        kind, conversion = _CONNECT[connect_name]
        return LandingColumn(name, kind, conversion)
    if avro.get("type") == "enum":
        return LandingColumn(name, "string", "enum")
    if avro.get("connect.type") in ("int16", "int8"):
        return LandingColumn(name, "short", "int16")
    primitive = avro.get("type")
    if isinstance(primitive, str) and primitive in _PRIMITIVE:
        return LandingColumn(name, _PRIMITIVE[primitive])
    raise SchemaError(f"field '{name}': unsupported Avro type {avro!r}")


def landing_schema(envelope: dict[str, Any]) -> LandingSchema:
    """The landing columns of a Debezium ``<topic>.Envelope`` schema (the registry's latest version)."""
    fields = {f["name"]: f for f in envelope.get("fields", [])}
    if not {"before", "after", "source", "op"} <= set(fields):
        raise SchemaError(f"schema '{envelope.get('name')}' is not a Debezium envelope (needs before/after/source/op)")
    value = _non_null(fields["before"]["type"])
    if not isinstance(value, dict) or value.get("type") != "record":
        raise SchemaError("the envelope's 'before' field is not a record")
    source = fields["source"]["type"]
    source_name = str(source.get("connect.name") or source.get("name", "")) if isinstance(source, dict) else ""
    connector: Literal["postgresql", "sqlserver"] = "sqlserver" if ".sqlserver." in source_name else "postgresql"
    row = tuple(column_of(f["name"], f["type"]) for f in value["fields"])
    clashes = sorted({c.name for c in row} & ({m.name for m in _metadata(connector)} | set(PARTITION_COLUMNS)))
    if clashes:
        raise SchemaError(f"source column(s) {', '.join(clashes)} clash with landing metadata/partition columns")
    return LandingSchema(connector, row, _metadata(connector))
