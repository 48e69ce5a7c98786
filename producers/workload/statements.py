"""SQL statements as data: what the workload generator produces and the executor runs.

A ``Statement`` is a composed query (identifiers from the catalog quoted with ``psycopg.sql.Identifier``, every
value a ``%s`` parameter) plus the table, the kind of change and how many rows it must touch. ``StatementBuilder``
makes INSERT (multi-row), UPDATE-by-key and DELETE-by-key statements for catalog tables and refuses column names
the catalog does not know. Composing SQL needs no connection, so all of this is pure and unit-testable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from common.errors import ConfigError
from schemas.catalog import Catalog, Table

Operation = Literal["insert", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("insert", "update", "delete")


@dataclass(frozen=True)
class Statement:
    """One parameterised statement that changes exactly ``rows`` rows of ``table``.

    ``columns`` are the inserted or updated columns; the parameters are the rows' values one row after the other
    (insert), the new values then the primary key (update), or the primary key (delete).
    """

    table: str
    operation: Operation
    query: sql.Composed
    params: tuple[Any, ...]
    rows: int
    columns: tuple[str, ...] = ()

    def text(self) -> str:
        """The query text with placeholders (no values), e.g. for logs and determinism checks."""
        return self.query.as_string()


@dataclass(frozen=True)
class Transaction:
    """The statements of one business action, applied atomically."""

    action: str
    statements: tuple[Statement, ...]

    @property
    def changes(self) -> int:
        """Row changes in this transaction: what the rate limit counts."""
        return sum(statement.rows for statement in self.statements)


class StatementBuilder:
    """Builds statements for the catalog's tables; unknown tables or columns are a ConfigError."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def table(self, name: str) -> Table:
        return self._catalog.table(name)

    def insert(self, table_name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Statement:
        """``INSERT INTO t (c1, c2) VALUES (%s, %s), (%s, %s)`` for all rows in one statement."""
        table = self._checked(table_name, columns)
        require_filled(table, columns)
        if not rows:
            raise ValueError(f"insert into {table_name} without rows")
        width = len(columns)
        if any(len(row) != width for row in rows):
            raise ValueError(f"insert into {table_name}: every row needs {width} values")
        placeholders = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * width))
        query = sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            _qualified(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join([placeholders] * len(rows)),
        )
        params = tuple(value for row in rows for value in row)
        return Statement(table.name, "insert", query, params, len(rows), tuple(columns))

    def update(self, table_name: str, key: Mapping[str, Any], changes: Mapping[str, Any]) -> Statement:
        """``UPDATE t SET a = %s, b = %s WHERE <primary key> = %s`` touching one row."""
        table = self._checked(table_name, [*key, *changes])
        _check_key(table, key)
        if not changes:
            raise ValueError(f"update of {table_name} without changes")
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in changes
        )
        query = sql.SQL("UPDATE {} SET {} WHERE {}").format(_qualified(table), assignments, _key_condition(table))
        params = (*changes.values(), *(key[column] for column in table.primary_key))
        return Statement(table.name, "update", query, params, 1, tuple(changes))

    def delete(self, table_name: str, key: Mapping[str, Any]) -> Statement:
        """``DELETE FROM t WHERE <primary key> = %s`` touching one row."""
        table = self._checked(table_name, list(key))
        _check_key(table, key)
        query = sql.SQL("DELETE FROM {} WHERE {}").format(_qualified(table), _key_condition(table))
        return Statement(table.name, "delete", query, tuple(key[column] for column in table.primary_key), 1)

    def _checked(self, table_name: str, columns: Sequence[str]) -> Table:
        table = self._catalog.table(table_name)
        for column in columns:
            table.column(column)  # ConfigError naming the table and its known columns
        return table


def _qualified(table: Table) -> sql.Identifier:
    return sql.Identifier(table.source_schema, table.name)


def _key_condition(table: Table) -> sql.Composed:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder()) for column in table.primary_key
    )


def _check_key(table: Table, key: Mapping[str, Any]) -> None:
    if set(key) != set(table.primary_key):
        raise ValueError(f"{table.name}: key must be exactly {list(table.primary_key)}, got {list(key)}")


def require_filled(table: Table, columns: Sequence[str]) -> None:
    """Every NOT NULL column must get a value: the workload has no defaults to fall back on."""
    missing = [column.name for column in table.columns if not column.nullable and column.name not in columns]
    if missing:
        raise ConfigError(
            f"the workload does not fill column(s) {', '.join(missing)} of table '{table.name}' "
            "(NOT NULL in the catalog): teach producers/workload/records.py about them or make them nullable"
        )
