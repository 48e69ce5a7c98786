"""The source tables, from the catalog: create (idempotent), check, drop.

Each catalog table is created with ``Table.postgres_ddl()`` (``CREATE TABLE IF NOT EXISTS``), set to ``REPLICA
IDENTITY FULL`` so change capture sees complete ``before`` images of updates and deletes, and gets an index on
each foreign-key-like column so the workload's and the capture's lookups by order or customer stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from common.errors import ConfigError
from schemas.catalog import Catalog, Table

# Columns that reference another table's key. No index when the column already leads the primary key
# (order_item.order_id): the primary key's index serves those lookups and a second one would only slow writes.
FOREIGN_KEY_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "orders": ("customer_id",),
    "order_item": ("order_id", "product_id"),
    "payment": ("order_id",),
    "shipment": ("order_id",),
}

INIT_HINT: Final = "run `cdc workload init`"


@dataclass(frozen=True)
class SchemaReport:
    """What ``create_tables`` did: tables created, tables that were already there, indexes ensured."""

    created: tuple[str, ...]
    existing: tuple[str, ...]
    indexes: tuple[str, ...]


def index_name(table: Table, column: str) -> str:
    return f"{table.name}_{column}_idx"[:63]


def indexed_columns(table: Table) -> tuple[str, ...]:
    """The foreign-key-like columns of ``table`` that get their own index."""
    return tuple(column for column in FOREIGN_KEY_COLUMNS.get(table.name, ()) if column != table.primary_key[0])


def create_statements(table: Table) -> list[sql.SQL | sql.Composed]:
    """The DDL making one table ready for the workload and capture (pure: a unit test can read it)."""
    name = sql.Identifier(table.source_schema, table.name)
    statements: list[sql.SQL | sql.Composed] = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.source_schema)),
        sql.SQL(table.postgres_ddl()),  # identifiers the catalog validated as lowercase names
        sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(name),
    ]
    for column in indexed_columns(table):
        table.column(column)  # ConfigError if the catalog lost the column
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(index_name(table, column)), name, sql.Identifier(column)
            )
        )
    return statements


def create_tables(connection: psycopg.Connection[TupleRow], catalog: Catalog) -> SchemaReport:
    """Create every catalog table that is missing, in one transaction, then check all match the catalog."""
    missing = set(missing_tables(connection, catalog))
    with connection.transaction():
        for table in catalog.tables:
            for statement in create_statements(table):
                connection.execute(statement)
    check_columns(connection, catalog)
    return SchemaReport(
        created=tuple(t.name for t in catalog.tables if t.name in missing),
        existing=tuple(t.name for t in catalog.tables if t.name not in missing),
        indexes=tuple(index_name(t, c) for t in catalog.tables for c in indexed_columns(t)),
    )


def drop_tables(connection: psycopg.Connection[TupleRow], catalog: Catalog) -> None:
    """Drop every catalog table (and whatever depends on it), in one statement."""
    names = sql.SQL(", ").join(sql.Identifier(table.source_schema, table.name) for table in catalog.tables)
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(names))


def missing_tables(connection: psycopg.Connection[TupleRow], catalog: Catalog) -> list[str]:
    """Names of catalog tables that do not exist in the source database."""
    missing = []
    for table in catalog.tables:
        row = connection.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (table.source_schema, table.name)
        ).fetchone()
        if row is None or row[0] is None:
            missing.append(table.name)
    return missing


def check_columns(connection: psycopg.Connection[TupleRow], catalog: Catalog) -> None:
    """ConfigError when an existing table lacks a catalog column (``CREATE TABLE IF NOT EXISTS`` won't add it)."""
    problems = []
    for table in catalog.tables:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (table.source_schema, table.name),
        ).fetchall()
        present = {row[0] for row in rows}
        absent = [column.name for column in table.columns if column.name not in present]
        if absent:
            problems.append(f"{table.qualified_name} lacks {', '.join(absent)}")
    if problems:
        raise ConfigError(
            f"source tables differ from the catalog ({'; '.join(problems)}): "
            "recreate them with `cdc workload init --reset` (drops their data)"
        )


def require_tables(connection: psycopg.Connection[TupleRow], catalog: Catalog) -> None:
    """ConfigError naming the missing tables and the command that creates them."""
    missing = missing_tables(connection, catalog)
    if missing:
        raise ConfigError(f"the source database has no table(s) {', '.join(missing)}: {INIT_HINT} first")
    check_columns(connection, catalog)
