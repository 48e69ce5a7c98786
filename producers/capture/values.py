"""PostgreSQL text-format values → Debezium's encodings, per catalog column type.

Used for both the snapshot (COPY text output) and streaming (pgoutput text tuples), so both paths produce the same
bytes. Encodings follow Debezium's PostgreSQL connector defaults: `decimal.handling.mode=precise` (Decimal),
`time.precision.mode=adaptive` (timestamp → epoch micros, date → epoch days), timestamptz → ISO-8601 UTC string.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from schemas.avro_types import ColumnType, parse_type

Decoder = Callable[[str], Any]

_EPOCH_DATE: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1)


def _timestamp_micros(text: str) -> int:
    """`2026-11-22 01:02:03.123456` → microseconds since the epoch (no zone conversion, like Debezium)."""
    delta = datetime.fromisoformat(text) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _zoned_timestamp(text: str) -> str:
    """`2026-11-22 01:02:03.1234+02` → `2026-11-21T23:02:03.1234Z` (ZonedTimestamp, normalised to UTC)."""
    if text[-3] in "+-" and text[-3:].lstrip("+-").isdigit():
        text += ":00"  # PostgreSQL writes `+02`; fromisoformat wants `+02:00`
    moment = datetime.fromisoformat(text).astimezone(UTC)
    rendered = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        rendered += f".{moment.microsecond:06d}".rstrip("0")
    return rendered + "Z"


def _date_days(text: str) -> int:
    return date.fromisoformat(text).toordinal() - _EPOCH_DATE


def _boolean(text: str) -> bool:
    if text in ("t", "true"):
        return True
    if text in ("f", "false"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _decimal(scale: int) -> Decoder:
    quantum = Decimal(1).scaleb(-scale)

    def decode(text: str) -> Decimal:
        value = Decimal(text)
        if not value.is_finite():
            raise ValueError(f"{text!r} cannot be encoded as a decimal")
        return value.quantize(quantum)

    return decode


def _identity(text: str) -> str:
    return text


_DECODERS: Final[dict[str, Decoder]] = {
    "int16": int,
    "int32": int,
    "int64": int,
    "string": _identity,
    "varchar": _identity,
    "text": _identity,
    "uuid": _identity,
    "json": _identity,
    "boolean": _boolean,
    "float64": float,
    "date": _date_days,
    "timestamp": _timestamp_micros,
    "timestamptz": _zoned_timestamp,
}


def decoder_for(column_type: ColumnType) -> Decoder:
    """The text decoder for a catalog column type."""
    if column_type.kind == "decimal":
        assert column_type.scale is not None
        return _decimal(column_type.scale)
    return _DECODERS[column_type.kind]


# PostgreSQL type OIDs (pg_type.oid, fixed for built-in types) → catalog type names, for columns added at the
# source after the catalog was written.
_OID_TYPES: Final[dict[int, str]] = {
    16: "boolean",
    20: "int64",
    21: "int16",
    23: "int32",
    25: "text",
    114: "json",
    701: "float64",
    1043: "varchar",
    1082: "date",
    1114: "timestamp",
    1184: "timestamptz",
    1700: "decimal",
    2950: "uuid",
    3802: "json",
}


class UnsupportedColumnType(ValueError):
    """A source column whose type has no catalog equivalent."""


def catalog_type_for(type_oid: int, type_modifier: int) -> ColumnType:
    """The catalog type of a source column from its OID and modifier (varchar length, numeric precision/scale)."""
    name = _OID_TYPES.get(type_oid)
    if name is None:
        raise UnsupportedColumnType(f"PostgreSQL type oid {type_oid} is not supported")
    if name == "varchar":
        return parse_type(f"varchar({type_modifier - 4})") if type_modifier > 4 else parse_type("string")
    if name == "decimal":
        if type_modifier < 4:
            raise UnsupportedColumnType("numeric without precision and scale is not supported")
        packed = type_modifier - 4
        return parse_type(f"decimal({packed >> 16},{packed & 0xFFFF})")
    return parse_type(name)
