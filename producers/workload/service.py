"""The two use cases, wired from the parts: ``initialize`` (tables + initial population) and ``build_runner``.

The CLI, the demo and the tests call these with an open connection; they hold no business rules of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from producers.workload import records, source_schema
from producers.workload.bulk_load import LoadReport, Progress, load_population
from producers.workload.clock import SimulatedClock, utc_now
from producers.workload.executor import TransactionExecutor
from producers.workload.model import WorkloadModel
from producers.workload.population import PopulationSize
from producers.workload.runner import RunLimits, RunObserver, WorkloadRunner
from producers.workload.source_schema import SchemaReport
from producers.workload.state_reader import latest_timestamp, read_state
from producers.workload.statements import StatementBuilder
from schemas.catalog import Catalog

Connection = psycopg.Connection[TupleRow]


@dataclass(frozen=True)
class InitResult:
    """What ``initialize`` did. ``load`` is None when the tables already held data and nothing was added."""

    schema: SchemaReport
    load: LoadReport | None
    existing_rows: int


def initialize(
    connection: Connection,
    catalog: Catalog,
    size: PopulationSize,
    *,
    seed: int,
    as_of: datetime,
    reset: bool = False,
    append: bool = False,
    progress: Progress | None = None,
) -> InitResult:
    """Create (or with ``reset`` recreate) the source tables and load a population into them.

    Tables that already hold rows are left alone unless ``append`` (add another population after the existing ids)
    or ``reset`` (drop everything first), so running ``init`` twice is harmless.
    """
    if reset:
        source_schema.drop_tables(connection, catalog)
    schema = source_schema.create_tables(connection, catalog)
    existing = count_rows(connection, catalog)
    if existing and not append:
        return InitResult(schema, None, existing)
    load = load_population(connection, catalog, size, seed=seed, as_of=as_of, progress=progress)
    return InitResult(schema, load, existing)


def count_rows(connection: Connection, catalog: Catalog) -> int:
    """Rows in all workload tables together."""
    total = 0
    for name in records.TABLES:
        table = catalog.table(name)
        row = connection.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.source_schema, table.name))
        ).fetchone()
        total += int(row[0]) if row else 0
    return total


def build_runner(
    connection: Connection,
    catalog: Catalog,
    *,
    seed: int,
    limits: RunLimits,
    observer: RunObserver | None = None,
) -> WorkloadRunner:
    """A runner continuing from what the database holds: its ids, open orders and newest timestamp.

    ConfigError (telling to run ``cdc workload init``) when the tables are missing.
    """
    source_schema.require_tables(connection, catalog)
    state = read_state(connection, catalog)
    start = latest_timestamp(connection, catalog) or utc_now()
    clock = SimulatedClock.for_rate(start, limits.rate)
    model = WorkloadModel(StatementBuilder(catalog), state, seed, clock)
    return WorkloadRunner(model, TransactionExecutor(connection).apply, limits, observer)
