"""Column types of the table catalog and their PostgreSQL DDL and Debezium Avro encodings.

The Avro encodings are exactly what Debezium's PostgreSQL connector (``decimal.handling.mode=precise``,
``time.precision.mode=adaptive``, the defaults) produces after Confluent's AvroConverter turns the Connect
schema into Avro: Connect metadata travels as ``connect.*`` properties, and only the Connect built-in
``Decimal`` gets an Avro ``logicalType``; ``io.debezium.time.*`` types stay plain ``int``/``long``/``string``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

# An Avro schema as JSON: a primitive name ("long") or an object ({"type": "long", ...}) or a union (list).
AvroType = str | dict[str, Any] | list[Any]

MAX_DECIMAL_PRECISION: Final = 38  # Redshift's DECIMAL limit; the warehouse must hold every source value
MAX_VARCHAR_LENGTH: Final = 65535  # Redshift's VARCHAR limit, for the same reason

# Type names without parameters, and their PostgreSQL DDL type.
_SIMPLE_POSTGRES: Final[dict[str, str]] = {
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "string": "varchar",
    "text": "text",
    "boolean": "boolean",
    "float64": "double precision",
    "date": "date",
    "timestamp": "timestamp(6)",
    "timestamptz": "timestamptz(6)",
    "uuid": "uuid",
    "json": "jsonb",
}
_PARAMETRISED: Final = ("varchar", "decimal")
TYPE_NAMES: Final[tuple[str, ...]] = (*_SIMPLE_POSTGRES, "varchar(n)", "decimal(p,s)")

# Debezium logical types: (Avro primitive, connect.name); all carry connect.version 1.
_DEBEZIUM_LOGICAL: Final[dict[str, tuple[str, str]]] = {
    "date": ("int", "io.debezium.time.Date"),
    "timestamp": ("long", "io.debezium.time.MicroTimestamp"),
    "timestamptz": ("string", "io.debezium.time.ZonedTimestamp"),
    "uuid": ("string", "io.debezium.data.Uuid"),
    "json": ("string", "io.debezium.data.Json"),
}
_PLAIN_AVRO: Final[dict[str, str]] = {
    "int32": "int",
    "int64": "long",
    "string": "string",
    "varchar": "string",
    "text": "string",
    "boolean": "boolean",
    "float64": "double",
}

_TYPE_RE: Final = re.compile(r"^(?P<kind>[a-z0-9]+)(?:\((?P<args>[^()]*)\))?$")


@dataclass(frozen=True)
class ColumnType:
    """A parsed catalog type: its kind plus the length (varchar) or precision and scale (decimal)."""

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        """The canonical spelling, as written in the catalog (e.g. ``decimal(12,2)``)."""
        if self.kind == "varchar":
            return f"varchar({self.length})"
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.kind


def _int_args(text: str, args: str, count: int) -> list[int]:
    """The comma-separated integer arguments of a type, exactly ``count`` of them, or ValueError."""
    parts = [part.strip() for part in args.split(",")]
    if len(parts) != count or not all(part.isdigit() for part in parts):
        raise ValueError(f"type '{text}' needs {count} integer argument(s)")
    return [int(part) for part in parts]


@lru_cache(maxsize=256)
def parse_type(text: str) -> ColumnType:
    """Parse a catalog type name such as ``int64`` or ``decimal(12, 2)``; ValueError says what is wrong."""
    match = _TYPE_RE.match(text.replace(" ", "").lower())
    if match is None or match["kind"] not in (*_SIMPLE_POSTGRES, *_PARAMETRISED):
        raise ValueError(f"unknown type '{text}' (known: {', '.join(TYPE_NAMES)})")
    kind, args = match["kind"], match["args"]
    if kind in _SIMPLE_POSTGRES:
        if args is not None:
            raise ValueError(f"type '{kind}' takes no arguments, got '{text}'")
        return ColumnType(kind)
    if args is None:
        example = "varchar(n)" if kind == "varchar" else "decimal(p,s)"
        raise ValueError(f"type '{kind}' needs arguments: {example}")
    if kind == "varchar":
        (length,) = _int_args(text, args, 1)
        if not 1 <= length <= MAX_VARCHAR_LENGTH:
            raise ValueError(f"varchar length must be 1..{MAX_VARCHAR_LENGTH}, got {length}")
        return ColumnType(kind, length=length)
    precision, scale = _int_args(text, args, 2)
    if not 1 <= precision <= MAX_DECIMAL_PRECISION:
        raise ValueError(f"decimal precision must be 1..{MAX_DECIMAL_PRECISION}, got {precision}")
    if scale > precision:
        raise ValueError(f"decimal scale must be 0..precision ({precision}), got {scale}")
    return ColumnType(kind, precision=precision, scale=scale)


def postgres_type(column_type: ColumnType) -> str:
    """The PostgreSQL DDL type of a catalog type (the local source database's column type)."""
    if column_type.kind == "varchar":
        return f"varchar({column_type.length})"
    if column_type.kind == "decimal":
        return f"numeric({column_type.precision},{column_type.scale})"
    return _SIMPLE_POSTGRES[column_type.kind]


def decimal_schema(precision: int, scale: int) -> dict[str, Any]:
    """Connect ``Decimal`` as the AvroConverter writes it: bytes + decimal logical type + connect metadata."""
    return {
        "type": "bytes",
        "scale": scale,
        "precision": precision,
        "connect.version": 1,
        "connect.parameters": {"scale": str(scale), "connect.decimal.precision": str(precision)},
        "connect.name": "org.apache.kafka.connect.data.Decimal",
        "logicalType": "decimal",
    }


def connect_logical(avro_primitive: str, connect_name: str, version: int = 1) -> dict[str, Any]:
    """A Debezium/Connect named type as the AvroConverter writes it: a primitive plus connect.* properties."""
    return {"type": avro_primitive, "connect.version": version, "connect.name": connect_name}


def avro_type(column_type: ColumnType) -> AvroType:
    """The Avro type of a non-null value of this column, as Debezium + Confluent AvroConverter register it."""
    kind = column_type.kind
    if kind == "decimal":
        assert column_type.precision is not None and column_type.scale is not None
        return decimal_schema(column_type.precision, column_type.scale)
    if kind == "int16":
        return {"type": "int", "connect.type": "int16"}
    if kind in _DEBEZIUM_LOGICAL:
        return connect_logical(*_DEBEZIUM_LOGICAL[kind])
    return _PLAIN_AVRO[kind]


def optional(avro: AvroType) -> list[Any]:
    """A Connect optional schema in Avro: a union with null first (so the field default can be null)."""
    return ["null", avro]


def field(name: str, avro: AvroType, *, nullable: bool) -> dict[str, Any]:
    """One Avro record field; optional fields become ``["null", T]`` with ``"default": null``."""
    if nullable:
        return {"name": name, "type": optional(avro), "default": None}
    return {"name": name, "type": avro}
