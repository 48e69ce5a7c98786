"""A nullable column added at the source mid-stream: new files carry it, old rows read back as NULL.

The only restart is the one the design requires: the customer query ends when it meets the first record written
with the newer schema and the job starts it again with that schema as reader; the other queries run on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import psycopg
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from tests.support.landing import landed, landing_job, populate
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database


def _wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.5)


def test_added_column_lands_without_restarting_other_tables(
    stack_endpoints: dict[str, str], spark: SparkSession, tmp_path: Path
) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    lake = LakeLocation(str(tmp_path / "lake"))
    with isolated_database(stack_endpoints["SOURCE_DSN"], "evolve") as dsn:
        create_source_tables(dsn, catalog)
        populate(dsn, catalog_path, customers=20, products=5, orders=10)
        capture = native_capture(dsn, catalog, stack_endpoints, tmp_path / "state.json", slot="cdc_evolve")
        job = landing_job(spark, stack_endpoints, catalog, lake, tables=["customer", "product"], trigger=1.0)
        stop = threading.Event()
        runner = threading.Thread(target=job.run, args=(stop,), daemon=True)
        try:
            capture.wait_for(events=1)
            runner.start()
            _wait_for(lambda: landed(lake, "customer").num_rows >= 20)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("ALTER TABLE customer ADD COLUMN nickname varchar(40)")
                conn.execute("UPDATE customer SET nickname = 'Countess' WHERE customer_id IN (1, 2)")
                conn.execute("UPDATE product SET name = name || ' v2' WHERE product_id = 1")
            _wait_for(lambda: "nickname" in _columns(lake) and landed(lake, "product").num_rows >= 6)
        finally:
            stop.set()
            runner.join(120)
            capture.close()

    progress = {p.table: p for p in job.progress}
    # The one restart that picks up the new reader schema. (On a machine so busy that a Spark Python worker
    # connects back too late, a query may also restart for that: those are not schema restarts.)
    assert progress["customer"].schema_restarts == 1
    assert progress["product"].schema_restarts == 0
    assert progress["customer"].dead_letters == 0
    folder = lake.path("landing", "customer")
    rows = duckdb.execute(
        f"SELECT customer_id, nickname, _op FROM read_parquet('{folder}/*/*/*/*/*.parquet', hive_partitioning = true, "
        "union_by_name = true) ORDER BY _kafka_partition, _kafka_offset"
    ).fetchall()
    assert len(rows) == 22  # 20 snapshot reads + 2 updates, each exactly once
    updates = [row for row in rows if row[2] == "u"]
    assert sorted((row[0], row[1]) for row in updates) == [(1, "Countess"), (2, "Countess")]
    assert all(row[1] is None for row in rows if row[2] == "r")  # old files: the column reads as NULL


def _columns(lake: LakeLocation) -> set[str]:
    table = landed(lake, "customer")
    return set(table.column_names) if table.num_rows else set()
