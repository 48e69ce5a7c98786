"""Native capture end to end on the stack: a scripted sequence at the source, read back with AvroDeserializer."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from schemas.catalog import Catalog
from schemas.framing import unframe
from tests.support.kafka import Record, read_topics
from tests.support.running import InThread, native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

CUSTOMER = (
    "INSERT INTO customer (customer_id, email, first_name, last_name, segment, address_line1, city, state, "
    "postal_code, country, created_at, updated_at) VALUES (%s, %s, 'Ada', 'Lovelace', 'consumer', '1 Main St', "
    "'Springfield', 'IL', '62701', 'US', '2026-11-01 09:00:00', '2026-11-01 09:00:00')"
)
PRODUCT = (
    "INSERT INTO product (product_id, sku, name, category, unit_price, active, created_at, updated_at) "
    "VALUES (%s, %s, 'Kettle', 'Home', %s, true, '2026-11-01 09:00:00', '2026-11-01 09:00:00')"
)


def running_capture(dsn: str, catalog: Catalog, endpoints: dict[str, str], state: Path) -> InThread:
    return native_capture(dsn, catalog, endpoints, state, slot="cdc_test", partitions=2, chunk_rows=2)


@pytest.fixture
def source(stack_endpoints: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Catalog]]:
    catalog, _ = catalog_copy(tmp_path)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "capture") as dsn:
        create_source_tables(dsn, catalog)
        yield dsn, catalog


def _by_key(records: list[Record], topic: str) -> dict[tuple[Any, ...], list[Record]]:
    grouped: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for record in sorted((r for r in records if r.topic == topic), key=lambda r: (r.partition, r.offset)):
        grouped[tuple(record.key.values())].append(record)
    return grouped


def _ops(records: list[Record]) -> list[str | None]:
    return [None if r.value is None else r.value["op"] for r in records]


def test_scripted_sequence_gives_exact_debezium_envelopes(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    with psycopg.connect(dsn, autocommit=True) as conn:
        for customer_id in (1, 2, 3):
            conn.execute(CUSTOMER, (customer_id, f"c{customer_id}@example.com"))
        conn.execute(PRODUCT, (1, "SKU-1", Decimal("10.00")))
        conn.execute(PRODUCT, (2, "SKU-2", Decimal("5.25")))

    capture = running_capture(dsn, catalog, stack_endpoints, tmp_path / "state.json")
    try:
        capture.wait_for(events=5)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(CUSTOMER, (4, "c4@example.com"))
            conn.execute("UPDATE customer SET segment = 'corporate' WHERE customer_id = 1")
            with conn.transaction():  # a multi-row transaction over three tables
                conn.execute(
                    "INSERT INTO orders VALUES (100, 1, '2026-11-22 10:00:00', 'placed', 'web', 'USD', 31.50, 0.00, "
                    "'2026-11-22 10:00:00')"
                )
                for line, product, quantity in ((1, 1, 2), (2, 2, 1), (3, 1, 1)):
                    conn.execute(
                        "INSERT INTO order_item VALUES (100, %s, %s, %s, 10.50, 0.00)", (line, product, quantity)
                    )
                conn.execute("UPDATE product SET unit_price = 10.50 WHERE product_id = 1")
            conn.execute("DELETE FROM customer WHERE customer_id = 2")
            conn.execute("ALTER TABLE customer ADD COLUMN nickname varchar(40)")
            conn.execute("UPDATE customer SET nickname = 'Countess' WHERE customer_id = 3")
            conn.execute(
                CUSTOMER.replace("country,", "country, nickname,").replace("'US',", "'US', 'Five',"),
                (5, "c5@example.com"),
            )
        capture.wait_for(events=5 + 11)
    finally:
        capture.close()

    topics = [t.topic for t in catalog.tables]
    records = read_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"], topics)
    customer = _by_key(records, catalog.table("customer").topic)
    assert {key: _ops(events) for key, events in customer.items()} == {
        (1,): ["r", "u"],
        (2,): ["r", "d", None],
        (3,): ["r", "u"],
        (4,): ["c"],
        (5,): ["c"],
    }
    update = customer[(1,)][1].value
    assert update is not None
    assert update["before"]["segment"] == "consumer" and update["after"]["segment"] == "corporate"
    assert update["source"] | {"ts_ms": 0, "ts_us": 0, "ts_ns": 0, "lsn": 0, "txId": 0, "sequence": ""} == {
        "version": "retail-cdc-0.1.0",
        "connector": "postgresql",
        "name": "retail",
        "ts_ms": 0,
        "snapshot": "false",
        "db": dsn.rsplit("/", 1)[1],  # the database actually read
        "sequence": "",
        "ts_us": 0,
        "ts_ns": 0,
        "schema": "public",
        "table": "customer",
        "txId": 0,
        "lsn": 0,
        "xmin": None,
    }
    deleted = customer[(2,)][1].value
    assert deleted is not None and deleted["after"] is None and deleted["before"]["email"] == "c2@example.com"
    assert customer[(2,)][2].raw_value is None  # the tombstone
    # The added column flows without a restart: a new schema version for the value subject.
    assert customer[(3,)][1].value is not None and customer[(3,)][1].value["after"]["nickname"] == "Countess"
    assert customer[(5,)][0].value is not None and customer[(5,)][0].value["after"]["nickname"] == "Five"
    assert "nickname" not in customer[(1,)][1].value["after"]
    client = SchemaRegistryClient({"url": stack_endpoints["SCHEMA_REGISTRY_URL"]})
    versions = client.get_versions(f"{catalog.table('customer').topic}-value")
    assert len(versions) == 2
    ids = {unframe(r.raw_value)[0] for events in customer.values() for r in events if r.raw_value}
    assert len(ids) == 2

    # The multi-row transaction: one txId, one commit time, money as Decimal.
    items = _by_key(records, catalog.table("order_item").topic)
    assert sorted(items) == [(100, 1), (100, 2), (100, 3)]
    order = _by_key(records, catalog.table("orders").topic)[(100,)][0].value
    assert order is not None and order["after"]["total_amount"] == Decimal("31.50")
    tx_ids = {events[0].value["source"]["txId"] for events in items.values() if events[0].value}
    assert tx_ids == {order["source"]["txId"]}
    product = _by_key(records, catalog.table("product").topic)
    assert _ops(product[(1,)]) == ["r", "u"] and _ops(product[(2,)]) == ["r"]
    assert product[(1,)][1].value is not None and product[(1,)][1].value["after"]["unit_price"] == Decimal("10.50")

    # Snapshot markers and positions: every snapshot event at the slot's consistent point.
    snapshot = [r.value for r in records if r.value and r.value["op"] == "r"]
    assert len(snapshot) == 5
    assert len({event["source"]["lsn"] for event in snapshot}) == 1
    markers = sorted(event["source"]["snapshot"] for event in snapshot)
    assert "first" in markers and all(
        m in ("first", "true", "last", "last_in_data_collection", "first_in_data_collection") for m in markers
    )
    # Per key, streamed events are in source (LSN) order.
    for events in customer.values():
        lsns = [r.value["source"]["lsn"] for r in events if r.value and r.value["op"] != "r"]
        assert lsns == sorted(lsns)


def test_restart_resumes_from_the_slot_without_resending_confirmed_events(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog = source
    state = tmp_path / "state.json"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(CUSTOMER, (1, "c1@example.com"))
    first = running_capture(dsn, catalog, stack_endpoints, state)
    try:
        first.wait_for(events=1)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE customer SET city = 'Chicago' WHERE customer_id = 1")
        first.wait_for(events=2)
    finally:
        first.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE customer SET city = 'Boston' WHERE customer_id = 1")  # while capture is down
    second = running_capture(dsn, catalog, stack_endpoints, state)
    try:
        second.wait_for(events=1)
    finally:
        second.close()
    records = read_topics(
        stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        stack_endpoints["SCHEMA_REGISTRY_URL"],
        [catalog.table("customer").topic],
    )
    cities = [(r.value["op"], r.value["after"]["city"]) for r in sorted(records, key=lambda r: r.offset) if r.value]
    assert cities == [("r", "Springfield"), ("u", "Chicago"), ("u", "Boston")]


def test_quiet_capture_does_not_pin_wal_written_elsewhere(
    source: tuple[str, Catalog], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    """No change on the captured tables, heavy writes in another database: the slot still advances."""
    dsn, catalog = source
    capture = running_capture(dsn, catalog, stack_endpoints, tmp_path / "state.json")
    try:
        capture.wait_for(events=0)
        with psycopg.connect(dsn, autocommit=True) as conn:
            start = conn.execute(
                "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'cdc_test_g1'"
            ).fetchone()
        with isolated_database(stack_endpoints["SOURCE_DSN"], "elsewhere") as other:
            with psycopg.connect(other, autocommit=True) as conn:
                conn.execute("CREATE TABLE noise AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 50000) g")
                written = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
            deadline = time.monotonic() + 30
            confirmed = start
            while time.monotonic() < deadline:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    confirmed = conn.execute(
                        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots "
                        "WHERE slot_name = 'cdc_test_g1'"
                    ).fetchone()
                if confirmed and written and confirmed[0] >= written[0]:
                    break
                time.sleep(0.5)
    finally:
        capture.close()
    assert start and confirmed and written
    assert confirmed[0] >= written[0] > start[0]
    assert capture.error is None
