"""The star-schema reports (`cdc warehouse report`, the demo's last warehouse step) and the local reset, on a
migrated warehouse of the stack's PostgreSQL fed with known change events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from cli import main as cli_main
from cli.main import app
from redshift.connections import PsycopgSession
from redshift.reports import star_schema_report
from redshift.runner import reset_warehouse
from tests.integration.redshift.test_scd_support import (
    Change,
    Warehouse,
    at,
    customer,
    migrated_warehouse,
    order,
    order_item,
    product,
)
from tests.support.sourcedb import isolated_database


@pytest.fixture(scope="module")
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with migrated_warehouse(stack_endpoints, "reports") as dsn:
        yield dsn


@pytest.fixture
def loaded(warehouse_dsn: str) -> Iterator[Warehouse]:
    """Customer 1 with three versions (the last a delete), customer 2 with one; one order of two lines."""
    with Warehouse.open(warehouse_dsn) as wh:
        wh.publish_all(
            [
                Change("customer", "c", customer(1, segment="consumer"), lsn=100, ts=at(1)),
                Change("customer", "c", customer(2, segment="smb"), lsn=110, ts=at(2)),
                Change("product", "c", product(7), lsn=120, ts=at(3)),
                Change("customer", "u", customer(1, segment="enterprise"), lsn=200, ts=at(10)),
                Change("orders", "c", order(50, 2, at(20), status="paid"), lsn=300, ts=at(20)),
                Change("order_item", "c", order_item(50, 1, 7, quantity=2), lsn=301, ts=at(20)),
                Change("order_item", "c", order_item(50, 2, 7, discount=Decimal("1.50")), lsn=302, ts=at(20)),
                Change("customer", "d", customer(1, segment="enterprise"), lsn=400, ts=at(30)),
            ]
        )
        wh.call()
        yield wh


def test_the_reports_show_versions_history_and_fact_totals(loaded: Warehouse) -> None:
    session = PsycopgSession(loaded.conn)
    summary, history, facts = star_schema_report(session, "postgres", customers=1)

    assert dict(zip(summary.columns, summary.rows[0], strict=True)) == {
        "customers": 2,
        "versions": 4,  # customer 1: consumer, enterprise, deleted; customer 2: one
        "current_rows": 1,
        "deleted_customers": 1,
    }
    assert [(row[0], row[1], row[6], row[7]) for row in history.rows] == [
        (1, "consumer", False, False),
        (1, "enterprise", False, False),
        (1, "enterprise", True, True),
    ]
    valid_from = [row[4] for row in history.rows]
    valid_to = [row[5] for row in history.rows]
    assert valid_to[:-1] == valid_from[1:] and valid_to[-1] == datetime(9999, 12, 31)
    assert len(facts.rows) == 1
    assert dict(zip(facts.columns, facts.rows[0], strict=True)) == {
        "order_status": "paid",
        "orders": 1,
        "lines": 2,
        "units": 3,
        "revenue": Decimal("28.50"),  # 2 x 10.00 + 1 x 10.00 - 1.50
        "unresolved_lines": 0,
    }


def test_cdc_warehouse_report_prints_them(loaded: Warehouse, warehouse_dsn: str) -> None:
    result = CliRunner().invoke(
        app, ["warehouse", "report", "--customers", "2", "--warehouse-dsn", warehouse_dsn], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "customer history" in result.output
    assert "enterprise" in result.output and "smb" in result.output
    assert "28.50" in result.output and "open" in result.output


def test_cdc_warehouse_report_names_a_missing_migration(
    stack_endpoints: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with isolated_database(stack_endpoints["WAREHOUSE_DSN"], "unmigrated") as dsn:
        code = cli_main.main(["warehouse", "report", "--warehouse-dsn", dsn])
    error = capsys.readouterr().err
    assert code == 2
    assert "no analytics.dim_customer: run `cdc warehouse migrate` first" in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_reset_warehouse_leaves_nothing_for_the_next_migrate(stack_endpoints: dict[str, str]) -> None:
    with migrated_warehouse(stack_endpoints, "reset") as dsn, Warehouse.open(dsn) as wh:
        wh.publish(Change("customer", "c", customer(1), lsn=100, ts=at(1)))
        wh.call()
        session = PsycopgSession(wh.conn)
        session.execute("CREATE TABLE IF NOT EXISTS public.schema_migrations (version INT)")
        reset_warehouse(session)
        left = wh.conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'analytics') OR table_name IN "
            "('schema_migrations', 'warehouse_runs', 'warehouse_run_counts')"
        ).fetchall()
        schemas = wh.conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname IN ('staging', 'analytics')"
        ).fetchall()
    assert left == [] and schemas == []
