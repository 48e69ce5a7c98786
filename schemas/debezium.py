"""Debezium Key/Value/Envelope Avro schemas of a catalog table, as the Confluent AvroConverter registers them.

Pure functions of a :class:`~schemas.catalog.Table`. The output mirrors Debezium 3.x (PostgreSQL or SQL Server
connector, default settings) behind ``io.confluent.connect.avro.AvroConverter``: record names ``<topic>.Key``,
``<topic>.Value``, ``<topic>.Envelope`` (the topic is the Avro namespace), Connect metadata as ``connect.*``
properties, optional fields as ``["null", T]`` with a null default, and the same field order. Dict key order
is fixed, so ``json.dumps`` of a schema is stable and generated files diff cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from common.errors import SchemaError
from schemas import avro_types
from schemas.catalog import Column, Connector, Table

ENVELOPE_VERSION: Final = 2  # Envelope.SCHEMA_VERSION since Debezium 2.0 (ts_us/ts_ns were added)
SOURCE_VERSION: Final = 1  # SchemaFactory.SOURCE_INFO_DEFAULT_SCHEMA_VERSION
TRANSACTION_BLOCK_NAME: Final = "event.block"
OPERATIONS: Final = (
    "c",
    "u",
    "d",
    "r",
    "t",
    "m",
)  # create, update, delete, read (snapshot), truncate, message

# SnapshotRecord values, lowercased, in enum order: the `allowed` parameter of source.snapshot.
SNAPSHOT_VALUES: Final = (
    "true",
    "first",
    "first_in_data_collection",
    "last_in_data_collection",
    "last",
    "false",
    "incremental",
)


def _optional_long(name: str) -> dict[str, Any]:
    """An optional int64 Connect field: ``["null", "long"]`` defaulting to null."""
    return avro_types.field(name, "long", nullable=True)


def _optional_string(name: str) -> dict[str, Any]:
    """An optional string Connect field: ``["null", "string"]`` defaulting to null."""
    return avro_types.field(name, "string", nullable=True)


def snapshot_field() -> dict[str, Any]:
    """``source.snapshot``: an optional ``io.debezium.data.Enum`` string whose Connect default is "false".

    A Connect optional schema with a non-null default puts the type first in the Avro union (Avro takes the
    default from the first branch), hence ``[enum, "null"]`` with ``"default": "false"``.
    """
    enum = {
        "type": "string",
        "connect.version": 1,
        "connect.parameters": {"allowed": ",".join(SNAPSHOT_VALUES)},
        "connect.default": "false",
        "connect.name": "io.debezium.data.Enum",
    }
    return {"name": "snapshot", "type": [enum, "null"], "default": "false"}


def common_source_fields() -> list[dict[str, Any]]:
    """The source fields every connector has, in order (``SchemaFactory.sourceInfoSchemaBuilder``)."""
    return [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        snapshot_field(),
        {"name": "db", "type": "string"},
        _optional_string("sequence"),
        _optional_long("ts_us"),
        _optional_long("ts_ns"),
    ]


def connector_source_fields(connector: Connector) -> list[dict[str, Any]]:
    """The connector-specific source fields that follow the common ones (``*SourceInfoStructMaker``)."""
    if connector == "postgresql":
        return [
            {"name": "schema", "type": "string"},
            {"name": "table", "type": "string"},
            _optional_long("txId"),
            _optional_long("lsn"),
            _optional_long("xmin"),
        ]
    if connector == "sqlserver":
        return [
            {"name": "schema", "type": "string"},
            {"name": "table", "type": "string"},
            _optional_string("change_lsn"),
            _optional_string("commit_lsn"),
            _optional_long("event_serial_no"),
        ]
    raise SchemaError(f"unknown connector '{connector}' (known: postgresql, sqlserver)")


def source_schema(connector: Connector = "postgresql") -> dict[str, Any]:
    """The ``io.debezium.connector.<connector>.Source`` record carried in every envelope's ``source``."""
    namespace = f"io.debezium.connector.{connector}"
    return {
        "type": "record",
        "name": "Source",
        "namespace": namespace,
        "fields": [*common_source_fields(), *connector_source_fields(connector)],
        "connect.version": SOURCE_VERSION,
        "connect.name": f"{namespace}.Source",
    }


def transaction_schema() -> dict[str, Any]:
    """The ``event.block`` record of the envelope's optional ``transaction`` field."""
    return {
        "type": "record",
        "name": "block",
        "namespace": "event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"},
        ],
        "connect.version": 1,
        "connect.name": TRANSACTION_BLOCK_NAME,
    }


def _record(topic: str, name: str, columns: Sequence[Column], *, namespace: bool = True) -> dict[str, Any]:
    """A ``<topic>.<name>`` record of columns; the namespace is left out where the enclosing one applies."""
    schema: dict[str, Any] = {"type": "record", "name": name}
    if namespace:
        schema["namespace"] = topic
    schema["fields"] = [column.avro_field() for column in columns]
    schema["connect.name"] = f"{topic}.{name}"
    return schema


def key_schema(table: Table) -> dict[str, Any]:
    """The message key schema ``<topic>.Key``: the primary-key columns in key order (``<topic>-key``)."""
    return _record(table.topic, "Key", table.key_columns)


def value_schema(table: Table, columns: Sequence[Column] | None = None) -> dict[str, Any]:
    """The row schema ``<topic>.Value`` used by ``before``/``after`` (standalone, with its namespace)."""
    return _record(table.topic, "Value", table.columns if columns is None else columns)


def envelope_schema(
    table: Table, columns: Sequence[Column] | None = None, connector: Connector | None = None
) -> dict[str, Any]:
    """The message value schema ``<topic>.Envelope`` (subject ``<topic>-value``).

    Field order is Debezium's: before, after, source, transaction, op, ts_ms, ts_us, ts_ns. ``after`` refers
    to the ``Value`` record defined inline in ``before`` by its short name, as the AvroConverter writes it.
    """
    value = _record(table.topic, "Value", table.columns if columns is None else columns, namespace=False)
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": table.topic,
        "fields": [
            {"name": "before", "type": avro_types.optional(value), "default": None},
            {"name": "after", "type": avro_types.optional("Value"), "default": None},
            {"name": "source", "type": source_schema(connector or table.connector)},
            {"name": "transaction", "type": avro_types.optional(transaction_schema()), "default": None},
            {"name": "op", "type": "string"},
            _optional_long("ts_ms"),
            _optional_long("ts_us"),
            _optional_long("ts_ns"),
        ],
        "connect.version": ENVELOPE_VERSION,
        "connect.name": f"{table.topic}.Envelope",
    }


def schema_for_columns(table: Table, columns: Sequence[Column]) -> dict[str, Any]:
    """The envelope schema for a changed column list, e.g. after a nullable column was added at the source.

    The key columns must still be present and unchanged: the key schema (and partitioning) cannot evolve.
    """
    by_name = {column.name: column for column in columns}
    for key in table.key_columns:
        if by_name.get(key.name) != key:
            raise SchemaError(f"table '{table.name}': key column '{key.name}' must stay as declared")
    if len(by_name) != len(columns):
        raise SchemaError(f"table '{table.name}': duplicate column names in the new column list")
    return envelope_schema(table, columns)


def subject_names(table: Table) -> tuple[str, str]:
    """The registry subjects of the table's key and value schemas under TopicNameStrategy."""
    return f"{table.topic}-key", f"{table.topic}-value"
