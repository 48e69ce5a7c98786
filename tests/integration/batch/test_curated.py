"""The curated job (batch/curated_job.py): SCD2 dimensions from the landing history, facts from staging, and the
same star schema as the warehouse's procedures for the same change events.

One scenario for the module: landing files (+ the sink log, written by hand: no streaming job) for the dimension
sources, staging versions (written with pyarrow + TableStore.commit: no staging job) for the fact sources, one job
run. Each test checks its own keys of that run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from batch.curated_job import CuratedJob, CuratedReport
from batch.dimensions import DateRange
from batch.table_store import TableStore
from common.lake import LakeLocation
from common.spark import local_session
from schemas import debezium
from streaming.landing_schema import landing_schema
from tests.integration.redshift.test_scd_support import (
    CATALOG,
    OPEN,
    Change,
    Op,
    Warehouse,
    at,
    customer,
    migrated_warehouse,
    order,
    order_item,
    payment,
    product,
    shipment,
)

LOADED_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------------
# The scenario: batches of change events, in arrival order.


def c(table: str, op: Op, row: dict[str, Any], lsn: int, seconds: float) -> Change:
    return Change(table, op, row, lsn=lsn, ts=at(seconds))


@dataclass(frozen=True)
class Batch:
    """Changes that arrived together: one landing file per table in ``hour`` (its sink-log batch)."""

    hour: int
    changes: tuple[Change, ...]


BATCHES = (
    Batch(
        12,
        (
            c("customer", "r", customer(1), 100, 1),
            c("customer", "c", customer(2), 110, 1),
            c("customer", "c", customer(3), 120, 1),
            c("customer", "u", customer(3, segment="corporate"), 220, 2),
            c("customer", "u", customer(4, segment="small_business"), 330, 3),  # arrives before 130 and 230
            c("customer", "c", customer(5), 140, 5),
            c("product", "r", product(10), 1000, 1),
            c("product", "r", product(11), 1010, 1),
            c("payment", "c", payment(1, 100, "card"), 2000, 2),
            c("payment", "c", payment(2, 100, "paypal"), 2010, 2.6),
            c("payment", "c", payment(3, 101, "gift_card"), 2020, 2.7),
            c("shipment", "c", shipment(1, 100, "in_transit"), 3000, 2.8),
            c("orders", "c", order(100, 1, at(2.5)), 4000, 2.5),
            c("orders", "c", order(101, 1, at(-100)), 4010, 2.5),
            c("orders", "c", order(103, 2, at(2.5)), 4020, 2.5),
            c("order_item", "c", order_item(100, 1, 10, quantity=2, discount=Decimal("1.00")), 5000, 2.5),
            c("order_item", "c", order_item(100, 2, 11), 5010, 2.5),
            c("order_item", "c", order_item(101, 1, 11), 5020, 2.5),
            c("order_item", "c", order_item(103, 1, 10), 5030, 2.5),
        ),
    ),
    Batch(
        12,
        (
            c("customer", "u", customer(1, segment="corporate"), 200, 2),
            c("customer", "u", customer(1, segment="corporate", email="new1@example.com", updated_at=at(3)), 300, 3),
            c("customer", "d", customer(2), 210, 2),
            c("customer", "u", customer(5, segment="corporate"), 240, 4.5),  # commit clock went backwards
            # the same source position again (a replay), with different content here so that keeping it would show:
            # the first occurrence by Kafka position counts, as in the warehouse's change log
            c("customer", "u", customer(3, segment="small_business"), 220, 2),
            c("product", "u", product(10, category="outdoor", unit_price=Decimal("12.00"), name="Renamed"), 1100, 3),
            c("payment", "d", payment(3, 101, "gift_card"), 2030, 3),
            c("payment", "c", payment(4, 102, "bank_transfer"), 2040, 10),
            c("shipment", "u", shipment(1, 100, "delivered"), 3010, 4),
            c("shipment", "c", shipment(2, 102, "in_transit"), 3020, 11),
            c("orders", "c", order(102, 1, at(10)), 4030, 10),
            c("orders", "d", order(103, 2, at(2.5)), 4040, 10),
            c("orders", "c", order(104, 99, at(2.5)), 4050, 10),
            c("order_item", "d", order_item(100, 2, 11), 5040, 10),
            c("order_item", "c", order_item(102, 1, 10, quantity=3, unit_price=Decimal("12.00")), 5050, 10),
            c("order_item", "c", order_item(104, 1, 11), 5060, 10),
        ),
    ),
    Batch(  # late: an older hour folder, landed last
        11,
        (
            c("customer", "c", customer(4), 130, 1),
            c("customer", "u", customer(4, segment="corporate"), 230, 2),
            c(
                "customer",
                "u",
                customer(1, segment="corporate", email="new1@example.com", loyalty_tier="gold", updated_at=at(4)),
                400,
                4,
            ),
            c("customer", "c", customer(2, city="Chicago"), 310, 3),
            c("customer", "u", customer(5, segment="corporate", loyalty_tier="gold"), 340, 6),
            c("product", "d", product(11), 1110, 6),
        ),
    ),
)
LANDED = ("customer", "product", "payment", "shipment")
STAGED = ("orders", "order_item", "payment", "shipment")


# --------------------------------------------------------------------------------------------------------------
# Writing the lake by hand


def land(lake: LakeLocation, table: str, hour: int, changes: Sequence[Change], batch: int, first_offset: int) -> None:
    """One landing file of ``changes`` (the streaming job's columns, tz-aware times) and its sink-log batch."""
    schema = landing_schema(debezium.envelope_schema(CATALOG.table(table)))
    fields = [pa.field(column.name, column.arrow_type) for column in (*schema.row, *schema.metadata)]
    rows = []
    for offset, change in enumerate(changes, start=first_offset):
        rows.append(
            {
                **change.row,
                "_op": change.op,
                "_source_ts": change.ts.replace(tzinfo=UTC),
                "_lsn": change.lsn,
                "_tx_id": str(change.tx_id),
                "_snapshot": change.op == "r",
                "_schema_id": 1,
                "_kafka_topic": CATALOG.table(table).topic,
                "_kafka_partition": 0,
                "_kafka_offset": offset,
                "_kafka_timestamp": change.ts.replace(tzinfo=UTC),
                "_ingested_at": change.ts.replace(tzinfo=UTC),
            }
        )
    folder = Path(lake.fs_path("landing", table, "year=2026", "month=3", "day=1", f"hour={hour}"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{batch:05d}-{uuid.uuid4().hex[:8]}.c000.snappy.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), path)
    log = Path(lake.fs_path("landing", table, "_spark_metadata"))
    log.mkdir(parents=True, exist_ok=True)
    (log / str(batch)).write_text(f'v1\n{{"path":"{path.as_uri()}","size":1,"action":"add"}}')


def stage(lake: LakeLocation, table: str, changes: Sequence[Change], *, expected_version: int = 0) -> None:
    """A staging version holding each key's latest change (deleted keys with ``_deleted``), as the staging job's
    contract describes it."""
    catalog_table = CATALOG.table(table)
    latest: dict[tuple[Any, ...], Change] = {}
    for change in sorted(changes, key=lambda item: item.lsn):
        latest[tuple(change.row[k] for k in catalog_table.primary_key)] = change
    schema = landing_schema(debezium.envelope_schema(catalog_table))
    fields = [pa.field(column.name, column.arrow_type) for column in schema.row]
    fields += [
        pa.field("_op", pa.string()),
        pa.field("_source_ts", pa.timestamp("us", tz="UTC")),
        pa.field("_lsn", pa.int64()),
        pa.field("_deleted", pa.bool_()),
        pa.field("_bucket", pa.int32()),
        pa.field("_run_id", pa.string()),
        pa.field("_staged_at", pa.timestamp("us", tz="UTC")),
    ]
    rows = [
        {
            **change.row,
            "_op": change.op,
            "_source_ts": change.ts.replace(tzinfo=UTC),
            "_lsn": change.lsn,
            "_deleted": change.op == "d",
            "_bucket": 0,
            "_run_id": "test",
            "_staged_at": LOADED_AT,
        }
        for change in latest.values()
    ]
    store = TableStore(lake, "staging", table)
    relative = f"{store.new_data_folder('test')}/part-0.parquet"
    target = Path(store.folder()) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), target)
    store.commit([relative], expected_version=expected_version, run_id="test", rows=len(rows))


def write_scenario(lake: LakeLocation) -> None:
    offsets: dict[str, int] = {}
    for number, batch in enumerate(BATCHES):
        for table in LANDED:
            changes = [change for change in batch.changes if change.table == table]
            if changes:
                land(lake, table, batch.hour, changes, number, offsets.get(table, 0))
                offsets[table] = offsets.get(table, 0) + len(changes)
    for table in STAGED:
        stage(lake, table, [change for batch in BATCHES for change in batch.changes if change.table == table])


def curated(lake: LakeLocation, table: str) -> list[dict[str, Any]]:
    """The current version of a curated table, as Python rows."""
    uris = TableStore(lake, "curated", table).current_uris()
    assert uris, f"curated.{table} has no version"
    return pa.concat_tables([pq.read_table(uri) for uri in uris]).to_pylist()


def versions(lake: LakeLocation, dimension: str, key: int, *columns: str) -> list[tuple[Any, ...]]:
    """``(columns..., valid_from, valid_to, is_current, is_deleted, version_lsn)`` of one key, oldest first."""
    natural = "customer_id" if dimension == "dim_customer" else "product_id"
    rows = sorted((r for r in curated(lake, dimension) if r[natural] == key), key=lambda r: r["valid_from"])
    names = [*columns, "valid_from", "valid_to", "is_current", "is_deleted", "version_lsn"]
    return [tuple(row[name] for name in names) for row in rows]


# --------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def spark() -> SparkSession:
    # Not stopped here: getOrCreate may have returned a session another module's fixture owns.
    return local_session("cdc-curated-tests")


@dataclass(frozen=True)
class Built:
    lake: LakeLocation
    job: CuratedJob
    report: CuratedReport


@pytest.fixture(scope="module")
def built(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Built:
    lake = LakeLocation(str(tmp_path_factory.mktemp("curated") / "lake"))
    write_scenario(lake)
    job = CuratedJob(spark, lake, CATALOG, dates=DateRange(datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date()))
    job.clock = lambda: LOADED_AT
    return Built(lake, job, job.run())


# --------------------------------------------------------------------------------------------------------------
# SCD2 rules


def test_every_curated_table_is_built_once(built: Built) -> None:
    assert [(r.table, r.status, r.version) for r in built.report.tables] == [
        ("dim_customer", "built", 1),
        ("dim_product", "built", 1),
        ("dim_date", "built", 1),
        ("dim_payment_method", "built", 1),
        ("dim_shipment_status", "built", 1),
        ("fact_order_items", "built", 1),
        ("agg_daily_sales", "built", 1),
    ]
    assert built.report.tables[2].rows == 365
    row = curated(built.lake, "dim_customer")[0]
    assert list(row) == [
        "customer_key", "customer_id", "email", "first_name", "last_name", "phone", "birth_date", "segment",
        "address_line1", "city", "state", "postal_code", "country", "loyalty_tier", "created_at",
        "source_updated_at", "valid_from", "valid_to", "is_current", "is_deleted", "version_lsn", "updated_at",
    ]  # fmt: skip
    assert row["updated_at"] == LOADED_AT.replace(tzinfo=None)


def test_type2_changes_open_versions_type1_changes_update_every_version(built: Built) -> None:
    assert versions(built.lake, "dim_customer", 1, "segment", "loyalty_tier", "email", "source_updated_at") == [
        ("consumer", None, "new1@example.com", at(4), at(1), at(2), False, False, 100),
        ("corporate", None, "new1@example.com", at(4), at(2), at(4), False, False, 200),
        ("corporate", "gold", "new1@example.com", at(4), at(4), OPEN, True, False, 400),
    ]  # lsn 300 changed only email (type1): no version of its own
    assert versions(built.lake, "dim_product", 10, "category", "unit_price", "name") == [
        ("garden", Decimal("10.00"), "Renamed", at(1), at(3), False, False, 1000),
        ("outdoor", Decimal("12.00"), "Renamed", at(3), OPEN, True, False, 1100),
    ]


def test_a_delete_and_a_reinsert_open_versions(built: Built) -> None:
    assert versions(built.lake, "dim_customer", 2, "city") == [
        ("Springfield", at(1), at(2), False, False, 110),
        ("Springfield", at(2), at(3), False, True, 210),
        ("Chicago", at(3), OPEN, True, False, 310),
    ]


def test_duplicate_changes_are_ignored(built: Built) -> None:
    assert versions(built.lake, "dim_customer", 3, "segment") == [
        ("consumer", at(1), at(2), False, False, 120),
        ("corporate", at(2), OPEN, True, False, 220),
    ]


def test_out_of_order_arrival_gives_the_source_order(built: Built) -> None:
    # lsn 330 landed first (batch 0, hour 12); 130 and 230 last, in an older hour folder
    assert versions(built.lake, "dim_customer", 4, "segment") == [
        ("consumer", at(1), at(2), False, False, 130),
        ("corporate", at(2), at(3), False, False, 230),
        ("small_business", at(3), OPEN, True, False, 330),
    ]


def test_history_never_runs_backwards(built: Built) -> None:
    # lsn 240 committed "before" lsn 140 by the clock: same instant, the later change wins it
    assert versions(built.lake, "dim_customer", 5, "segment", "loyalty_tier") == [
        ("corporate", None, at(5), at(6), False, False, 240),
        ("corporate", "gold", at(6), OPEN, True, False, 340),
    ]


def test_surrogate_keys_are_hashes_of_key_and_version(built: Built, spark: SparkSession) -> None:
    rows = curated(built.lake, "dim_customer")
    expected = spark.sql("SELECT xxhash64(CAST(1 AS BIGINT), CAST(400 AS BIGINT)) & 9223372036854775807 AS k").first()
    assert expected is not None
    assert next(r["customer_key"] for r in rows if r["version_lsn"] == 400) == expected["k"]
    assert len({r["customer_key"] for r in rows}) == len(rows) and all(r["customer_key"] >= 0 for r in rows)


# --------------------------------------------------------------------------------------------------------------
# Small dimensions, facts, aggregate


def test_small_dimensions(built: Built) -> None:
    methods = {(r["method_name"], r["payment_type"]) for r in curated(built.lake, "dim_payment_method")}
    assert methods == {
        ("card", "card"),
        ("paypal", "digital_wallet"),
        ("gift_card", "stored_value"),
        ("bank_transfer", "bank"),
    }
    statuses = {(r["status_name"], r["status_category"]) for r in curated(built.lake, "dim_shipment_status")}
    assert statuses == {("in_transit", "in_progress"), ("delivered", "complete")}
    day = next(r for r in curated(built.lake, "dim_date") if r["date_key"] == 20260301)
    assert day == {
        "date_key": 20260301, "full_date": at(0).date(), "calendar_year": 2026, "calendar_quarter": 1,
        "calendar_month": 3, "month_name": "March", "day_of_month": 1, "day_of_week": 0, "day_name": "Sunday",
        "week_of_year": 9, "is_weekend": True,
    }  # fmt: skip


def test_facts_resolve_the_version_valid_at_order_ts(built: Built) -> None:
    customer_lsn = {r["customer_key"]: r["version_lsn"] for r in curated(built.lake, "dim_customer")}
    product_lsn = {r["product_key"]: r["version_lsn"] for r in curated(built.lake, "dim_product")}
    methods = {r["payment_method_key"]: r["method_name"] for r in curated(built.lake, "dim_payment_method")}
    facts = {(r["order_id"], r["line_no"]): r for r in curated(built.lake, "fact_order_items")}
    assert sorted(facts) == [(100, 1), (101, 1), (102, 1), (104, 1)]  # deleted line 100/2 and order 103 are gone
    line = facts[(100, 1)]
    assert (customer_lsn[line["customer_key"]], product_lsn[line["product_key"]]) == (200, 1000)
    assert (line["payment_method"], methods[line["payment_method_key"]], line["shipment_status"]) == (
        "paypal",
        "paypal",
        "delivered",
    )
    assert (line["line_total"], line["order_date_key"]) == (Decimal("19.00"), 20260301)
    early = facts[(101, 1)]  # ordered before the customer's first known version: that first version
    assert customer_lsn[early["customer_key"]] == 100 and early["payment_method"] is None
    late = facts[(102, 1)]
    assert (customer_lsn[late["customer_key"]], product_lsn[late["product_key"]]) == (400, 1100)
    assert late["line_total"] == Decimal("36.00")
    assert facts[(104, 1)]["customer_key"] is None  # customer 99 is unknown


def test_daily_sales(built: Built) -> None:
    rows = {r["category"]: r for r in curated(built.lake, "agg_daily_sales")}
    assert {
        k: (r["date_key"], r["orders"], r["lines"], r["units"], r["revenue"], r["discount"]) for k, r in rows.items()
    } == {
        "garden": (20260301, 3, 3, 4, Decimal("39.00"), Decimal("1.00")),
        "outdoor": (20260301, 1, 1, 3, Decimal("36.00"), Decimal("0.00")),
    }


# --------------------------------------------------------------------------------------------------------------
# The warehouse builds the same star schema from the same events


DIMENSION_VALUES = {
    "dim_customer": [
        "customer_id", "email", "first_name", "last_name", "phone", "birth_date", "segment", "address_line1",
        "city", "state", "postal_code", "country", "loyalty_tier", "created_at", "source_updated_at",
    ],
    "dim_product": [
        "product_id", "sku", "name", "description", "category", "subcategory", "brand", "unit_price", "cost",
        "active", "created_at", "source_updated_at",
    ],
}  # fmt: skip
VERSION_COLUMNS = ["valid_from", "valid_to", "is_current", "is_deleted", "version_lsn"]


@pytest.fixture(scope="module")
def warehouse(stack_endpoints: dict[str, str]) -> Iterator[Warehouse]:
    with migrated_warehouse(stack_endpoints, "curated") as dsn, Warehouse.open(dsn) as wh:
        for batch in BATCHES:  # the same events, in the same arrival order, one load per batch
            wh.publish_all(batch.changes)
            wh.call()
        yield wh


@pytest.mark.parametrize("dimension", sorted(DIMENSION_VALUES))
def test_dimensions_equal_the_warehouses(built: Built, warehouse: Warehouse, dimension: str) -> None:
    columns = [*DIMENSION_VALUES[dimension], *VERSION_COLUMNS]
    expected = sorted(
        (tuple(row) for row in warehouse.conn.execute(f"SELECT {', '.join(columns)} FROM analytics.{dimension}")),
        key=repr,
    )
    actual = sorted((tuple(row[name] for name in columns) for row in curated(built.lake, dimension)), key=repr)
    assert actual == expected
    assert len(actual) == {"dim_customer": 13, "dim_product": 4}[dimension]


def test_facts_equal_the_warehouses(built: Built, warehouse: Warehouse) -> None:
    measures = [
        "order_id", "line_no", "customer_id", "product_id", "order_ts", "order_date_key", "order_status",
        "channel", "currency", "payment_method", "shipment_status", "quantity", "unit_price", "discount", "line_total",
    ]  # fmt: skip
    rows = warehouse.conn.execute(
        f"SELECT {', '.join('f.' + m for m in measures)}, c.version_lsn, p.version_lsn, m.method_name, s.status_name "
        "FROM analytics.fact_order_items f "
        "LEFT JOIN analytics.dim_customer c ON c.customer_key = f.customer_key "
        "LEFT JOIN analytics.dim_product p ON p.product_key = f.product_key "
        "LEFT JOIN analytics.dim_payment_method m ON m.payment_method_key = f.payment_method_key "
        "LEFT JOIN analytics.dim_shipment_status s ON s.shipment_status_key = f.shipment_status_key"
    ).fetchall()
    customer_lsn = {r["customer_key"]: r["version_lsn"] for r in curated(built.lake, "dim_customer")}
    product_lsn = {r["product_key"]: r["version_lsn"] for r in curated(built.lake, "dim_product")}
    methods = {r["payment_method_key"]: r["method_name"] for r in curated(built.lake, "dim_payment_method")}
    statuses = {r["shipment_status_key"]: r["status_name"] for r in curated(built.lake, "dim_shipment_status")}
    lake = [
        (
            *(r[m] for m in measures),
            customer_lsn.get(r["customer_key"]),
            product_lsn.get(r["product_key"]),
            methods.get(r["payment_method_key"]),
            statuses.get(r["shipment_status_key"]),
        )
        for r in curated(built.lake, "fact_order_items")
    ]
    assert sorted(lake, key=repr) == sorted((tuple(row) for row in rows), key=repr)


# --------------------------------------------------------------------------------------------------------------
# Re-runs (last: they add versions to the module's lake)


def test_a_rerun_without_new_input_does_nothing(built: Built) -> None:
    before = {r.table: TableStore(built.lake, "curated", r.table).current() for r in built.report.tables}
    report = built.job.run()
    assert report.up_to_date and report.summary() == "up to date (7 tables)"
    assert {r.table: TableStore(built.lake, "curated", r.table).current() for r in report.tables} == before


def test_new_staging_input_rebuilds_only_what_depends_on_it(built: Built) -> None:
    orders = [change for batch in BATCHES for change in batch.changes if change.table == "orders"]
    stage(
        built.lake,
        "orders",
        [*orders, c("orders", "u", order(104, 99, at(2.5), status="paid"), 4060, 20)],
        expected_version=1,
    )
    first = built.job.run(steps={"dimensions"})
    assert {r.table: r.status for r in first.tables} == {
        "dim_customer": "up to date",
        "dim_product": "up to date",
        "dim_date": "built",  # its range follows the staged orders
        "dim_payment_method": "up to date",
        "dim_shipment_status": "up to date",
    }
    second = built.job.run(steps={"aggregates", "facts"})
    assert [(r.table, r.status, r.version) for r in second.tables] == [
        ("fact_order_items", "built", 2),
        ("agg_daily_sales", "built", 2),
    ]
    paid = {r["order_id"]: r["order_status"] for r in curated(built.lake, "fact_order_items")}
    assert paid[104] == "paid"
    assert built.job.run().up_to_date
