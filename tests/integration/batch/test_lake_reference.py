"""The batch layer against an independent reference, on a workload of at least 50,000 source changes.

Nothing is mocked: workload at the source → native capture → Avro topics → the streaming landing job
(available-now) → the batch DAG (`cdc batch run`'s steps, in-process on the package's Spark session) → the lake;
and from the same topics the warehouse: JSON bridge → local MV refresh → procedures. Then:

1. **Staging = the source's current state.** For every catalog table, the committed staging version (read with
   DuckDB as `cdc query` reads it) holds every live source row with equal values, every key deleted at the source
   flagged ``_deleted`` with its delete's before image, and nothing else. Rows breaking a catalog quality rule are
   scripted on purpose (the workload never writes one: checked); exactly their keys are missing from staging and
   in the committed quarantine with the rule's name.
2. **The star schema answers like plain SQL on the source.** Per order line, ``fact_order_items`` equals a plain
   SQL query of the source (order_item ⋈ orders, the latest payment and shipment, line_total): no line lost,
   duplicated or altered. Per line, ``customer_key``/``product_key`` point at the version the change history says
   was valid at ``order_ts`` (the history reconstructed from the Avro events in Python, independently of the lake
   and the warehouse SQL). And a report — lines, orders, units, revenue and discount per order date, customer
   segment and city (type2) and product category (type2) — computed by DuckDB over the curated star equals the
   same report in plain SQL on the source database joined to that reconstructed history (loaded there as two
   temporary tables); ``agg_daily_sales`` equals its per-date-and-category roll-up. The test checks it has teeth:
   the report differs when every line takes its member's first or its current version instead.
3. **The lake's SCD2 dimensions equal the warehouse's** built from the same events (compared on natural key and
   valid_from with every attribute, validity, is_current/is_deleted and version_lsn: surrogate keys differ by
   design), after checking the warehouse's against the change history; so do the facts, compared through the
   version_lsn of the dimension rows they point to.

The workload never deletes or updates order lines nor deletes orders: a scripted tail does (plus the rule-breaking
rows), and its last transaction marks the source position the capture must confirm.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from pyspark.sql import SparkSession

from batch.dag import run_dag
from batch.query_engine import LakeQueryEngine
from batch.staging_files import committed_quarantine_files
from batch.staging_schema import DELETED
from cli.batch_commands import dag_steps
from cli.warehouse_commands import template_parameters
from common.lake import LakeLocation
from redshift.connections import PsycopgSession
from redshift.refresh import MvRefresher
from redshift.runner import WarehouseRunner
from redshift.settings import RedshiftSettings
from schemas.catalog import Catalog, Table
from tests.integration.batch.test_curated import DIMENSION_VALUES, VERSION_COLUMNS
from tests.integration.redshift.test_bridge import run_bridge
from tests.integration.redshift.test_bridge_crash import wait_for_inactive_slots
from tests.integration.redshift.test_warehouse_e2e import (
    OPEN,
    Found,
    Source,
    Version,
    check_dimensions,
    check_run,
    values_of,
    version_at,
    wait_captured,
)
from tests.support.kafka import Record, read_topics
from tests.support.landing import land, populate, run_workload
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

WORKLOAD_CHANGES = 50_000
BAD_ID = 9_000_000  # far above the workload's ids: the scripted rule-breaking rows
FIRST_VERSION_FROM = datetime(1900, 1, 1)  # V006: the first version of a key also covers the time before it
Key = tuple[Any, ...]


# --------------------------------------------------------------------------------------------------------------
# The source: what the workload does not do


def scripted_tail(source: Source) -> dict[str, Any]:
    """A deleted line, a deleted order (with its lines), an updated line, and two rows breaking quality rules
    (a customer with an invalid email, a product with a negative cost; neither referenced by anything)."""
    done: dict[str, Any] = {}
    done["line_deleted"] = source.value(
        "SELECT order_id FROM order_item GROUP BY order_id HAVING COUNT(*) >= 2 ORDER BY order_id DESC LIMIT 1"
    )
    done["order_deleted"] = source.value(  # placed: no payment or shipment refers to it
        "SELECT order_id FROM orders WHERE status = 'placed' AND order_id <> %s ORDER BY order_id DESC LIMIT 1",
        (done["line_deleted"],),
    )
    done["line_updated"] = source.value("SELECT MIN(order_id) FROM order_item")
    with source.transaction() as conn:
        conn.execute("DELETE FROM order_item WHERE order_id = %s AND line_no = 2", (done["line_deleted"],))
    with source.transaction() as conn:
        conn.execute("DELETE FROM order_item WHERE order_id = %s", (done["order_deleted"],))
        conn.execute("DELETE FROM orders WHERE order_id = %s", (done["order_deleted"],))
    with source.transaction() as conn:
        conn.execute(
            "UPDATE order_item SET quantity = quantity + 2 WHERE order_id = %s AND line_no = 1", (done["line_updated"],)
        )
    with source.transaction() as conn:
        conn.execute(
            "INSERT INTO customer SELECT %s, 'not-an-email', first_name, last_name, phone, birth_date, segment, "
            "address_line1, city, state, postal_code, country, loyalty_tier, created_at, updated_at "
            "FROM customer ORDER BY customer_id LIMIT 1",
            (BAD_ID,),
        )
        conn.execute(
            "INSERT INTO product SELECT %s, 'BAD-SKU-1', name, description, category, subcategory, brand, "
            "unit_price, -1.00, active, created_at, updated_at FROM product ORDER BY product_id LIMIT 1",
            (BAD_ID,),
        )
    done["quarantined"] = {"customer": {(BAD_ID,): "pattern:email"}, "product": {(BAD_ID,): "range:cost"}}
    return done


def source_rows(source: Source, table: Table) -> dict[Key, tuple[Any, ...]]:
    """The source table's current rows by primary key, catalog columns in catalog order."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
        sql.Identifier(table.source_schema, table.name),
    )
    positions = key_positions(table)
    return {tuple(row[p] for p in positions): tuple(row) for row in source.conn.execute(query)}


def key_positions(table: Table) -> list[int]:
    names = [column.name for column in table.columns]
    return [names.index(name) for name in table.primary_key]


def last_events(table: Table, records: list[Record]) -> dict[Key, dict[str, Any]]:
    """Per key, the table's last change event (by source position; snapshot reads included, tombstones not)."""
    last: dict[Key, dict[str, Any]] = {}
    for record in sorted(
        (r for r in records if r.topic == table.topic and r.value is not None),
        key=lambda r: (r.value["source"]["lsn"], r.partition, r.offset),
    ):
        assert record.value is not None
        last[tuple(record.key[name] for name in table.primary_key)] = record.value
    return last


# --------------------------------------------------------------------------------------------------------------
# The lake


@contextmanager
def lake_engine(lake: LakeLocation) -> Iterator[LakeQueryEngine]:
    engine = LakeQueryEngine(lake, zones=("staging", "curated"))
    try:
        yield engine
    finally:
        engine.close()


def lake_rows(engine: LakeQueryEngine, query: str) -> list[tuple[Any, ...]]:
    result = engine.query(query)
    return list(zip(*(column.to_pylist() for column in result.columns), strict=True))


def check_staging(
    engine: LakeQueryEngine,
    lake: LakeLocation,
    catalog: Catalog,
    source: Source,
    records: list[Record],
    quarantined: dict[str, dict[Key, str]],
) -> dict[str, tuple[int, int]]:
    """Check 1 (see the module doc); returns (live, deleted) key counts per table."""
    counts = {}
    for table in catalog.tables:
        live = source_rows(source, table)
        events = last_events(table, records)
        deleted = {key: event for key, event in events.items() if event["op"] == "d"}
        assert set(deleted).isdisjoint(live), table.name
        assert set(live) <= set(events), f"{table.name}: live rows the capture never saw"
        # the capture's last image of each live key is the source row (else the source would be no reference)
        stale = [key for key, row in live.items() if values_of(table.columns, events[key]["after"]) != row]
        assert stale == [], f"{table.name}: last captured images differ from the source for {stale[:5]}"

        # the committed quarantine holds exactly the scripted rule-breaking rows, with their rule
        bad = quarantined.get(table.name, {})
        held = [row for path in committed_quarantine_files(lake, table.name) for row in pq.read_table(path).to_pylist()]
        assert len(held) == len(bad), (table.name, held[:3])
        assert {
            tuple(row[k] for k in table.primary_key): (tuple(row[c.name] for c in table.columns), row["_rules"])
            for row in held
        } == {key: (live[key], [rule]) for key, rule in bad.items()}, table.name

        columns = ", ".join(f'"{column.name}"' for column in table.columns)
        staged: dict[Key, tuple[tuple[Any, ...], bool]] = {}
        positions = key_positions(table)
        for *values, flag in lake_rows(engine, f'SELECT {columns}, "{DELETED}" FROM staging."{table.name}"'):
            key = tuple(values[p] for p in positions)
            assert key not in staged, f"{table.name}: two staged rows of {key}"
            staged[key] = (tuple(values), flag)
        expected = {key: (row, False) for key, row in live.items() if key not in bad}
        expected |= {key: (values_of(table.columns, event["before"]), True) for key, event in deleted.items()}
        missing, extra = sorted(set(expected) - set(staged)), sorted(set(staged) - set(expected))
        assert (missing, extra) == ([], []), f"{table.name}: keys missing {missing[:5]}, extra {extra[:5]}"
        wrong = [(key, staged[key], value) for key, value in expected.items() if staged[key] != value]
        assert wrong == [], f"{table.name}: {len(wrong)} staged rows differ, e.g. {wrong[:2]}"
        counts[table.name] = (len(live) - len(bad), len(deleted))
    return counts


# --------------------------------------------------------------------------------------------------------------
# The reference history in the source database, and the report


REFERENCE_ATTRIBUTES = {"customer": ("segment", "city"), "product": ("category",)}


def load_reference_history(source: Source, catalog: Catalog, expected: dict[str, dict[int, list[Version]]]) -> None:
    """``ref_<dimension>``: the versions the change history implies (key, resolve_from, valid_to, version_lsn, the
    report's type2 attributes), as temporary tables of the source session; the first version resolves from 1900."""
    for name, attributes in REFERENCE_ATTRIBUTES.items():
        table = catalog.table(name)
        type2 = [column.name for column in table.scd_columns(2)]
        key = table.primary_key[0]
        types = {"segment": "varchar(32)", "city": "varchar(100)", "category": "varchar(64)"}
        columns = ", ".join(f"{attribute} {types[attribute]}" for attribute in attributes)
        source.conn.execute(
            f"CREATE TEMP TABLE ref_{name} ({key} bigint, resolve_from timestamp, valid_to timestamp, "
            f"version_lsn bigint, {columns})"
        )
        with source.conn.cursor().copy(f"COPY ref_{name} FROM STDIN") as copy:
            for natural, versions in expected[name].items():
                for number, version in enumerate(versions):
                    copy.write_row(
                        (
                            natural,
                            FIRST_VERSION_FROM if number == 0 else version.valid_from,
                            version.valid_to,
                            version.version_lsn,
                            *(version.type2[type2.index(attribute)] for attribute in attributes),
                        )
                    )
        source.conn.execute(f"ANALYZE ref_{name}")


def as_of(table: str, key: str, outer: str, rule: str) -> str:
    """The join of a reference version: the one valid at order_ts (the facts' rule), or, for the check that the
    report tells versions apart, the first or the current one."""
    alias = table[0]
    conditions = {
        "as of": f"o.order_ts >= {alias}.resolve_from AND o.order_ts < {alias}.valid_to",
        "first": f"{alias}.resolve_from = TIMESTAMP '1900-01-01'",
        "current": f"{alias}.valid_to = TIMESTAMP '9999-12-31'",
    }
    return f"LEFT JOIN ref_{table} {alias} ON {alias}.{key} = {outer}.{key} AND {conditions[rule]}"


def source_report(source: Source, rule: str = "as of") -> Counter[tuple[Any, ...]]:
    """Lines, orders, units, revenue, discount per order date, segment, city, category: plain SQL on the source
    joined to the reference history."""
    rows = source.conn.execute(
        "SELECT o.order_ts::date, c.segment, c.city, p.category, COUNT(*), COUNT(DISTINCT o.order_id), "
        "SUM(i.quantity), SUM(i.quantity * i.unit_price - i.discount), SUM(i.discount) "
        "FROM order_item i JOIN orders o ON o.order_id = i.order_id "
        f"{as_of('customer', 'customer_id', 'o', rule)} {as_of('product', 'product_id', 'i', rule)} "
        "GROUP BY 1, 2, 3, 4"
    ).fetchall()
    return Counter(tuple(row) for row in rows)


LAKE_REPORT = (
    "SELECT d.full_date, c.segment, c.city, p.category, COUNT(*), COUNT(DISTINCT f.order_id), SUM(f.quantity), "
    "SUM(f.line_total), SUM(f.discount) FROM curated.fact_order_items f "
    "JOIN curated.dim_date d ON d.date_key = f.order_date_key "
    "LEFT JOIN curated.dim_customer c ON c.customer_key = f.customer_key "
    "LEFT JOIN curated.dim_product p ON p.product_key = f.product_key "
    "GROUP BY ALL"
)
DAILY_SALES = (
    "SELECT CAST(to_char(o.order_ts, 'YYYYMMDD') AS INT), p.category, COUNT(DISTINCT o.order_id), COUNT(*), "
    "SUM(i.quantity), SUM(i.quantity * i.unit_price - i.discount), SUM(i.discount) "
    f"FROM order_item i JOIN orders o ON o.order_id = i.order_id {as_of('product', 'product_id', 'i', 'as of')} "
    "GROUP BY 1, 2"
)
FACT_LINES = (
    "SELECT i.order_id, i.line_no, o.customer_id, i.product_id, o.order_ts, "
    "CAST(to_char(o.order_ts, 'YYYYMMDD') AS INT), o.status, o.channel, o.currency, pay.method, ship.status, "
    "i.quantity, i.unit_price, i.discount, CAST(i.quantity * i.unit_price - i.discount AS DECIMAL(18, 2)) "
    "FROM order_item i JOIN orders o ON o.order_id = i.order_id "
    "LEFT JOIN LATERAL (SELECT method FROM payment WHERE order_id = o.order_id ORDER BY payment_id DESC LIMIT 1) pay "
    "ON TRUE "
    "LEFT JOIN LATERAL (SELECT status FROM shipment WHERE order_id = o.order_id ORDER BY shipment_id DESC LIMIT 1) "
    "ship ON TRUE"
)
FACT_COLUMNS = (
    "order_id", "line_no", "customer_id", "product_id", "order_ts", "order_date_key", "order_status", "channel",
    "currency", "payment_method", "shipment_status", "quantity", "unit_price", "discount", "line_total",
)  # fmt: skip


def check_facts(engine: LakeQueryEngine, source: Source, expected: dict[str, dict[int, list[Version]]]) -> Counter[str]:
    """Check 2 (see the module doc); returns the lines per kind of version they resolved to."""
    reference = {tuple(row[:2]): tuple(row) for row in source.conn.execute(FACT_LINES)}
    facts = lake_rows(
        engine,
        f"SELECT {', '.join('f.' + c for c in FACT_COLUMNS)}, c.customer_id, c.version_lsn, p.product_id, "
        "p.version_lsn FROM curated.fact_order_items f "
        "LEFT JOIN curated.dim_customer c ON c.customer_key = f.customer_key "
        "LEFT JOIN curated.dim_product p ON p.product_key = f.product_key",
    )
    lines = {tuple(row[:2]): row for row in facts}
    assert len(lines) == len(facts), "duplicated fact lines"
    assert set(lines) == set(reference), (
        f"lost {sorted(set(reference) - set(lines))[:5]}, unexpected {sorted(set(lines) - set(reference))[:5]}"
    )
    width = len(FACT_COLUMNS)
    wrong = [(k, lines[k][:width], row) for k, row in reference.items() if lines[k][:width] != row]
    assert wrong == [], f"{len(wrong)} fact lines differ from the source, e.g. {wrong[:2]}"

    # the version each line points to is the one the change history says was valid at order_ts
    pointing = Counter[str]()
    wrong_versions = []
    for line, row in lines.items():
        customer_id, product_id, order_ts = row[2], row[3], row[4]
        for name, natural, pointed in (
            ("customer", customer_id, row[width : width + 2]),
            ("product", product_id, row[width + 2 :]),
        ):
            versions = expected[name][natural]
            number = version_at(versions, order_ts)
            if pointed != (natural, versions[number].version_lsn):
                wrong_versions.append((line, name, pointed, versions[number]))
            pointing[f"{name} {'first' if number == 0 else 'later'}"] += 1
            pointing[f"{name} {'current' if versions[number].valid_to == OPEN else 'past'}"] += 1
    assert wrong_versions == [], f"{len(wrong_versions)} wrong dimension versions, e.g. {wrong_versions[:3]}"
    for kind in ("customer later", "customer past", "product later", "product past"):
        assert pointing[kind] >= 20, f"too few lines resolve to a {kind} version to tell versions apart: {pointing}"

    # the report, the lake's aggregate, and that the report tells versions apart
    report = source_report(source)
    assert Counter(lake_rows(engine, LAKE_REPORT)) == report
    assert source_report(source, "first") != report and source_report(source, "current") != report
    daily = Counter(tuple(row) for row in source.conn.execute(DAILY_SALES))
    aggregate = lake_rows(
        engine, "SELECT date_key, category, orders, lines, units, revenue, discount FROM curated.agg_daily_sales"
    )
    assert Counter(aggregate) == daily
    return pointing


# --------------------------------------------------------------------------------------------------------------
# Lake against warehouse


def differences(lake: Counter[Any], warehouse: Counter[Any]) -> tuple[list[Any], list[Any]]:
    """A few rows only the lake has, and a few only the warehouse has."""
    return list((lake - warehouse).elements())[:3], list((warehouse - lake).elements())[:3]


def check_against_warehouse(engine: LakeQueryEngine, wh: psycopg.Connection[Any]) -> None:
    """Check 3 (see the module doc)."""
    for dimension, values in DIMENSION_VALUES.items():
        columns = ", ".join([*values, *VERSION_COLUMNS])
        warehouse = Counter(tuple(row) for row in wh.execute(f"SELECT {columns} FROM analytics.{dimension}"))
        lake = Counter(lake_rows(engine, f"SELECT {columns} FROM curated.{dimension}"))
        assert lake == warehouse, (
            dimension,
            list((lake - warehouse).items())[:3],
            list((warehouse - lake).items())[:3],
        )
    columns = ", ".join(f"f.{c}" for c in FACT_COLUMNS)
    joins = (
        "LEFT JOIN {s}.dim_customer c ON c.customer_key = f.customer_key "
        "LEFT JOIN {s}.dim_product p ON p.product_key = f.product_key "
        "LEFT JOIN {s}.dim_payment_method m ON m.payment_method_key = f.payment_method_key "
        "LEFT JOIN {s}.dim_shipment_status s ON s.shipment_status_key = f.shipment_status_key"
    )
    query = (
        f"SELECT {columns}, c.version_lsn, p.version_lsn, m.method_name, s.status_name FROM {{s}}.fact_order_items f "
    )
    warehouse = Counter(tuple(row) for row in wh.execute((query + joins).format(s="analytics")))
    lake = Counter(lake_rows(engine, (query + joins).format(s="curated")))
    assert lake == warehouse, differences(lake, warehouse)


# --------------------------------------------------------------------------------------------------------------
# The test


def test_the_lake_equals_the_source_and_the_warehouse(
    stack_endpoints: dict[str, str], spark: SparkSession, tmp_path: Path
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        timings[name] = time.monotonic() - since
        return time.monotonic()

    catalog, catalog_path = catalog_copy(tmp_path)
    bootstrap, registry = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"]
    lake = LakeLocation(str(tmp_path / "lake"))
    group = f"lakeref-{uuid.uuid4().hex[:8]}"
    with (
        isolated_database(stack_endpoints["SOURCE_DSN"], "lakeref") as source_dsn,
        isolated_database(stack_endpoints["WAREHOUSE_DSN"], "lakerefwh") as warehouse_dsn,
    ):
        create_source_tables(source_dsn, catalog)
        populate(source_dsn, catalog_path, customers=1000, products=150, orders=1000)
        source = Source(source_dsn)
        wh = psycopg.connect(warehouse_dsn, autocommit=True)
        refresher_conn = psycopg.connect(warehouse_dsn, autocommit=True)
        try:
            mark = lap("setup", started)
            capture = native_capture(
                source_dsn, catalog, stack_endpoints, tmp_path / "state.json", slot=f"cdc_{group.replace('-', '_')}",
                partitions=2,
            )  # fmt: skip
            try:
                capture.wait_for(events=1)
                run_workload(source_dsn, catalog_path, changes=WORKLOAD_CHANGES, seed=31)
                done = scripted_tail(source)
                mark = lap("workload", mark)
                wait_captured(capture, source_dsn, source.mark)
            finally:
                capture.close()
                wait_for_inactive_slots(source_dsn)
            records = read_topics(bootstrap, registry, [table.topic for table in catalog.tables])
            changes = sum(1 for r in records if r.value is not None and r.value["op"] in ("c", "u", "d"))
            snapshot = sum(1 for r in records if r.value is not None and r.value["op"] == "r")
            assert changes >= WORKLOAD_CHANGES, changes
            mark = lap("capture", mark)

            # the lake: landing (available-now), then the batch DAG
            progress = land(spark, stack_endpoints, catalog, lake)
            assert sum(p.rows for p in progress) == changes + snapshot
            assert sum(p.dead_letters for p in progress) == 0
            mark = lap("landing", mark)
            results = run_dag(dag_steps(spark, lake, catalog, None), wait_seconds=0.5)
            assert all(result.ok for result in results), [(r.name, r.summary) for r in results if not r.ok]
            mark = lap("batch", mark)

            # the warehouse, from the same topics
            runner = WarehouseRunner(
                connect=lambda: PsycopgSession.connect(warehouse_dsn),
                dialect="postgres",
                catalog=catalog,
                parameters=template_parameters(RedshiftSettings(dialect="postgres"), catalog, bootstrap, None),
            )
            assert runner.migrate().applied
            bridged = run_bridge(stack_endpoints, catalog_path, tmp_path, group=group, stop_when_idle=0.5)
            assert bridged.dead_letters == 0
            refresher = MvRefresher(refresher_conn, {"bootstrap.servers": bootstrap}, catalog)
            check_run(runner.run_once(lambda: refresher.refresh().summary()))
            mark = lap("warehouse", mark)

            # the checks
            versions: dict[str, Found] = check_dimensions(catalog, records, source, wh)
            expected = {name: found[0] for name, found in versions.items()}
            load_reference_history(source, catalog, expected)
            with lake_engine(lake) as engine:
                counts = check_staging(engine, lake, catalog, source, records, done["quarantined"])
                pointing = check_facts(engine, source, expected)
                check_against_warehouse(engine, wh)
            lap("checks", mark)
        finally:
            refresher_conn.close()
            wh.close()
            source.close()
    timings["total"] = time.monotonic() - started
    print(
        f"lake reference: {changes:,} changes + {snapshot:,} snapshot rows captured, "
        f"lines resolving to {dict(pointing)}, "
        f"staging (live, deleted) {counts}; " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
    )
