"""Debezium engine events (JsonConverter with schemas) → our key dicts and envelope dicts, ready for Avro.

No I/O (:class:`EventConverter` only caches compiled schemas). The engine hands over each event as the JSON
text Kafka Connect's ``JsonConverter`` writes:
``{"schema": {...}, "payload": {...}}``. The payload is almost what our Avro schemas want; what differs:

- decimals (``decimal.handling.mode=precise``) arrive as base64 of the unscaled big-endian two's-complement
  bytes; the field schema's ``parameters.scale`` turns them back into ``Decimal`` so fastavro writes the same
  bytes the Confluent AvroConverter would;
- other ``bytes`` fields arrive as base64 text;
- ``source`` carries fields our registered schema does not (Debezium 3.x added ``origin``/``origin_lsn``):
  only the registered fields are kept, in the registered order;
- events go to the catalog table's topic (``retail.customer.cdc``), not Debezium's ``<prefix>.<schema>.<table>``.

MicroTimestamp (int micros), Date (int days), ZonedTimestamp/Json/Uuid (strings) and the scalar types pass through.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, Final, Generic, TypeVar

from common.errors import CdcError
from producers.capture.debezium.config import HEARTBEAT_TOPIC_PREFIX, debezium_topic
from schemas.catalog import Catalog, Column, Connector, Table
from schemas.debezium import source_schema

DECIMAL: Final = "org.apache.kafka.connect.data.Decimal"
VARIABLE_SCALE_DECIMAL: Final = "io.debezium.data.VariableScaleDecimal"
ENVELOPE_FIELDS: Final = ("before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns")
TRANSACTION_FIELDS: Final = ("id", "total_order", "data_collection_order")
_SCHEMA_OPEN: Final = '{"schema":'
_PAYLOAD_MARK: Final = ',"payload":'
_MAX_PLANS: Final = 1024  # distinct schema texts kept compiled; cleared when full (tables rarely change)

PlanT = TypeVar("PlanT")

# Connect schema (type, name) of a new source column → the catalog type it corresponds to.
_CONNECT_TYPES: Final[dict[tuple[str, str | None], str]] = {
    ("int16", None): "int16",
    ("int32", None): "int32",
    ("int64", None): "int64",
    ("string", None): "string",
    ("boolean", None): "boolean",
    ("double", None): "float64",
    ("int32", "io.debezium.time.Date"): "date",
    ("int64", "io.debezium.time.MicroTimestamp"): "timestamp",
    ("string", "io.debezium.time.ZonedTimestamp"): "timestamptz",
    ("string", "io.debezium.data.Uuid"): "uuid",
    ("string", "io.debezium.data.Json"): "json",
}


class EventConversionError(CdcError):
    """An engine event does not have the shape the capture was configured for; the engine stops uncommitted."""


@dataclass(frozen=True, slots=True)
class CapturedChange:
    """One event ready to publish: the catalog table, its key record and envelope (None for a tombstone)."""

    table: Table
    key: dict[str, Any]
    envelope: dict[str, Any] | None
    columns: tuple[Column, ...] | None = None  # set when the source row differs from the catalog's columns

    @property
    def lsn(self) -> int | None:
        """The change's WAL position (``source.lsn``); None for tombstones."""
        if self.envelope is None:
            return None
        lsn = self.envelope["source"].get("lsn")
        return lsn if isinstance(lsn, int) else None


@dataclass(frozen=True, slots=True)
class SkippedEvent:
    """An engine event that is not a change of a catalog table (heartbeat, unknown table): nothing to publish."""

    destination: str
    reason: str


def decimal_from_base64(text: str, scale: int) -> Decimal:
    """Connect ``Decimal`` as JsonConverter writes it (base64 unscaled two's-complement) → ``Decimal``."""
    unscaled = int.from_bytes(_base64_bytes(text), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


def _base64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EventConversionError(f"invalid base64 bytes value {text[:20]!r}: {exc}") from None


def _scale_of(schema: Mapping[str, Any]) -> int:
    parameters = schema.get("parameters") or {}
    try:
        return int(parameters["scale"])
    except (KeyError, TypeError, ValueError):
        raise EventConversionError(f"decimal field {schema.get('field')!r} has no scale parameter") from None


Converter = Callable[[Any], Any]


def _variable_scale_decimal(value: Mapping[str, Any]) -> Decimal:
    return decimal_from_base64(value["value"], int(value["scale"]))


def field_converter(schema: Mapping[str, Any]) -> Converter | None:
    """How to turn one field's Connect JSON value into what fastavro writes; None when it already is."""
    name, kind = schema.get("name"), schema.get("type")
    if name == DECIMAL:
        return partial(decimal_from_base64, scale=_scale_of(schema))
    if name == VARIABLE_SCALE_DECIMAL:
        return _variable_scale_decimal
    if kind == "bytes":
        return _base64_bytes
    if kind == "struct":
        return struct_plan(schema).apply
    if kind == "array":
        item = field_converter(schema.get("items") or {})
        return None if item is None else partial(_convert_items, item)
    return None


def _convert_items(convert: Converter, values: Sequence[Any]) -> list[Any]:
    return [None if value is None else convert(value) for value in values]


@dataclass(frozen=True, slots=True)
class StructPlan:
    """A Connect struct schema compiled once: each field's name and converter, in the schema's order."""

    fields: tuple[tuple[str, Converter | None], ...]

    def apply(self, payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The struct's payload (a row image or key) with every field converted; None stays None."""
        if payload is None:
            return None
        row: dict[str, Any] = {}
        for name, convert in self.fields:
            value = payload.get(name)
            row[name] = value if convert is None or value is None else convert(value)
        return row


def struct_plan(schema: Mapping[str, Any]) -> StructPlan:
    """Compile a Connect struct schema (``{"type": "struct", "fields": [...]}``) into a :class:`StructPlan`."""
    return StructPlan(tuple((field["field"], field_converter(field)) for field in schema.get("fields") or ()))


def convert_struct(schema: Mapping[str, Any], payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A Connect struct (a row image or key) → a dict of converted fields, in the schema's field order."""
    return struct_plan(schema).apply(payload)


def _fields_by_name(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {field["field"]: field for field in schema.get("fields") or ()}


def source_field_names(connector: Connector) -> tuple[str, ...]:
    """The ``source`` fields of our registered Envelope, in order (Debezium may send more)."""
    return tuple(field["name"] for field in source_schema(connector)["fields"])


def convert_source(source: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Debezium's ``source`` block reduced to the registered fields, values unchanged (absent ones are null)."""
    return {name: source.get(name) for name in names}


def convert_transaction(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``transaction`` block (only present with ``provide.transaction.metadata``), registered fields only."""
    if block is None:
        return None
    return {name: block.get(name) for name in TRANSACTION_FIELDS}


class EnvelopePlan:
    """An envelope schema compiled once: the row-image converters, and the row's columns per table."""

    def __init__(self, row: StructPlan, row_schema: Mapping[str, Any]) -> None:
        self.row = row
        self.row_schema = row_schema
        self._columns: dict[str, tuple[Column, ...] | None] = {}

    def columns(self, table: Table) -> tuple[Column, ...] | None:
        """:func:`row_columns` for this schema, computed once (so every event shares one tuple)."""
        if table.name not in self._columns:
            self._columns[table.name] = row_columns(table, self.row_schema)
        return self._columns[table.name]


def envelope_plan(schema: Mapping[str, Any]) -> EnvelopePlan:
    """Compile an envelope schema; ``before`` and ``after`` share Debezium's ``<prefix>.<schema>.<table>.Value``."""
    row_schema = _fields_by_name(schema).get("after") or {}
    return EnvelopePlan(struct_plan(row_schema), row_schema)


def convert_envelope(plan: EnvelopePlan, payload: Mapping[str, Any], source_names: Sequence[str]) -> dict[str, Any]:
    """A change event payload → our ``<topic>.Envelope`` dict (field order as registered)."""
    source = payload.get("source")
    if not isinstance(source, Mapping) or payload.get("op") is None:
        raise EventConversionError("value is not a Debezium change envelope (no source or op)")
    return {
        "before": plan.row.apply(payload.get("before")),
        "after": plan.row.apply(payload.get("after")),
        "source": convert_source(source, source_names),
        "transaction": convert_transaction(payload.get("transaction")),
        "op": payload["op"],
        "ts_ms": payload.get("ts_ms"),
        "ts_us": payload.get("ts_us"),
        "ts_ns": payload.get("ts_ns"),
    }


def _split(document: Any, what: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    schema = document.get("schema") if isinstance(document, Mapping) else None
    payload = document.get("payload") if isinstance(document, Mapping) else None
    if not isinstance(schema, Mapping) or not isinstance(payload, Mapping):
        raise EventConversionError(
            f"event {what} lacks schema or payload: the engine must run JsonConverter with schemas.enable=true"
        )
    return schema, payload


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EventConversionError(f"event {what} is not JSON: {exc}") from None


def split_document(text: str) -> tuple[str, str] | None:
    """``{"schema":S,"payload":P}`` as JsonConverter writes it (compact, schema first) → the texts S and P.

    Only a shortcut: the first ``,"payload":`` can only be inside S if S holds such a string, and then S is cut
    inside a string and fails to parse, so the caller falls back to parsing the whole document.
    """
    if not text.startswith(_SCHEMA_OPEN) or not text.endswith("}"):
        return None
    at = text.find(_PAYLOAD_MARK)
    if at < 0:
        return None
    return text[len(_SCHEMA_OPEN) : at], text[at + len(_PAYLOAD_MARK) : -1]


class DocumentReader(Generic[PlanT]):
    """Reads ``{"schema", "payload"}`` texts, compiling each distinct schema text once.

    Every event repeats its full schema, and parsing it dominated the conversion; a table's schema text only
    changes when the table does, so the compiled plan is looked up by that text instead.
    """

    def __init__(self, compile_schema: Callable[[Mapping[str, Any]], PlanT], what: str) -> None:
        self._compile = compile_schema
        self._what = what
        self._plans: dict[str, PlanT] = {}

    def read(self, text: str) -> tuple[PlanT, Mapping[str, Any]]:
        """The compiled schema and the parsed payload of one document."""
        parts = split_document(text)
        if parts is not None:
            schema_text, payload_text = parts
            plan = self._plans.get(schema_text)
            if plan is None:
                plan = self._compile_text(schema_text)
            if plan is not None:
                try:
                    payload = json.loads(payload_text)
                except ValueError:
                    payload = None
                if isinstance(payload, Mapping):
                    return plan, payload
        schema, payload = _split(_parse(text, self._what), self._what)
        return self._compile(schema), payload

    def _compile_text(self, schema_text: str) -> PlanT | None:
        try:
            schema = json.loads(schema_text)
        except ValueError:
            return None
        if not isinstance(schema, Mapping):
            return None
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        plan = self._plans[schema_text] = self._compile(schema)
        return plan


def _column_from_connect(field: Mapping[str, Any]) -> Column:
    """A source column the catalog does not know, typed from its Connect schema (for schema evolution)."""
    kind, name = field.get("type"), field.get("name")
    if name == DECIMAL:
        parameters = field.get("parameters") or {}
        precision = parameters.get("connect.decimal.precision")
        if precision is None:
            raise EventConversionError(f"new column {field['field']!r}: decimal without precision")
        type_name = f"decimal({precision},{_scale_of(field)})"
    else:
        found = _CONNECT_TYPES.get((str(kind), name))
        if found is None:
            raise EventConversionError(f"new column {field['field']!r}: Connect type {kind}/{name} is not supported")
        type_name = found
    return Column(name=field["field"], type=type_name, nullable=bool(field.get("optional", False)))


def row_columns(table: Table, row_schema: Mapping[str, Any]) -> tuple[Column, ...] | None:
    """The row's columns when they differ from the catalog's (a column was added at the source), else None.

    Known columns keep their catalog definition; new ones are typed from their Connect schema.
    """
    fields = row_schema.get("fields") or ()
    names = tuple(field["field"] for field in fields)
    if names == tuple(column.name for column in table.columns):
        return None
    known = {column.name: column for column in table.columns}
    return tuple(known.get(field["field"]) or _column_from_connect(field) for field in fields)


class TableRouter:
    """Finds the catalog table of an engine event: by ``source`` schema/table, or by Debezium's topic name."""

    def __init__(self, catalog: Catalog) -> None:
        self._by_source = {(table.source_schema, table.name): table for table in catalog.tables}
        self._by_topic = {debezium_topic(catalog, table): table for table in catalog.tables}

    def by_source(self, source: Mapping[str, Any]) -> Table | None:
        """The table a change envelope's ``source`` block names."""
        return self._by_source.get((str(source.get("schema")), str(source.get("table"))))

    def by_destination(self, destination: str) -> Table | None:
        """The table Debezium's own topic name stands for (tombstones carry no ``source``)."""
        return self._by_topic.get(destination)


class EventConverter:
    """Turns engine events into changes to publish (or skips), caching compiled schemas. No I/O."""

    def __init__(self, catalog: Catalog) -> None:
        self.router = TableRouter(catalog)
        self.source_names = source_field_names(catalog.connector)
        self._keys: DocumentReader[StructPlan] = DocumentReader(struct_plan, "key")
        self._values: DocumentReader[EnvelopePlan] = DocumentReader(envelope_plan, "value")

    def convert(self, destination: str, key_text: str | None, value_text: str | None) -> CapturedChange | SkippedEvent:
        """One engine event (its Debezium topic, key and value JSON) → a change to publish, or why it is skipped."""
        if destination.startswith(HEARTBEAT_TOPIC_PREFIX):
            return SkippedEvent(destination, "heartbeat")
        if value_text is None:
            table = self.router.by_destination(destination)
            if table is None:
                return SkippedEvent(destination, "tombstone of a table outside the catalog")
            return CapturedChange(table, self._key(key_text, "tombstone"), None)
        plan, payload = self._values.read(value_text)
        source = payload.get("source")
        if not isinstance(source, Mapping):
            return SkippedEvent(destination, "not a change event")
        table = self.router.by_source(source)
        if table is None:
            return SkippedEvent(destination, "table outside the catalog")
        envelope = convert_envelope(plan, payload, self.source_names)
        return CapturedChange(table, self._key(key_text, "change"), envelope, plan.columns(table))

    def _key(self, key_text: str | None, kind: str) -> dict[str, Any]:
        if key_text is None:
            raise EventConversionError(f"{kind} event without a key (a table without primary key?)")
        plan, payload = self._keys.read(key_text)
        key = plan.apply(payload)
        if not key:
            raise EventConversionError(f"{kind} event key has no fields (a table without primary key?)")
        return key
