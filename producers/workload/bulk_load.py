"""Loading the initial population into the source database with COPY, in one transaction.

COPY (psycopg 3 ``cursor.copy``) moves rows at tens of thousands a second where INSERTs manage a few thousand, which
is what lets ``init --customers 1000000`` finish in seconds. Binary format: psycopg's C dumpers write binary values
about twice as fast as text. All tables are loaded in one transaction, so a failure or Ctrl-C leaves the database
as it was; ANALYZE afterwards gives the planner real row counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from common.errors import ConfigError
from producers.workload import records
from producers.workload.population import PopulationGenerator, PopulationSize
from producers.workload.records import Row
from producers.workload.state_reader import read_state
from producers.workload.statements import require_filled
from schemas.catalog import Catalog, Table

# Called with (table name, rows just written) every PROGRESS_EVERY rows and at the end of each table.
Progress = Callable[[str, int], None]
PROGRESS_EVERY = 20_000

# PostgreSQL type of each catalog type kind, as binary COPY must be told (``copy.set_types``).
_BINARY_TYPES: Final[Mapping[str, str]] = {
    "int16": "int2",
    "int32": "int4",
    "int64": "int8",
    "string": "varchar",
    "varchar": "varchar",
    "text": "text",
    "boolean": "bool",
    "float64": "float8",
    "decimal": "numeric",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "uuid": "uuid",
    "json": "jsonb",
}


@dataclass
class LoadReport:
    """Rows written per table and how long the whole load took."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(records.TABLES, 0))
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def load_population(
    connection: psycopg.Connection[TupleRow],
    catalog: Catalog,
    size: PopulationSize,
    *,
    seed: int,
    as_of: datetime,
    progress: Progress | None = None,
) -> LoadReport:
    """Add ``size`` customers, products and orders (with items, payments, shipments) after the existing ids."""
    started = time.perf_counter()
    report = LoadReport()
    notify = progress or (lambda _table, _rows: None)
    state = read_state(connection, catalog)
    if size.orders and not ((size.customers or state.customers) and (size.products or state.product_prices)):
        raise ConfigError("orders need at least one customer and one product (already there or loaded now)")
    generator = PopulationGenerator(seed, as_of, state.ids, state.customers, state.product_prices)
    with connection.transaction(), connection.cursor() as cursor:
        writer = _CopyWriter(cursor, catalog, report, notify)
        writer.copy(records.CUSTOMER, generator.customers(size.customers))
        writer.copy(records.PRODUCT, generator.products(size.products))
        for batch in generator.orders(size.orders):
            writer.copy(records.ORDERS, batch.orders)
            writer.copy(records.ORDER_ITEM, batch.order_items)
            writer.copy(records.PAYMENT, batch.payments)
            writer.copy(records.SHIPMENT, batch.shipments)
    for table_name in records.TABLES:
        connection.execute(sql.SQL("ANALYZE {}").format(_qualified(catalog.table(table_name))))
    report.seconds = time.perf_counter() - started
    return report


class _CopyWriter:
    """Streams rows of one table at a time through ``COPY … FROM STDIN``, counting them into the report."""

    def __init__(
        self, cursor: psycopg.Cursor[TupleRow], catalog: Catalog, report: LoadReport, progress: Progress
    ) -> None:
        self._cursor = cursor
        self._catalog = catalog
        self._report = report
        self._progress = progress

    def copy(self, table_name: str, rows: Iterable[Row]) -> None:
        table = self._catalog.table(table_name)
        columns = records.COLUMNS[table_name]
        for column in columns:
            table.column(column)
        require_filled(table, columns)
        query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            _qualified(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        pending = 0
        with self._cursor.copy(query) as copy:
            copy.set_types([_BINARY_TYPES[table.column(column).column_type.kind] for column in columns])
            for row in rows:
                copy.write_row(row)
                pending += 1
                if pending == PROGRESS_EVERY:
                    self._count(table_name, pending)
                    pending = 0
        self._count(table_name, pending)

    def _count(self, table_name: str, rows: int) -> None:
        self._report.rows[table_name] += rows
        self._progress(table_name, rows)


def _qualified(table: Table) -> sql.Identifier:
    return sql.Identifier(table.source_schema, table.name)
