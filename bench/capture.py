"""Capture bench on the embedded stack (started for the run, in a temporary folder).

Prints, all measured in this run:
1. serialise+produce of identical customer envelopes: the project's ChangePublisher vs confluent-kafka's stock
   AvroSerializer + Producer loop (goal >= 1.2x), and raw fastavro encoding as the ceiling (goal >= 0.8x of it);
2. end-to-end streaming capture throughput, source commit to Kafka ack, on a backlog of committed changes
   (goal >= 20,000 changes/s);
3. initial snapshot of a large table (goal: 1,000,000 rows in <= 60 s).

    .venv/bin/python bench/capture.py [--events 100000] [--backlog 200000] [--snapshot-rows 1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import fastavro
import psycopg
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.settings import KafkaSettings, SchemaRegistrySettings
from localstack.paths import StackPaths
from localstack.supervisor import EmbeddedStack
from producers.capture.postgres.capture import PostgresCapture, PostgresCaptureConfig
from producers.capture.postgres.state import StateFile
from producers.encoding import AvroEncoder, EnvelopeEncoder
from producers.publish import ChangePublisher, producer_config
from producers.topics import ensure_topics
from schemas.catalog import Catalog, Table, load_catalog
from schemas.debezium import envelope_schema, key_schema
from schemas.registry import SchemaRegistry
from tests.support.sourcedb import catalog_copy, create_source_tables

SEED_CUSTOMERS = (
    "INSERT INTO customer (customer_id, email, first_name, last_name, phone, segment, address_line1, city, state, "
    "postal_code, country, loyalty_tier, created_at, updated_at) SELECT g, 'customer' || g || '@example.com', "
    "'First' || g, 'Last' || g, CASE WHEN g %% 3 = 0 THEN NULL ELSE '+1-555-0100' END, 'consumer', g || ' Main St', "
    "'Springfield', 'IL', '62701', 'US', CASE WHEN g %% 5 = 0 THEN 'gold' END, "
    "timestamp '2026-01-01' + g * interval '1 second', timestamp '2026-01-01' + g * interval '1 second' "
    "FROM generate_series(%s, %s) g"
)


def envelopes(count: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    now_us = int(time.time() * 1_000_000)
    events = []
    for i in range(count):
        row = {
            "customer_id": i,
            "email": f"customer{i}@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": None,
            "birth_date": 9000,
            "segment": "consumer",
            "address_line1": f"{i} Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
            "loyalty_tier": None,
            "created_at": now_us,
            "updated_at": now_us + i,
        }
        source = {
            "version": "retail-cdc-0.1.0",
            "connector": "postgresql",
            "name": "retail",
            "ts_ms": now_us // 1000,
            "snapshot": "false",
            "db": "retail",
            "sequence": f'["{i}","{i + 1}"]',
            "ts_us": now_us,
            "ts_ns": now_us * 1000,
            "schema": "public",
            "table": "customer",
            "txId": 1000 + i,
            "lsn": 4096 + i,
            "xmin": None,
        }
        envelope = {
            "before": row,
            "after": row,
            "source": source,
            "transaction": None,
            "op": "u",
            "ts_ms": now_us // 1000,
            "ts_us": now_us,
            "ts_ns": now_us * 1000,
        }
        events.append(({"customer_id": i}, envelope))
    return events


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _encode_rates(table: Table, events: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[float, float]:
    """(raw fastavro on the full schemas, the project's encoders alone), events/s, no Kafka."""
    key_parsed = fastavro.parse_schema(key_schema(table))
    value_parsed = fastavro.parse_schema(envelope_schema(table))
    started = time.perf_counter()
    buffer = io.BytesIO()
    for key, envelope in events:
        for parsed, record in ((key_parsed, key), (value_parsed, envelope)):
            buffer.seek(0)
            buffer.truncate()
            fastavro.schemaless_writer(buffer, parsed, record)
    ceiling = rate(len(events), time.perf_counter() - started)
    key_encoder, value_encoder = AvroEncoder(key_schema(table), 1), EnvelopeEncoder(envelope_schema(table), 2)
    started = time.perf_counter()
    for key, envelope in events:
        key_encoder.encode(key)
        value_encoder.encode(envelope)
    return ceiling, rate(len(events), time.perf_counter() - started)


def _stock_rate(endpoints: dict[str, str], kafka: KafkaSettings, table: Table, events: list[Any]) -> float:
    """confluent-kafka's documented way: AvroSerializer for key and value, then Producer.produce."""
    client = SchemaRegistryClient({"url": endpoints["SCHEMA_REGISTRY_URL"]})
    key_serializer = AvroSerializer(client, json.dumps(key_schema(table)))
    value_serializer = AvroSerializer(client, json.dumps(envelope_schema(table)))
    key_context = SerializationContext(table.topic, MessageField.KEY)
    value_context = SerializationContext(table.topic, MessageField.VALUE)
    producer = Producer(producer_config(kafka))
    started = time.perf_counter()
    for key, envelope in events:
        while True:
            try:
                producer.produce(
                    table.topic, key=key_serializer(key, key_context), value=value_serializer(envelope, value_context)
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    producer.close()
    return rate(len(events), elapsed)


def _project_rate(endpoints: dict[str, str], kafka: KafkaSettings, table: Table, events: list[Any]) -> float:
    registry = SchemaRegistry(SchemaRegistrySettings(url=endpoints["SCHEMA_REGISTRY_URL"]))
    publisher = ChangePublisher.connect(kafka, registry)
    started = time.perf_counter()
    for position, (key, envelope) in enumerate(events, start=1):
        publisher.publish(table, key, envelope, position=position)
        publisher.seal(position)
    publisher.flush(120)
    elapsed = time.perf_counter() - started
    publisher.close()
    registry.close()
    return rate(len(events), elapsed)


def serialisation_bench(endpoints: dict[str, str], catalog: Catalog, count: int) -> None:
    table = catalog.table("customer")
    events = envelopes(count)
    kafka = KafkaSettings(bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"])
    ensure_topics(kafka.librdkafka_config(), [table.topic], partitions=3, replication=1)
    # Best of three rounds, each path warmed up (schemas registered, producer connected) by a first short run:
    # this 2-core machine also runs PostgreSQL, the broker and the registry, so single runs are noisy.
    _stock_rate(endpoints, kafka, table, events[:100])
    _project_rate(endpoints, kafka, table, events[:100])
    ceiling = encode_only = stock = project = 0.0
    for _ in range(3):
        round_ceiling, round_encode = _encode_rates(table, events)
        ceiling, encode_only = max(ceiling, round_ceiling), max(encode_only, round_encode)
        stock = max(stock, _stock_rate(endpoints, kafka, table, events))
        project = max(project, _project_rate(endpoints, kafka, table, events))
    print(f"\n1. serialise + produce, {count:,} customer update envelopes (key + value, acks=all), best of 3")
    print(f"   ceiling   raw fastavro encode (no framing, no Kafka): {ceiling:12,.0f} events/s")
    print(f"   (project encoders alone, no Kafka:                    {encode_only:12,.0f} events/s)")
    print(f"   baseline  stock AvroSerializer + Producer loop:       {stock:12,.0f} events/s")
    print(f"   project   ChangePublisher (framed fastavro + acks):   {project:12,.0f} events/s")
    print(f"   ratio     project / stock:    {project / stock:5.2f}x   (goal >= 1.20)")
    print(f"   ratio     project / ceiling:  {project / ceiling:5.2f}x   (goal >= 0.80)")


def run_capture(
    dsn: str, catalog: Catalog, endpoints: dict[str, str], state: Path, slot: str, until_phase: str | None
) -> tuple[PostgresCapture, float]:
    kafka = KafkaSettings(bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"])
    registry = SchemaRegistry(SchemaRegistrySettings(url=endpoints["SCHEMA_REGISTRY_URL"]))
    publisher = ChangePublisher.connect(kafka, registry)
    capture = PostgresCapture(
        dsn=dsn,
        catalog=catalog,
        tables=[catalog.table("customer")],
        publisher=publisher,
        state_file=StateFile(state),
        config=PostgresCaptureConfig(slot_base=slot, publication=f"{slot}_pub", stop_when_idle=1.0, chunk_rows=50_000),
    )
    stop = threading.Event()
    if until_phase:  # stop as soon as the snapshot is confirmed

        def watch() -> None:
            while capture.progress.phase != until_phase:
                time.sleep(0.01)
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
    started = time.perf_counter()
    capture.run(stop)
    elapsed = time.perf_counter() - started
    publisher.close()
    registry.close()
    return capture, elapsed


def capture_bench(endpoints: dict[str, str], folder: Path, backlog: int, snapshot_rows: int) -> None:
    catalog, _ = catalog_copy(folder)
    dsn = endpoints["SOURCE_DSN"]
    create_source_tables(dsn, catalog)
    ensure_topics(
        {"bootstrap.servers": endpoints["KAFKA_BOOTSTRAP_SERVERS"]},
        [t.topic for t in catalog.tables],
        partitions=3,
        replication=1,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(SEED_CUSTOMERS, (1, snapshot_rows))
        print(f"\n   (seeded {snapshot_rows:,} customers in {time.perf_counter() - started:.1f} s)")

    capture, elapsed = run_capture(dsn, catalog, endpoints, folder / "state.json", "bench", "streaming")
    rows = capture.progress.snapshot_rows
    print(
        f"\n3. initial snapshot of customer: {rows:,} rows in {elapsed:.1f} s = {rate(rows, elapsed):,.0f} rows/s "
        f"(goal: 1,000,000 rows in <= 60 s)"
    )

    with psycopg.connect(dsn, autocommit=True) as conn:
        per_transaction = 1000
        started = time.perf_counter()
        for first in range(1, backlog + 1, per_transaction):
            conn.execute(
                "UPDATE customer SET city = 'Chicago', updated_at = now() WHERE customer_id BETWEEN %s AND %s",
                (first, min(first + per_transaction - 1, backlog)),
            )
        print(
            f"\n   (committed a backlog of {backlog:,} updates in {backlog // per_transaction} transactions "
            f"in {time.perf_counter() - started:.1f} s)"
        )
    capture, elapsed = run_capture(dsn, catalog, endpoints, folder / "state.json", "bench", None)
    events = capture.progress.events
    idle = 1.0  # run() returns after one idle second once caught up
    print(
        f"\n2. streaming capture, source commit -> Kafka ack: {events:,} changes in {elapsed - idle:.1f} s = "
        f"{rate(events, elapsed - idle):,.0f} changes/s (goal >= 20,000)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--snapshot-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stack = EmbeddedStack(StackPaths.at(Path(folder) / "stack"))
        print("starting the embedded stack ...")
        endpoints = stack.up().endpoints
        try:
            serialisation_bench(endpoints, load_catalog(), args.events)
            capture_bench(endpoints, Path(folder), args.backlog, args.snapshot_rows)
        finally:
            stack.down(purge=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
