"""The same source sequence through the native capture and through the real Debezium engine gives equal envelopes.

Both capture one database at the same time (two slots), each to its own topics. Compared per table and key, in
order: every field of every envelope, except
- timing: envelope `ts_ms`/`ts_us`/`ts_ns` (processing time) and, for snapshot reads, `source.ts_*` (read time);
- version: `source.version` (the capturing software);
- for snapshot reads only, the slot-dependent position (`source.lsn`, `source.txId`, `source.sequence`): each
  capture snapshots at its own slot's start, so these differ by construction; streamed changes must match exactly.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.debezium.capture import build_debezium_capture
from producers.capture.debezium.config import DebeziumOptions
from schemas.catalog import Catalog
from tests.support.kafka import Record, read_topics
from tests.support.running import InThread, native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

CUSTOMER = (
    "INSERT INTO customer (customer_id, email, first_name, last_name, phone, birth_date, segment, address_line1, "
    "city, state, postal_code, country, created_at, updated_at) VALUES (%s, %s, 'Ada', 'Lovelace', NULL, "
    "'1990-05-17', 'consumer', '1 Main St', 'Springfield', 'IL', '62701', 'US', '2026-11-01 09:00:00.123456', "
    "'2026-11-01 09:00:00.123456')"
)
PRODUCT = (
    "INSERT INTO product (product_id, sku, name, category, unit_price, cost, active, created_at, updated_at) "
    "VALUES (%s, %s, 'Kettle', 'Home', %s, 0.01, true, '2026-11-01 09:00:00', '2026-11-01 09:00:00')"
)


def _debezium(dsn: str, catalog: Catalog, endpoints: dict[str, str], folder: Path) -> InThread:
    capture = build_debezium_capture(
        catalog,
        KafkaSettings(bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"]),
        SchemaRegistrySettings(url=endpoints["SCHEMA_REGISTRY_URL"]),
        dsn,
        folder / "debezium",
        slot_name="conf_dbz",
        publication_name="conf_dbz_pub",
        options=DebeziumOptions(offset_flush_interval_ms=200),
    )
    return InThread(capture.run, lambda: capture.progress.events)


def _comparable(value: dict[str, Any]) -> dict[str, Any]:
    envelope = {k: v for k, v in value.items() if k not in ("ts_ms", "ts_us", "ts_ns")}
    source = {k: v for k, v in value["source"].items() if k != "version"}
    if value["op"] == "r":
        for name in ("ts_ms", "ts_us", "ts_ns", "lsn", "txId", "sequence"):
            source.pop(name)
    envelope["source"] = source
    return envelope


def _by_table_and_key(records: list[Record], catalog: Catalog) -> dict[str, dict[tuple[Any, ...], list[Any]]]:
    grouped: dict[str, dict[tuple[Any, ...], list[Any]]] = defaultdict(lambda: defaultdict(list))
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        table = catalog.by_topic(record.topic).name
        value = None if record.value is None else _comparable(record.value)
        grouped[table][tuple(record.key.values())].append((record.key, value))
    return grouped


def _markers(records: list[Record]) -> set[str]:
    return {r.value["source"]["snapshot"] for r in records if r.value is not None and r.value["op"] == "r"}


def test_native_and_debezium_capture_agree(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    native_catalog, _ = catalog_copy(tmp_path, f"native{uuid.uuid4().hex[:6]}")
    debezium_catalog, _ = catalog_copy(tmp_path, f"dbz{uuid.uuid4().hex[:6]}")
    with isolated_database(stack_endpoints["SOURCE_DSN"], "conformance") as dsn:
        create_source_tables(dsn, native_catalog)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for key in (1, 2, 3):
                conn.execute(CUSTOMER, (key, f"c{key}@example.com"))
            conn.execute(PRODUCT, (1, "SKU-1", Decimal("10.00")))
            conn.execute(PRODUCT, (2, "SKU-2", Decimal("-5.25")))
        native = native_capture(dsn, native_catalog, stack_endpoints, tmp_path / "native.json", slot="conf_native")
        debezium = _debezium(dsn, debezium_catalog, stack_endpoints, tmp_path)
        try:
            native.wait_for(5)
            debezium.wait_for(5)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(CUSTOMER, (4, "c4@example.com"))
                conn.execute("UPDATE customer SET segment = 'corporate', phone = '+1 555' WHERE customer_id = 1")
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO orders VALUES (100, 1, '2026-11-22 10:00:00.5', 'placed', 'web', 'USD', 31.50, "
                        "0.00, '2026-11-22 10:00:00.5')"
                    )
                    for line, product, quantity in ((1, 1, 2), (2, 2, 1)):
                        conn.execute(
                            "INSERT INTO order_item VALUES (100, %s, %s, %s, 10.50, 0.00)", (line, product, quantity)
                        )
                    conn.execute("UPDATE product SET unit_price = 10.50 WHERE product_id = 1")
                conn.execute("DELETE FROM customer WHERE customer_id = 2")
                conn.execute("UPDATE orders SET customer_id = 3 WHERE order_id = 100")
                conn.execute("ALTER TABLE customer ADD COLUMN nickname varchar(40)")
                conn.execute("UPDATE customer SET nickname = 'Countess' WHERE customer_id = 3")
            streamed = 1 + 1 + 1 + 2 + 1 + 2 + 1 + 1
            native.wait_for(5 + streamed)
            debezium.wait_for(5 + streamed)
        finally:
            native.close()
            debezium.close()

    bootstrap, registry = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"]
    native_records = read_topics(bootstrap, registry, [t.topic for t in native_catalog.tables])
    debezium_records = read_topics(bootstrap, registry, [t.topic for t in debezium_catalog.tables])
    native_events = _by_table_and_key(native_records, native_catalog)
    debezium_events = _by_table_and_key(debezium_records, debezium_catalog)
    assert set(native_events) == set(debezium_events) == {"customer", "product", "orders", "order_item"}
    for table, keys in native_events.items():
        differences = _explain(dict(keys), dict(debezium_events[table]))
        assert not differences, f"{table}: " + "; ".join(differences[:12])
    assert _markers(native_records) == {"first", "true", "last_in_data_collection", "first_in_data_collection", "last"}
    assert len(native_records) == len(debezium_records) == 5 + 10


def _explain(native: Any, debezium: Any, path: str = "") -> list[str]:
    """Field-level differences, for a readable failure."""
    if isinstance(native, dict) and isinstance(debezium, dict):
        out = []
        for key in sorted(set(native) | set(debezium)):
            out += _explain(native.get(key, "<missing>"), debezium.get(key, "<missing>"), f"{path}.{key}")
        return out
    if isinstance(native, list | tuple) and isinstance(debezium, list | tuple) and len(native) == len(debezium):
        return [
            line
            for i, (a, b) in enumerate(zip(native, debezium, strict=True))
            for line in _explain(a, b, f"{path}[{i}]")
        ]
    return [] if native == debezium else [f"{path}: native={native!r} debezium={debezium!r}"]
