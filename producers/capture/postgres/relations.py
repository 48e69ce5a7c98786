"""Binding pgoutput relations to catalog tables, and noticing schema changes at the source.

Pure logic. A Relation message describes a table's current columns; capture keeps one `TableBinding` per relation
id. When the columns differ from the catalog (e.g. `ALTER TABLE ... ADD COLUMN`), the binding carries the new column
list so that a new Avro schema can be derived and registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from producers.capture.postgres.pgoutput import UNCHANGED, Relation, TupleData
from producers.capture.values import Decoder, UnsupportedColumnType, catalog_type_for, decoder_for
from schemas.catalog import Column, Table

# What Debezium writes for an unchanged TOASTed value it could not read (only for text columns).
UNAVAILABLE_VALUE = "__debezium_unavailable_value"
TEXT_KINDS = frozenset({"string", "varchar", "text", "uuid", "json"})


class SchemaChangeRefused(ValueError):
    """A source schema change capture will not carry forward (it names table and column)."""


@dataclass(frozen=True)
class TableBinding:
    table: Table
    columns: tuple[Column, ...]  # the source's current columns, in source order
    decoders: tuple[Decoder | None, ...] = field(repr=False)  # None: the text value is used as is

    @property
    def schema_changed(self) -> bool:
        return self.columns != self.table.columns

    def row(self, values: TupleData, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Decode a tuple into a row image; unchanged TOAST values come from `previous` when it has them."""
        row: dict[str, Any] = {}
        for column, decode, value in zip(self.columns, self.decoders, values, strict=True):
            if value is None:
                row[column.name] = None
            elif value is UNCHANGED:
                if previous is not None and column.name in previous:
                    row[column.name] = previous[column.name]
                elif column.column_type.kind in ("string", "varchar", "text", "json"):
                    row[column.name] = UNAVAILABLE_VALUE
                else:
                    row[column.name] = None
            elif decode is None:
                row[column.name] = value  # text stays text
            else:
                row[column.name] = decode(value)  # type: ignore[arg-type]
        return row


def text_decoder(column: Column) -> Decoder | None:
    """The column's decoder, or None where the text is the value (strings, uuid, json)."""
    return None if column.column_type.kind in TEXT_KINDS else decoder_for(column.column_type)


def derive_columns(table: Table, relation: Relation) -> tuple[Column, ...]:
    """The table's columns as the source has them now: catalog definitions for known names, derived ones for new.

    Refuses changes that would break consumers: a missing key column, a dropped non-nullable column, or a type
    change of a known column to a different catalog type.
    """
    known = {column.name: column for column in table.columns}
    present = {column.name for column in relation.columns}
    for column in table.columns:
        if column.name not in present and (column.name in table.primary_key or not column.nullable):
            raise SchemaChangeRefused(
                f"table '{table.name}': required column '{column.name}' was dropped at the source"
            )
    columns: list[Column] = []
    for source_column in relation.columns:
        try:
            column_type = catalog_type_for(source_column.type_oid, source_column.type_modifier)
        except UnsupportedColumnType as exc:
            raise SchemaChangeRefused(f"table '{table.name}', column '{source_column.name}': {exc}") from None
        declared = known.get(source_column.name)
        if declared is None:
            columns.append(Column(name=source_column.name, type=str(column_type), nullable=True))
            continue
        if not _same_type(declared, column_type):
            raise SchemaChangeRefused(
                f"table '{table.name}', column '{source_column.name}': type changed at the source from "
                f"{declared.type} to {column_type}"
            )
        columns.append(declared)
    return tuple(columns)


def _same_type(declared: Column, source_type: Any) -> bool:
    declared_type = declared.column_type
    if declared_type.kind in ("string", "varchar") and source_type.kind in ("string", "varchar"):
        return True  # lengths are not part of the Avro schema
    if declared_type.kind == "json" and source_type.kind == "json":
        return True
    return bool(declared_type == source_type)


class RelationMap:
    """relation id → TableBinding, for the catalog tables captured from one source schema."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self._by_name = {(table.source_schema, table.name): table for table in tables}
        self._bindings: dict[int, TableBinding] = {}

    def bind(self, relation: Relation) -> TableBinding | None:
        """Bind (or re-bind after a schema change) a relation; None for tables capture does not follow."""
        table = self._by_name.get((relation.namespace, relation.name))
        if table is None:
            return None
        columns = derive_columns(table, relation)
        previous = self._bindings.get(relation.relation_id)
        if previous is not None and previous.columns == columns:
            return previous
        binding = TableBinding(table, columns, tuple(text_decoder(column) for column in columns))
        self._bindings[relation.relation_id] = binding
        return binding

    def get(self, relation_id: int) -> TableBinding | None:
        return self._bindings.get(relation_id)

    def forget(self, relation_id: int) -> None:
        self._bindings.pop(relation_id, None)
