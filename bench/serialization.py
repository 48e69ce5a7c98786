"""Serialisation bench: Confluent-framed Avro via the registry vs raw fastavro, on identical Debezium envelopes.

Baseline measured in the same run: fastavro's `schemaless_writer` on a parsed schema (the ceiling: no framing, no
registry). Measured path: confluent-kafka's stock `AvroSerializer` against the project's registry server (schema
registered once, then cached). Prints both rates and the ratio; it checks that the registry is only touched
once, not per record.

    .venv/bin/python bench/serialization.py [--events 50000]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localstack.http_service import RegistryService
from localstack.ports import free_port
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema


def envelopes(count: int) -> list[dict[str, Any]]:
    """Realistic product update envelopes (decimal money, micro timestamps, source block)."""
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    events = []
    for i in range(count):
        row = {
            "product_id": i,
            "sku": f"SKU-{i:08d}",
            "name": f"Product {i}",
            "description": None if i % 3 else "A fine product",
            "category": "Home",
            "subcategory": "Kitchen",
            "brand": "Acme",
            "unit_price": Decimal(f"{i % 1000}.99"),
            "cost": Decimal("1.25"),
            "active": True,
            "created_at": now_us,
            "updated_at": now_us + i,
        }
        events.append(
            {
                "before": None,
                "after": row,
                "source": {
                    "version": "3.0.0",
                    "connector": "postgresql",
                    "name": "retail",
                    "ts_ms": now_us // 1000,
                    "snapshot": "false",
                    "db": "retail",
                    "sequence": None,
                    "ts_us": None,
                    "ts_ns": None,
                    "schema": "public",
                    "table": "product",
                    "txId": 1000 + i,
                    "lsn": 4096 + i,
                    "xmin": None,
                },
                "transaction": None,
                "op": "c",
                "ts_ms": now_us // 1000,
                "ts_us": None,
                "ts_ns": None,
            }
        )
    return events


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()

    table = load_catalog().table("product")
    schema = envelope_schema(table)
    events = envelopes(args.events)

    parsed = fastavro.parse_schema(schema)
    started = time.perf_counter()
    buffer = io.BytesIO()
    for event in events:
        buffer.seek(0)
        buffer.truncate()
        fastavro.schemaless_writer(buffer, parsed, event)
    baseline = rate(len(events), time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as folder:
        service = RegistryService(Path(folder) / "registry", Path(folder) / "registry.log")
        record = service.start(free_port())
        try:
            client = SchemaRegistryClient({"url": record.address})
            import json  # noqa: PLC0415

            serializer = AvroSerializer(client, json.dumps(schema))
            context = SerializationContext(table.topic, MessageField.VALUE)
            started = time.perf_counter()
            sizes = 0
            for event in events:
                sizes += len(serializer(event, context))
            measured = rate(len(events), time.perf_counter() - started)
            subjects = client.get_subjects()
        finally:
            service.stop(record)

    print(f"events: {len(events)}  avg framed size: {sizes / len(events):.0f} bytes  subjects: {subjects}")
    print(f"baseline  fastavro schemaless_writer (ceiling): {baseline:12,.0f} events/s")
    print(f"measured  AvroSerializer via project registry:  {measured:12,.0f} events/s")
    print(f"ratio     measured / baseline:                  {measured / baseline:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
