"""Debezium envelopes and keys as JSON, the way Redshift streaming MVs read them (ADR 0010, decision 1). Pure.

A :class:`JsonEncoder` is compiled once per writer schema: it walks the Avro schema, picks a converter per field
from the field's Connect/Debezium type, and then turns each decoded record (what fastavro returns, or what
``schemas.envelope.build_envelope`` builds) into compact JSON bytes:

* decimal (Connect ``Decimal``, Avro ``bytes`` + ``decimal``)  -> string with exactly the column's scale, ``"12.50"``
* ``io.debezium.time.Date`` (days since epoch)                 -> ``"YYYY-MM-DD"``
* ``io.debezium.time.MicroTimestamp`` (micros, no zone)        -> ``"YYYY-MM-DDTHH:MM:SS.ffffff"``
  (``Timestamp`` in millis the same way, ``NanoTimestamp`` with 9 fraction digits)
* ``io.debezium.time.ZonedTimestamp``                          -> its ISO string as captured
* int16 and every other number, string, boolean                -> the JSON scalar (non-finite floats as
  ``"NaN"``/``"Infinity"``/``"-Infinity"``, as Jackson writes them; plain bytes as base64)

Object keys follow the schema's field order, separators are ``(",", ":")``, text is UTF-8: the same record always
gives the same bytes. The envelope keeps every field of its schema (``before``, ``after``, ``source``,
``transaction``, ``op``, ``ts_ms``, ``ts_us``, ``ts_ns``) and carries no embedded schema.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

Converter = Callable[[Any], Any]

_EPOCH: Final = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_NON_FINITE: Final = {math.inf: "Infinity", -math.inf: "-Infinity"}
_EXACT: Final = decimal.Context(prec=1000, traps=[decimal.Inexact, decimal.InvalidOperation])
_DUMPS: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

DECIMAL: Final = "org.apache.kafka.connect.data.Decimal"
DATE: Final = "io.debezium.time.Date"
TIMESTAMP: Final = "io.debezium.time.Timestamp"
MICRO_TIMESTAMP: Final = "io.debezium.time.MicroTimestamp"
NANO_TIMESTAMP: Final = "io.debezium.time.NanoTimestamp"
ZONED_TIMESTAMP: Final = "io.debezium.time.ZonedTimestamp"


class JsonEncodingError(ValueError):
    """A decoded value has no JSON form under the contract (e.g. a date outside years 1..9999)."""


def decimal_text(scale: int) -> Converter:
    """A Decimal (or a Connect big-endian unscaled integer) as a string with exactly `scale` fraction digits."""
    quantum = decimal.Decimal(1).scaleb(-scale)

    def convert(value: Any) -> str:
        if isinstance(value, bytes | bytearray):
            value = decimal.Decimal(int.from_bytes(value, "big", signed=True)).scaleb(-scale)
        elif not isinstance(value, decimal.Decimal):
            raise JsonEncodingError(f"expected a decimal, got {type(value).__name__}")
        if value.as_tuple().exponent != -scale:
            try:
                value = value.quantize(quantum, context=_EXACT)
            except decimal.DecimalException:
                raise JsonEncodingError(f"{value} does not fit scale {scale}") from None
        return format(value, "f")

    return convert


def date_text(days: int) -> str:
    """Debezium `Date` (days since 1970-01-01) as `YYYY-MM-DD`."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


def micro_timestamp_text(micros: int) -> str:
    """Debezium `MicroTimestamp` (local time, micros since epoch) as `YYYY-MM-DDTHH:MM:SS.ffffff`, no zone."""
    return (_EPOCH + dt.timedelta(microseconds=micros)).isoformat(timespec="microseconds")


def milli_timestamp_text(millis: int) -> str:
    """Debezium `Timestamp` (millis) in the same form as `MicroTimestamp`."""
    return micro_timestamp_text(millis * 1000)


def nano_timestamp_text(nanos: int) -> str:
    """Debezium `NanoTimestamp` with all 9 fraction digits."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return f"{(_EPOCH + dt.timedelta(seconds=seconds)).isoformat(timespec='seconds')}.{fraction:09d}"


def float_value(value: float) -> float | str:
    """Finite floats as numbers; NaN and infinities as the strings Jackson writes (JSON has no such numbers)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else _NON_FINITE[value]


def bytes_text(value: bytes) -> str:
    """Plain Avro bytes/fixed as base64, as Kafka Connect's JsonConverter writes them."""
    return base64.b64encode(value).decode("ascii")


def jsonable(value: Any) -> Any:
    """Best-effort JSON form of a value whose branch the schema cannot tell (a union of several types)."""
    converted: Any = value
    if isinstance(value, Mapping):
        converted = {str(k): jsonable(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        converted = [jsonable(item) for item in value]
    elif isinstance(value, decimal.Decimal):
        converted = format(value, "f")
    elif isinstance(value, bytes | bytearray):
        converted = bytes_text(bytes(value))
    elif isinstance(value, float):
        converted = float_value(value)
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        converted = value.isoformat()
    elif isinstance(value, uuid.UUID):
        converted = str(value)
    return converted


def _iso(value: Any) -> Any:
    """fastavro's own logical types (date, time, timestamp) come back as Python objects."""
    return value.isoformat() if isinstance(value, dt.datetime | dt.date | dt.time) else value


def _optional(inner: Converter) -> Converter:
    return lambda value: None if value is None else inner(value)


_BY_CONNECT_NAME: Final[dict[str, Converter]] = {
    DATE: date_text,
    TIMESTAMP: milli_timestamp_text,
    MICRO_TIMESTAMP: micro_timestamp_text,
    NANO_TIMESTAMP: nano_timestamp_text,
}
_BY_LOGICAL_TYPE: Final[dict[str, Converter]] = {
    "date": _iso,
    "time-millis": _iso,
    "time-micros": _iso,
    "timestamp-millis": _iso,
    "timestamp-micros": _iso,
    "local-timestamp-millis": _iso,
    "local-timestamp-micros": _iso,
    "uuid": str,
}
_BY_PRIMITIVE: Final[dict[str, Converter | None]] = {
    "null": None,
    "boolean": None,
    "int": None,
    "long": None,
    "string": None,
    "enum": None,
    "float": float_value,
    "double": float_value,
    "bytes": bytes_text,
    "fixed": bytes_text,
}


class _Compiler:
    """Builds converters for an Avro schema; `None` means "the decoded value is already its JSON form"."""

    def __init__(self) -> None:
        self.named: dict[str, Converter | None] = {}

    def compile(self, schema: Any, namespace: str | None) -> Converter | None:
        if isinstance(schema, list):
            return self._union(schema, namespace)
        if isinstance(schema, str):
            return self._reference(schema, namespace)
        if not isinstance(schema, Mapping):
            raise JsonEncodingError(f"not an Avro schema: {schema!r}")
        kind = schema.get("type")
        if kind in ("record", "error"):
            return self._record(schema, namespace)
        if kind in ("array", "map"):
            inner = self.compile(schema["items" if kind == "array" else "values"], namespace)
            return self._array(inner) if kind == "array" else self._map(inner)
        if isinstance(kind, list | Mapping):
            return self.compile(kind, namespace)  # {"type": {...}} wraps a complete type
        converter = self._annotated(schema)
        if kind in ("enum", "fixed"):
            self._remember(schema, namespace, converter)
        elif converter is None:
            converter = self._reference(str(kind), namespace)
        return converter

    def _annotated(self, schema: Mapping[str, Any]) -> Converter | None:
        """Connect/Debezium semantic types first, then Avro logical types, then the primitive."""
        connect_name = schema.get("connect.name")
        if connect_name == DECIMAL or schema.get("logicalType") == "decimal":
            return decimal_text(int(schema.get("scale", 0)))
        if connect_name in _BY_CONNECT_NAME:
            return _BY_CONNECT_NAME[connect_name]
        logical = schema.get("logicalType")
        if isinstance(logical, str) and logical in _BY_LOGICAL_TYPE:
            return _BY_LOGICAL_TYPE[logical]
        kind = schema.get("type")
        return _BY_PRIMITIVE.get(kind) if isinstance(kind, str) else None

    def _remember(self, schema: Mapping[str, Any], namespace: str | None, converter: Converter | None) -> None:
        name = schema.get("name")
        if isinstance(name, str):
            self.named[name] = converter
            self.named[_full_name(name, schema.get("namespace", namespace))] = converter

    def _reference(self, name: str, namespace: str | None) -> Converter | None:
        if name in _BY_PRIMITIVE:
            return _BY_PRIMITIVE[name]
        for candidate in (_full_name(name, namespace), name):
            if candidate in self.named:
                return self.named[candidate]
        raise JsonEncodingError(f"unknown Avro type {name!r}")

    def _union(self, branches: list[Any], namespace: str | None) -> Converter | None:
        compiled = [self.compile(branch, namespace) for branch in branches if branch != "null"]
        if len(compiled) == 1:
            inner = compiled[0]
            return None if inner is None else _optional(inner)
        if all(converter is None for converter in compiled):
            return None
        return jsonable  # several typed branches: fastavro does not say which one a value took

    def _record(self, schema: Mapping[str, Any], namespace: str | None) -> Converter:
        name = str(schema["name"])
        inner_namespace = name.rpartition(".")[0] if "." in name else schema.get("namespace", namespace)
        fields: list[tuple[str, Converter | None]] = []

        def convert(record: Mapping[str, Any]) -> dict[str, Any]:
            return {
                field: record[field] if converter is None else converter(record[field]) for field, converter in fields
            }

        self._remember(schema, namespace, convert)  # before the fields: a field may refer back to the record
        fields.extend((field["name"], self.compile(field["type"], inner_namespace)) for field in schema["fields"])
        return convert

    @staticmethod
    def _array(items: Converter | None) -> Converter:
        if items is None:
            return list
        return lambda values: [items(value) for value in values]

    @staticmethod
    def _map(values: Converter | None) -> Converter:
        if values is None:
            return dict
        return lambda entries: {key: values(value) for key, value in entries.items()}


def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class JsonEncoder:
    """JSON bytes for records of one Avro writer schema (an envelope, a key, any record)."""

    __slots__ = ("_convert",)

    def __init__(self, schema: Mapping[str, Any]) -> None:
        if schema.get("type") != "record":
            raise JsonEncodingError("the writer schema is not an Avro record")
        converter = _Compiler().compile(schema, None)
        assert converter is not None  # records always get a converter (they rebuild the object in field order)
        self._convert = converter

    def to_json(self, record: Mapping[str, Any]) -> Any:
        """The JSON-ready structure (objects in schema field order)."""
        try:
            return self._convert(record)
        except JsonEncodingError:
            raise
        except (ArithmeticError, KeyError, TypeError, ValueError) as exc:
            raise JsonEncodingError(f"{type(exc).__name__}: {exc}") from None

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Compact UTF-8 JSON bytes of one record."""
        try:
            return _DUMPS(self.to_json(record)).encode("utf-8")
        except JsonEncodingError:
            raise
        except (TypeError, ValueError) as exc:  # includes UnicodeEncodeError (lone surrogates)
            raise JsonEncodingError(f"{type(exc).__name__}: {exc}") from None


def envelope_json(envelope: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> bytes | None:
    """The Kafka value for one change event: the envelope as JSON, or None (a tombstone stays a tombstone)."""
    return None if envelope is None else JsonEncoder(schema).encode(envelope)


def key_json(key: Mapping[str, Any], schema: Mapping[str, Any]) -> bytes:
    """The Kafka key: the key record as compact JSON, e.g. ``{"customer_id":42}``."""
    return JsonEncoder(schema).encode(key)
