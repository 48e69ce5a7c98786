"""The staging job on a local lake whose landing zone is written by hand, as the stream's file sink lays it out.

Landing files are Parquet with the streaming job's columns for the table (``streaming.landing_schema``), in hour
folders, listed by a sink log ``_spark_metadata/N``; the streaming job itself does not run.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from batch.staging_files import committed_quarantine_files
from batch.staging_job import StagingJob, StagingReport
from batch.staging_schema import bucket_of_path, staging_columns
from batch.table_store import TableStore, TableVersion
from common.lake import LakeLocation
from schemas.catalog import Catalog, Table, load_catalog
from schemas.debezium import envelope_schema
from streaming.landing_schema import landing_schema

CATALOG: Catalog = load_catalog()
CUSTOMER = CATALOG.table("customer")
ORDERS = CATALOG.table("orders")
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
RUN_METADATA = ("_run_id", "_staged_at", "_quarantined_at")


def customer(customer_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "email": f"c{customer_id}@shop.io",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": None,
        "birth_date": date(1990, 5, 17),
        "segment": "consumer",
        "address_line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "loyalty_tier": None,
        "created_at": datetime(2026, 1, 1),
        "updated_at": datetime(2026, 1, 1),
    }
    return row | values


def order(order_id: int, customer_id: int | None, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": customer_id,
        "order_ts": datetime(2026, 3, 10, 9),
        "status": "placed",
        "channel": "web",
        "currency": "EUR",
        "total_amount": Decimal("12.50"),
        "discount_amount": Decimal("0.00"),
        "updated_at": datetime(2026, 3, 10, 9),
    }
    return row | values


@dataclass
class Landing:
    """One table's landing folder, written like the file sink: part files in hour folders, then the log entry."""

    lake: LakeLocation
    table: Table
    batch: int = 0
    offset: int = 0

    def commit(self, hour: int, changes: list[tuple[str, int, dict[str, Any]]]) -> str:
        """One committed batch of ``(op, lsn, row image)`` changes in hour ``hour`` of T0's day; its path."""
        schema = landing_schema(envelope_schema(self.table))
        fields = [pa.field(column.name, column.arrow_type) for column in (*schema.row, *schema.metadata)]
        records = []
        for op, lsn, image in changes:
            self.offset += 1
            source_ts = T0.replace(hour=hour) + timedelta(seconds=lsn % 3600)
            metadata = {"_op": op, "_source_ts": source_ts, "_lsn": lsn, "_tx_id": str(lsn), "_snapshot": op == "r"}
            metadata |= {"_schema_id": 1, "_kafka_topic": self.table.topic, "_kafka_partition": 0}
            metadata |= {"_kafka_offset": self.offset, "_kafka_timestamp": source_ts, "_ingested_at": NOW}
            records.append(image | metadata)
        data = pa.Table.from_pylist(
            [{f.name: r.get(f.name) for f in fields} for r in records], schema=pa.schema(fields)
        )
        folder = Path(self.lake.path("landing", self.table.name, f"year=2026/month=3/day=10/hour={hour}"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-00000-{uuid.uuid4()}.c000.snappy.parquet"
        pq.write_table(data, path)
        log = Path(self.lake.path("landing", self.table.name, "_spark_metadata"))
        log.mkdir(parents=True, exist_ok=True)
        entry = {"path": path.as_uri(), "size": path.stat().st_size, "isDir": False, "action": "add"}
        (log / str(self.batch)).write_text("v1\n" + json.dumps(entry))
        self.batch += 1
        return str(path)


def staged_rows(lake: LakeLocation, table: str) -> dict[Any, dict[str, Any]]:
    """The current version's rows by key (first key column), run metadata left out."""
    store = TableStore(lake, "staging", table)
    version = store.current()
    assert version is not None
    rows = [row for path in version.files for row in pq.read_table(store.uri(path)).to_pylist()]
    key = CATALOG.table(table).primary_key[0]
    by_key = {row[key]: {k: v for k, v in row.items() if k not in RUN_METADATA} for row in rows}
    assert len(by_key) == len(rows), "one row per key"
    return by_key


def quarantined(lake: LakeLocation, table: str) -> list[dict[str, Any]]:
    rows = [row for path in committed_quarantine_files(lake, table) for row in pq.read_table(path).to_pylist()]
    return sorted(({k: v for k, v in row.items() if k not in RUN_METADATA} for row in rows), key=repr)


def current(lake: LakeLocation, table: str) -> TableVersion:
    version = TableStore(lake, "staging", table).current()
    assert version is not None
    return version


def report_of(reports: list[StagingReport], table: str) -> StagingReport:
    return next(report for report in reports if report.table == table)


@pytest.fixture
def lake(tmp_path: Path) -> LakeLocation:
    return LakeLocation(str(tmp_path / "lake"))


@pytest.fixture
def job(spark: SparkSession, lake: LakeLocation) -> StagingJob:
    return StagingJob(spark, lake, CATALOG, clock=lambda: NOW)


def test_the_highest_lsn_wins_deletes_keep_their_image_and_a_second_run_changes_nothing(
    job: StagingJob, lake: LakeLocation
) -> None:
    landing = Landing(lake, CUSTOMER)
    landing.commit(
        10,
        [
            ("u", 300, customer(1, segment="corporate")),  # arrives first, is the newest
            ("c", 100, customer(1, segment="consumer")),
            ("c", 120, customer(3, email="three@shop.io")),
            ("d", 400, customer(3, email="three@shop.io")),  # the delete's before image
            ("c", 110, customer(2)),
        ],
    )
    landing.commit(11, [("u", 200, customer(1, segment="small_business"))])  # a later hour, an older change

    reports = job.run(["customer"])
    assert [(r.table, r.status) for r in reports] == [("customer", "staged")]
    (report,) = reports
    assert (report.version, report.new_files, report.input_changes, report.changed_keys) == (1, 2, 6, 3)
    assert (report.rows_merged, report.deletes, report.quarantined_rows, report.rows_total) == (3, 1, 0, 3)
    rows = staged_rows(lake, "customer")
    assert (rows[1]["segment"], rows[1]["_lsn"], rows[1]["_op"], rows[1]["_deleted"]) == ("corporate", 300, "u", False)
    assert (rows[2]["_lsn"], rows[2]["_deleted"]) == (110, False)
    assert (rows[3]["email"], rows[3]["_op"], rows[3]["_deleted"]) == ("three@shop.io", "d", True)
    store = TableStore(lake, "staging", "customer")
    assert pq.read_table(store.uri(current(lake, "customer").files[0])).column_names == list(staging_columns(CUSTOMER))
    assert len(current(lake, "customer").bookmark["landing_files"]) == 2

    again = job.run(["customer"])
    assert [(r.status, r.version) for r in again] == [("up to date", 1)]
    assert sorted(p.name for p in Path(store.folder(), "_versions").iterdir()) == ["0000000001.json"]


def test_a_late_change_in_an_older_hour_does_not_overwrite_the_staged_row(job: StagingJob, lake: LakeLocation) -> None:
    landing = Landing(lake, CUSTOMER)
    landing.commit(12, [("u", 300, customer(1, segment="corporate"))])
    job.run(["customer"])

    landing.commit(8, [("u", 250, customer(1, segment="consumer")), ("c", 50, customer(2))])
    (report,) = job.run(["customer"])
    assert (report.status, report.new_files, report.late_changes, report.rows_merged) == ("staged", 1, 1, 1)
    rows = staged_rows(lake, "customer")
    assert (rows[1]["segment"], rows[1]["_lsn"]) == ("corporate", 300)
    assert rows[2]["_lsn"] == 50


def test_only_the_buckets_a_run_touches_are_rewritten(job: StagingJob, lake: LakeLocation) -> None:
    landing = Landing(lake, CUSTOMER)
    landing.commit(9, [("r", 10 + i, customer(i)) for i in range(1, 41)])
    job.run(["customer"])
    first = current(lake, "customer")
    buckets = {bucket_of_path(path) for path in first.files}
    assert len(first.files) == len(buckets) > 2  # one file per bucket

    landing.commit(10, [("u", 500, customer(7, segment="corporate"))])
    (report,) = job.run(["customer"])
    second = current(lake, "customer")
    new_files = set(second.files) - set(first.files)
    assert len(new_files) == 1 and report.buckets_rewritten == 1
    (touched,) = {bucket_of_path(path) for path in new_files}
    assert set(second.files) - new_files == {path for path in first.files if bucket_of_path(path) != touched}
    assert second.rows == report.rows_total == 40
    assert staged_rows(lake, "customer")[7]["segment"] == "corporate"


def land_quality_cases(lake: LakeLocation) -> None:
    """One failing row per rule type (customer: not_null, unique, allowed, pattern; orders: range, references)
    next to valid rows of the same batch."""
    Landing(lake, CUSTOMER).commit(
        9,
        [
            ("c", 100, customer(1)),
            ("c", 101, customer(2, email=None)),  # not_null:email
            ("c", 102, customer(3, segment="vip")),  # allowed:segment
            ("c", 103, customer(4, country="us")),  # pattern:country
            ("c", 104, customer(5, email="twin@shop.io")),  # unique:email (both rows)
            ("c", 105, customer(6, email="twin@shop.io")),
            ("c", 106, customer(7)),
            ("d", 107, customer(7)),  # deleted: orders may no longer reference it
        ],
    )
    Landing(lake, ORDERS).commit(
        9,
        [
            ("c", 200, order(100, 1)),
            ("c", 201, order(101, 99)),  # references:customer_id (never existed)
            ("c", 202, order(102, 2)),  # references: customer 2 was quarantined, so it is not staged
            ("c", 203, order(103, 7)),  # references: customer 7 is deleted
            ("c", 204, order(104, 1, total_amount=Decimal("-1.00"))),  # range:total_amount
        ],
    )


def test_rows_breaking_a_rule_are_quarantined_and_valid_rows_are_staged(job: StagingJob, lake: LakeLocation) -> None:
    land_quality_cases(lake)
    reports = job.run()
    assert [r.table for r in reports] == [t.name for t in CATALOG.referenced_first()]
    assert {r.table: r.status for r in reports if r.table not in ("customer", "orders")} == dict.fromkeys(
        ("product", "order_item", "payment", "shipment"), "no landing data"
    )
    customers, orders = report_of(reports, "customer"), report_of(reports, "orders")
    assert dict(customers.quarantined) == {
        "allowed:segment": 1,
        "not_null:email": 1,
        "pattern:country": 1,
        "unique:email": 2,
    }
    assert dict(orders.quarantined) == {"references:customer_id": 3, "range:total_amount": 1}
    assert sorted(staged_rows(lake, "customer")) == [1, 7]
    assert staged_rows(lake, "customer")[7]["_deleted"] is True
    assert sorted(staged_rows(lake, "orders")) == [100]

    bad = {(row.get("customer_id"), row.get("order_id")): row["_rules"] for row in quarantined(lake, "customer")}
    assert bad == {
        (2, None): ["not_null:email"],
        (3, None): ["allowed:segment"],
        (4, None): ["pattern:country"],
        (5, None): ["unique:email"],
        (6, None): ["unique:email"],
    }
    bad_orders = {row["order_id"]: row["_rules"] for row in quarantined(lake, "orders")}
    assert bad_orders == {
        101: ["references:customer_id"],
        102: ["references:customer_id"],
        103: ["references:customer_id"],
        104: ["range:total_amount"],
    }
    files = committed_quarantine_files(lake, "orders")
    assert len(files) == 1 and "/quarantine/orders/run=" in files[0]
    assert pq.read_table(files[0]).column_names[-3:] == ["_rules", "_run_id", "_quarantined_at"]


def test_a_quarantined_change_leaves_the_staged_row_and_later_references_see_new_keys(
    job: StagingJob, lake: LakeLocation
) -> None:
    customers, orders = Landing(lake, CUSTOMER), Landing(lake, ORDERS)
    customers.commit(9, [("c", 100, customer(1))])
    job.run()
    customers.commit(10, [("u", 300, customer(1, email=None)), ("c", 301, customer(2))])
    orders.commit(10, [("c", 302, order(100, 2))])  # customer 2 is staged in the same run, before orders

    reports = job.run()
    assert report_of(reports, "customer").quarantined == {"not_null:email": 1}
    rows = staged_rows(lake, "customer")
    assert (rows[1]["email"], rows[1]["_lsn"]) == ("c1@shop.io", 100)
    assert sorted(staged_rows(lake, "orders")) == [100]


def test_a_run_killed_before_its_commit_is_redone_by_the_next_run(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted = LakeLocation(str(tmp_path / "uninterrupted"))
    land_quality_cases(uninterrupted)
    StagingJob(spark, uninterrupted, CATALOG, clock=lambda: NOW).run()

    crashed = LakeLocation(str(tmp_path / "crashed"))
    land_quality_cases(crashed)
    real_commit = TableStore.commit

    def crash_on_orders(self: TableStore, *args: Any, **kwargs: Any) -> TableVersion:
        if self.table == "orders":
            raise KeyboardInterrupt("killed between writing the files and the commit")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(TableStore, "commit", crash_on_orders)
    job = StagingJob(spark, crashed, CATALOG, clock=lambda: NOW)
    with pytest.raises(KeyboardInterrupt):
        job.run()
    assert TableStore(crashed, "staging", "orders").current() is None
    written = list(Path(crashed.path("quarantine", "orders")).rglob("*.parquet"))
    assert written and committed_quarantine_files(crashed, "orders") == []  # written, never listed
    monkeypatch.setattr(TableStore, "commit", real_commit)

    reports = job.run()
    assert report_of(reports, "customer").status == "up to date"
    assert report_of(reports, "orders").status == "staged"
    for table in ("customer", "orders"):
        assert staged_rows(crashed, table) == staged_rows(uninterrupted, table)
        assert quarantined(crashed, table) == quarantined(uninterrupted, table)
        assert current(crashed, table).rows == current(uninterrupted, table).rows
        assert current(crashed, table).version == 1  # the crashed attempt committed nothing
    crashed_landing = list(Path(crashed.path("landing", "orders")).rglob("*.parquet"))
    assert current(crashed, "orders").bookmark["landing_files"] == [
        path.relative_to(crashed.path("landing", "orders")).as_posix() for path in crashed_landing
    ]
    assert len(list(Path(crashed.path("quarantine", "orders")).rglob("*.parquet"))) == 2  # one of them listed
