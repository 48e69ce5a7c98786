"""Helpers of the streaming tests: source changes into Kafka, the landing job in-process, landed rows read back."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyspark.sql import SparkSession

from cli import workload_commands
from common.lake import LakeLocation
from common.landing_files import register_landing_views
from schemas.catalog import Catalog, Column
from streaming.job import LandingJob
from streaming.landing import AVAILABLE_NOW, SinkConfig
from streaming.plans import decode_plan
from streaming.progress import TableProgress
from streaming.source import KafkaSourceConfig
from streaming.writer_schemas import RegistryEndpoint
from tests.support.running import InThread

EPOCH = dt.datetime(1970, 1, 1)


def wait_idle(capture: InThread, quiet_s: float = 3.0, timeout: float = 180.0) -> int:
    """Until the capture has published nothing new for ``quiet_s``; returns its event count."""
    deadline = time.monotonic() + timeout
    last, since = capture._events(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        if capture.error is not None:
            raise capture.error
        if time.monotonic() > deadline:
            raise TimeoutError("capture kept publishing")
        time.sleep(0.2)
        now = capture._events()
        if now != last:
            last, since = now, time.monotonic()
    return last


def populate(dsn: str, catalog_path: Path, *, customers: int, products: int, orders: int, seed: int = 7) -> None:
    workload_commands.init(
        source_dsn=dsn, catalog=catalog_path, customers=customers, products=products, orders=orders, seed=seed
    )


def run_workload(dsn: str, catalog_path: Path, changes: int, *, rate: float = 0, seed: int = 11) -> None:
    workload_commands.run(source_dsn=dsn, catalog=catalog_path, changes=changes, rate=rate, seed=seed, quiet=True)


def landing_job(
    spark: SparkSession,
    endpoints: dict[str, str],
    catalog: Catalog,
    lake: LakeLocation,
    *,
    tables: list[str] | None = None,
    trigger: float | str = AVAILABLE_NOW,
    max_offsets_per_trigger: int | None = None,
) -> LandingJob:
    registry = RegistryEndpoint(endpoints["SCHEMA_REGISTRY_URL"])
    chosen = [t for t in catalog.tables if tables is None or t.name in tables]
    return LandingJob(
        spark,
        KafkaSourceConfig(
            "python", endpoints["KAFKA_BOOTSTRAP_SERVERS"], max_offsets_per_trigger=max_offsets_per_trigger
        ),
        lake,
        SinkConfig(trigger=trigger),
        chosen,
        lambda table: decode_plan(table, registry),
        restart_pause_s=0.5,
    )


def land(
    spark: SparkSession, endpoints: dict[str, str], catalog: Catalog, lake: LakeLocation, **kwargs: Any
) -> list[TableProgress]:
    """Run the landing job with Trigger.AvailableNow to completion."""
    return landing_job(spark, endpoints, catalog, lake, **kwargs).run(threading.Event())


def landed(lake: LakeLocation, table: str) -> pa.Table:
    """Every committed landed row of a table, as readers must see them: only files the sink's log (or a
    compaction manifest) lists, hive partitions as columns, columns unified by name across schema versions."""
    if not Path(lake.path("landing", table, "_spark_metadata")).exists():
        return pa.table({})
    connection = duckdb.connect()
    try:
        if not register_landing_views(connection, lake, [table]):
            return pa.table({})
        return connection.sql(f'SELECT * FROM "{table}"').to_arrow_table()
    finally:
        connection.close()


def expected_value(column: Column, value: Any) -> Any:
    """A Debezium-encoded value as the landing zone holds it (days -> date, micros -> naive datetime)."""
    if value is None:
        return None
    kind = column.column_type.kind
    if kind == "date":
        return (EPOCH + dt.timedelta(days=value)).date()
    if kind == "timestamp":
        return EPOCH + dt.timedelta(microseconds=value)
    if kind == "timestamptz":
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    return value
