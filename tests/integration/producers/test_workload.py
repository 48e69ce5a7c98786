"""`cdc workload init|run` against the stack's real PostgreSQL, each test in databases of its own.

Covers: idempotent init with the requested population, exact row-change counts checked against PostgreSQL's own
statistics, reproducibility across two databases, consistency after Ctrl-C, and one-line errors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cli import workload_commands
from common.errors import ConfigError, ServiceUnavailableError
from producers.workload import RunLimits, RunSummary, build_runner
from producers.workload.connection import connect
from producers.workload.records import TABLES
from producers.workload.statements import Transaction
from schemas.catalog import load_catalog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
AS_OF = "2025-06-30T12:00:00Z"
SMALL = ("--customers", "300", "--products", "60", "--orders", "600")
PRIMARY_KEYS = {t.name: t.primary_key for t in load_catalog().tables}

# Rows that would betray a half-applied or nonsensical transaction. Each query must return 0.
CONSISTENCY_CHECKS = {
    "order without items": "SELECT count(*) FROM orders o WHERE NOT EXISTS "
    "(SELECT 1 FROM order_item i WHERE i.order_id = o.order_id)",
    "total differs from items": "SELECT count(*) FROM orders o JOIN (SELECT order_id, "
    "sum(quantity * unit_price - discount) AS total, sum(discount) AS discount FROM order_item GROUP BY order_id) i "
    "USING (order_id) WHERE o.total_amount <> i.total OR o.discount_amount <> i.discount",
    "item of unknown product": "SELECT count(*) FROM order_item i LEFT JOIN product p USING (product_id) "
    "WHERE p.product_id IS NULL",
    "order of unknown customer": "SELECT count(*) FROM orders o LEFT JOIN customer c USING (customer_id) "
    "WHERE c.customer_id IS NULL",
    "payment of unknown order": "SELECT count(*) FROM payment p LEFT JOIN orders o USING (order_id) "
    "WHERE o.order_id IS NULL",
    "paid/shipped/delivered without captured payment": "SELECT count(*) FROM orders o WHERE o.status IN "
    "('paid', 'shipped', 'delivered') AND (SELECT count(*) FROM payment p WHERE p.order_id = o.order_id "
    "AND p.status = 'captured') <> 1",
    "placed with a payment or shipped/delivered without its shipment": "SELECT count(*) FROM orders o WHERE "
    "(o.status = 'placed' AND EXISTS (SELECT 1 FROM payment p WHERE p.order_id = o.order_id)) OR "
    "(o.status = 'shipped' AND NOT EXISTS (SELECT 1 FROM shipment s WHERE s.order_id = o.order_id "
    "AND s.status = 'in_transit')) OR (o.status = 'delivered' AND NOT EXISTS (SELECT 1 FROM shipment s "
    "WHERE s.order_id = o.order_id AND s.status = 'delivered'))",
    "refund of an order that is not cancelled": "SELECT count(*) FROM payment p JOIN orders o USING (order_id) "
    "WHERE p.status = 'refunded' AND o.status <> 'cancelled'",
}


@pytest.fixture(scope="module")
def new_database(stack_endpoints: dict[str, str]) -> Iterator[Callable[[], str]]:
    """Creates empty databases with unique names on the stack's server; drops them after the module."""
    admin_dsn = make_conninfo(stack_endpoints["SOURCE_DSN"], dbname="postgres")
    created: list[str] = []

    def create() -> str:
        name = f"workload_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_conninfo(stack_endpoints["SOURCE_DSN"], dbname=name)

    yield create
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in created:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def workload(*argv: str) -> Any:
    """Run `cdc workload ...` in-process; returns what the command returned (InitResult / RunSummary)."""
    command = typer.main.get_command(workload_commands.app)
    return command.main(args=list(argv), prog_name="cdc workload", standalone_mode=False)


def scalar(connection: psycopg.Connection[Any], query: sql.Composable | str) -> Any:
    row = connection.execute(query).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def count_rows(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        return {t: scalar(connection, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))) for t in TABLES}


def table_stats(dsn: str) -> dict[tuple[str, str], int]:
    """PostgreSQL's own count of inserted/updated/deleted rows per table."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        rows = connection.execute("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables").fetchall()
    stats: dict[tuple[str, str], int] = {}
    for name, inserted, updated, deleted in rows:
        stats.update({(name, "insert"): inserted, (name, "update"): updated, (name, "delete"): deleted})
    return stats


def dump(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as connection:
        return {
            t: connection.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                    sql.Identifier(t), sql.SQL(", ").join(map(sql.Identifier, PRIMARY_KEYS[t]))
                )
            ).fetchall()
            for t in TABLES
        }


def assert_consistent(dsn: str) -> None:
    with psycopg.connect(dsn) as connection:
        problems = {name: scalar(connection, query) for name, query in CONSISTENCY_CHECKS.items()}
    assert all(count == 0 for count in problems.values()), problems


def test_init_creates_tables_loads_sizes_and_is_idempotent(new_database: Callable[[], str]) -> None:
    dsn = new_database()
    first = workload("init", "--source-dsn", dsn, *SMALL, "--seed", "1", "--as-of", AS_OF)
    counts = count_rows(dsn)
    assert (counts["customer"], counts["product"], counts["orders"]) == (300, 60, 600)
    assert counts["order_item"] >= 600 and 0 < counts["payment"] <= 600 and 0 < counts["shipment"] <= 600
    assert first.load is not None and first.load.rows == counts and len(first.schema.created) == 6
    with psycopg.connect(dsn) as connection:
        identities: dict[str, str] = dict(
            connection.execute(
                "SELECT relname, relreplident FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            ).fetchall()
        )
        indexes = {row[0] for row in connection.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert identities == dict.fromkeys(TABLES, "f")
    assert {
        "orders_customer_id_idx",
        "order_item_product_id_idx",
        "payment_order_id_idx",
        "shipment_order_id_idx",
    } <= indexes
    assert_consistent(dsn)

    again = workload("init", "--source-dsn", dsn, *SMALL, "--seed", "1")
    assert again.load is None and again.schema.existing == tuple(TABLES) and count_rows(dsn) == counts

    appended = workload("init", "--source-dsn", dsn, "--customers", "5", "--products", "0", "--orders", "7", "--append")
    after = count_rows(dsn)
    assert (after["customer"], after["orders"]) == (305, 607) and appended.load.rows["customer"] == 5
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT max(customer_id) FROM customer").fetchone() == (305,)

    workload("init", "--source-dsn", dsn, *SMALL, "--seed", "1", "--as-of", AS_OF, "--reset")
    assert count_rows(dsn) == counts


def test_run_makes_exactly_the_requested_row_changes(new_database: Callable[[], str]) -> None:
    dsn = new_database()
    workload("init", "--source-dsn", dsn, *SMALL, "--seed", "2", "--as-of", AS_OF)
    before_counts, before_stats = count_rows(dsn), table_stats(dsn)
    summary: RunSummary = workload("run", "--source-dsn", dsn, "--changes", "1500", "--rate", "0", "--seed", "3", "-q")
    assert summary.stop_reason == "changes" and summary.changes == 1500
    assert sum(summary.changes_by_table.values()) == 1500
    after_counts = count_rows(dsn)
    for table in TABLES:
        expected = before_counts[table] + summary.count(table, "insert") - summary.count(table, "delete")
        assert after_counts[table] == expected, table
    # PostgreSQL's statistics arrive asynchronously (flushed when the backend ends or idles): poll briefly.
    deadline = time.monotonic() + 10
    while True:
        after_stats = table_stats(dsn)
        delta = {key: after_stats[key] - before_stats.get(key, 0) for key in after_stats}
        if sum(delta.values()) >= 1500 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(delta.values()) == 1500
    assert {key: value for key, value in delta.items() if value} == dict(summary.changes_by_table)
    assert_consistent(dsn)


class Recorder:
    """A run observer keeping every committed statement with its parameters."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, tuple[Any, ...]]] = []

    def transaction_committed(self, transaction: Transaction, _summary: RunSummary) -> None:
        self.log.extend((transaction.action, s.text(), s.params) for s in transaction.statements)


def test_same_seed_same_statements_and_same_data_on_two_databases(new_database: Callable[[], str]) -> None:
    catalog = load_catalog()
    results = []
    for _ in range(2):
        dsn = new_database()
        workload("init", "--source-dsn", dsn, *SMALL, "--seed", "4", "--as-of", AS_OF)
        recorder = Recorder()
        with connect(dsn) as connection:
            limits = RunLimits(changes=2000, rate=0)
            summary = build_runner(connection, catalog, seed=5, limits=limits, observer=recorder).run()
        results.append((recorder.log, dump(dsn), summary))
    (log_a, data_a, summary_a), (log_b, data_b, summary_b) = results
    assert summary_a.changes == summary_b.changes == 2000
    assert log_a == log_b
    assert data_a == data_b
    assert summary_a.changes_by_table == summary_b.changes_by_table


def test_ctrl_c_stops_after_the_current_transaction(new_database: Callable[[], str]) -> None:
    dsn = new_database()
    workload("init", "--source-dsn", dsn, *SMALL, "--seed", "6", "--as-of", AS_OF)
    before = count_rows(dsn)
    code = (
        "import sys, typer; from cli.workload_commands import app; "
        "typer.main.get_command(app).main(sys.argv[1:], prog_name='cdc workload')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "run", "--source-dsn", dsn, "--duration", "60", "--rate", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    assert "workload on" in first_line and "***" in first_line
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    assert "stopped on request after the current transaction" in output
    assert count_rows(dsn) != before
    assert_consistent(dsn)


def test_errors_are_one_clear_line(new_database: Callable[[], str], stack_endpoints: dict[str, str]) -> None:
    unreachable = "postgresql://cdc:s3cret@127.0.0.1:1/retail"
    with pytest.raises(ServiceUnavailableError) as refused:
        workload("run", "--source-dsn", unreachable, "--changes", "1")
    message = str(refused.value)
    assert "s3cret" not in message and "postgresql://cdc:***@127.0.0.1:1/retail" in message
    assert "\n" not in message

    empty = new_database()
    with pytest.raises(ConfigError, match="run `cdc workload init`"):
        workload("run", "--source-dsn", empty, "--changes", "1")
    with pytest.raises(ConfigError, match="exactly one of --duration"):
        workload("run", "--source-dsn", empty)
    with pytest.raises(ConfigError, match="--as-of"):
        workload("init", "--source-dsn", empty, "--as-of", "yesterday")
