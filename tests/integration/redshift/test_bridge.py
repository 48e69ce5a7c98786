"""The JSON bridge on the stack: real CDC events of all six tables -> `<topic>.json`, compared with the Avro topics
record by record; poison records -> `<topic>.json.dlq`; restarts (also after a transaction a killed bridge left
open) write nothing twice; SIGTERM stops it cleanly; bad input is one clear error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from cli.bridge_commands import bridge
from common.errors import ConfigError
from common.settings import SchemaRegistrySettings
from producers.encoding import AvroEncoder, EnvelopeEncoder
from producers.topics import ensure_topics
from redshift.bridge.progress import BridgeProgress
from schemas.catalog import Catalog, Table
from schemas.debezium import envelope_schema, key_schema, subject_names
from schemas.envelope import PostgresPosition, build_envelope, postgres_source
from schemas.framing import frame
from schemas.registry import SchemaRegistry
from tests.support.kafka import Record, read_topics
from tests.support.landing import populate, run_workload, wait_idle
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

EPOCH = dt.datetime(1970, 1, 1)


# `cdc bridge` until cli/main.py registers it; INFO logs on stderr tell when the partitions are assigned.
BRIDGE = (
    "from common import logging; logging.configure('INFO'); "
    "import typer; from cli.bridge_commands import bridge; typer.run(bridge)"
)


def already_written(log_line: str) -> int:
    """Records a starting bridge found in its outputs past its committed offsets (the `bridge.already_written` log)."""
    found = re.search(r"bridge\.already_written .*records=(\d+)", log_line)
    return int(found.group(1)) if found else 0


class LogWatcher(threading.Thread):
    """Drains a process's stderr; `assigned` is set once the bridge logged its partition assignment."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.assigned = threading.Event()
        self.lines: deque[str] = deque(maxlen=40)
        self.already_written = 0
        self.start()

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line)
            if "bridge.assigned" in line:
                self.assigned.set()
            self.already_written += already_written(line)

    def tail(self) -> str:
        return "".join(self.lines)


@dataclass(frozen=True)
class JsonRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def source(self) -> tuple[str, int, int]:
        """The Avro record this one was made from (its cdc.source.* headers)."""
        h = self.headers
        return h["cdc.source.topic"].decode(), int(h["cdc.source.partition"]), int(h["cdc.source.offset"])


def read_json_topics(bootstrap: str, topics: list[str], timeout: float = 60.0) -> list[JsonRecord]:
    """Every record of `topics` as a read_committed reader (e.g. a Redshift MV) sees it, read to partition EOF,
    in (topic, partition, offset) order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    records: list[JsonRecord] = []
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p, 0)
            for topic in topics
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        consumer.assign(partitions)
        pending = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                    continue
                headers = {name: value for name, value in message.headers() or [] if isinstance(value, bytes)}
                records.append(
                    JsonRecord(
                        str(message.topic()),
                        int(message.partition() or 0),
                        int(message.offset() or 0),
                        message.key(),
                        message.value(),
                        headers,
                    )
                )
        if pending:
            raise TimeoutError(f"partitions not read to the end: {sorted(pending)}")
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))


def expected_image(table: Table, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A row image as ADR 0010 says the JSON holds it (written independently of redshift.bridge.json_encoding)."""
    if image is None:
        return None
    expected: dict[str, Any] = {}
    for column in table.columns:
        value, kind = image[column.name], column.column_type
        if value is None:
            expected[column.name] = None
        elif kind.kind == "decimal":
            assert isinstance(value, Decimal)
            expected[column.name] = f"{value:.{kind.scale}f}"
        elif kind.kind == "date":
            expected[column.name] = (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
        elif kind.kind == "timestamp":
            expected[column.name] = (EPOCH + dt.timedelta(microseconds=value)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        else:
            expected[column.name] = value
    return expected


def check_bridged(catalog: Catalog, avro: list[Record], bridged: list[JsonRecord]) -> None:
    """Every Avro record is in its `.json` topic exactly once, on its partition, with equal key and content."""
    tables = {table.topic: table for table in catalog.tables}
    by_source: dict[tuple[str, int, int], JsonRecord] = {}
    for record in bridged:
        assert record.topic == f"{record.source[0]}.json", record
        assert record.source not in by_source, f"written twice: {record.source}"
        by_source[record.source] = record
    assert set(by_source) == {(r.topic, r.partition, r.offset) for r in avro}
    for record in avro:
        table = tables[record.topic]
        twin = by_source[(record.topic, record.partition, record.offset)]
        assert twin.partition == record.partition
        assert twin.key == json.dumps(record.key, separators=(",", ":")).encode()
        if record.value is None:
            assert twin.value is None, "a tombstone must stay a tombstone"
            continue
        assert twin.value is not None
        value = json.loads(twin.value)
        assert list(value) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
        assert value["before"] == expected_image(table, record.value["before"])
        assert value["after"] == expected_image(table, record.value["after"])
        assert value["source"] == record.value["source"]
        for field in ("op", "transaction", "ts_ms", "ts_us", "ts_ns"):
            assert value[field] == record.value[field]


def run_bridge(endpoints: dict[str, str], catalog_path: Path, home: Path, **options: Any) -> BridgeProgress:
    return bridge(
        home=home,
        catalog=catalog_path,
        bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        schema_registry_url=endpoints["SCHEMA_REGISTRY_URL"],
        quiet=True,
        **{"stop_when_idle": 1.0, **options},
    )


@pytest.fixture(scope="module")
def workload_topics(
    stack_endpoints: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Catalog, Path, list[Record]]]:
    """A snapshotted and changed source captured into Kafka (2 partitions per topic): catalog, its file, records."""
    folder = tmp_path_factory.mktemp("bridge-e2e")
    catalog, catalog_path = catalog_copy(folder)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "bridge") as dsn:
        create_source_tables(dsn, catalog)
        populate(dsn, catalog_path, customers=150, products=40, orders=150)
        capture = native_capture(dsn, catalog, stack_endpoints, folder / "state.json", slot="cdc_bridge", partitions=2)
        try:
            capture.wait_for(events=1)
            run_workload(dsn, catalog_path, changes=1500)
            wait_idle(capture)
        finally:
            capture.close()
    records = read_topics(
        stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        stack_endpoints["SCHEMA_REGISTRY_URL"],
        [table.topic for table in catalog.tables],
    )
    yield catalog, catalog_path, records


def test_all_six_tables_are_bridged_exactly_once_with_equal_content(
    workload_topics: tuple[Catalog, Path, list[Record]], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    catalog, catalog_path, avro = workload_topics
    started = time.monotonic()
    progress = run_bridge(stack_endpoints, catalog_path, tmp_path, group="bridge-e2e")
    elapsed = time.monotonic() - started
    topics = [table.topic for table in catalog.tables]
    bridged = read_json_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], [f"{t}.json" for t in topics])
    check_bridged(catalog, avro, bridged)
    per_topic = Counter(r.topic for r in avro)
    assert all(per_topic[topic] > 0 for topic in topics), per_topic
    assert any(r.value is None for r in avro) and any(r.partition == 1 for r in avro)  # tombstones, 2 partitions
    assert read_json_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], [f"{t}.json.dlq" for t in topics]) == []
    assert progress.written == len(avro) and progress.dead_letters == 0 and progress.aborted == 0
    assert progress.tombstones == sum(1 for r in avro if r.value is None)
    print(f"bridged {len(avro):,} events in {elapsed:.1f}s wall ({progress.rate():,.0f} events/s once assigned)")

    # A restart (same group) finds everything committed and writes nothing.
    again = run_bridge(stack_endpoints, catalog_path, tmp_path, group="bridge-e2e")
    assert again.written == 0 and again.skipped == 0
    # A new group re-reads everything, but finds every record already in the outputs: still nothing twice.
    fresh = run_bridge(stack_endpoints, catalog_path, tmp_path, group="bridge-e2e-2")
    assert fresh.written == 0 and fresh.skipped == len(avro)
    assert len(read_json_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], [f"{t}.json" for t in topics])) == len(avro)


# -- poison records -------------------------------------------------------------------------------------------


class Customers:
    """Framed customer events under the registered schemas of a catalog copy."""

    def __init__(self, table: Table, registry_url: str) -> None:
        registry = SchemaRegistry(SchemaRegistrySettings(url=registry_url))
        try:
            key_subject, value_subject = subject_names(table)
            key_id = registry.register(key_subject, key_schema(table)).schema_id
            value_id = registry.register(value_subject, envelope_schema(table)).schema_id
        finally:
            registry.close()
        self.table = table
        self.keys = AvroEncoder(key_schema(table), key_id)
        self.values = EnvelopeEncoder(envelope_schema(table), value_id)

    def key(self, customer_id: int) -> bytes:
        return self.keys.encode({"customer_id": customer_id})

    def value(self, customer_id: int) -> bytes:
        after = {
            "customer_id": customer_id, "email": f"c{customer_id}@x", "first_name": "F", "last_name": "L",
            "phone": None, "birth_date": 7000, "segment": "consumer", "address_line1": "a", "city": "c",
            "state": "IL", "postal_code": "1", "country": "US", "loyalty_tier": None,
            "created_at": 1_700_000_000_000_000, "updated_at": 1_700_000_000_000_001,
        }  # fmt: skip
        source = postgres_source(
            connector_name="t",
            database="retail",
            schema="public",
            table="customer",
            position=PostgresPosition(lsn=1000 + customer_id, tx_id=5, commit_ts_us=1_700_000_000_000_000),
        )
        return self.values.encode(build_envelope("c", before=None, after=after, source=source, processed_at_us=1))


def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, key, value in records:
        producer.produce(topic, key=key, value=value, partition=partition, headers=[("origin", b"test")])
    assert producer.flush(30) == 0


def test_poison_records_go_to_the_dead_letter_topic_and_the_bridge_goes_on(
    stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    table = catalog.table("customer")
    bootstrap = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics({"bootstrap.servers": bootstrap}, [table.topic], partitions=2, replication=1)
    customers = Customers(table, stack_endpoints["SCHEMA_REGISTRY_URL"])
    good = customers.value(1)
    poison = {
        "BadFraming": b"\x01" + good[1:],
        "UnknownSchemaId": frame(987_654, good[5:]),
        "TruncatedRecord": good[: len(good) // 2],
    }
    produce(
        bootstrap,
        table.topic,
        [
            (0, customers.key(1), good),
            (0, customers.key(2), poison["BadFraming"]),
            (0, customers.key(3), customers.value(3)),
            (0, customers.key(4), poison["UnknownSchemaId"]),
            (0, customers.key(3), None),
            (0, customers.key(5), poison["TruncatedRecord"]),
            (0, customers.key(6), customers.value(6)),
            (1, customers.key(7), customers.value(7)),
        ],
    )
    progress = run_bridge(stack_endpoints, catalog_path, tmp_path, tables="customer", group="bridge-poison")
    assert (progress.written, progress.dead_letters, progress.tombstones) == (8, 3, 1)

    dead = read_json_topics(bootstrap, [f"{table.topic}.json.dlq"])
    assert [(d.partition, d.source[2]) for d in dead] == [(0, 1), (0, 3), (0, 5)]
    for letter, (error_class, raw) in zip(dead, poison.items(), strict=True):
        assert letter.headers["cdc.error.class"] == error_class.encode()
        assert letter.headers["cdc.error.message"]
        assert letter.headers["origin"] == b"test"  # the source's headers travel along
        assert letter.value == raw  # the raw bytes, for inspection and replay
        assert letter.key == customers.key({1: 2, 3: 4, 5: 5}[letter.source[2]])
    bridged = read_json_topics(bootstrap, [f"{table.topic}.json"])
    assert [(r.partition, r.source[2], r.key) for r in bridged] == [
        (0, 0, b'{"customer_id":1}'),
        (0, 2, b'{"customer_id":3}'),
        (0, 4, b'{"customer_id":3}'),
        (0, 6, b'{"customer_id":6}'),
        (1, 0, b'{"customer_id":7}'),
    ]
    assert bridged[2].value is None  # the tombstone
    first = json.loads(bridged[0].value or b"")
    assert first["after"]["birth_date"] == "1989-03-02" and first["after"]["created_at"].endswith(".000000")

    # More records later, one of them poison: a restart bridges exactly those.
    produce(bootstrap, table.topic, [(1, customers.key(8), customers.value(8)), (1, customers.key(9), b"")])
    again = run_bridge(stack_endpoints, catalog_path, tmp_path, tables="customer", group="bridge-poison")
    assert (again.written, again.dead_letters) == (2, 1)
    assert len(read_json_topics(bootstrap, [f"{table.topic}.json"])) == 6
    late = [d for d in read_json_topics(bootstrap, [f"{table.topic}.json.dlq"]) if d.partition == 1]
    assert [(d.source[2], d.value, d.headers["cdc.error.class"]) for d in late] == [(2, b"", b"BadFraming")]


# -- a transaction left open by a killed bridge -----------------------------------------------------------------

KILLED_MID_TRANSACTION = """
import os, signal, sys
from confluent_kafka import Consumer, Producer, TopicPartition
from common.settings import SchemaRegistrySettings
from redshift.bridge.decoding import WriterSchemas, registry_lookup
from redshift.bridge.records import SourceRecord, bridge_record, headers_of

bootstrap, registry, topic, transactional_id, first, last = sys.argv[1:]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "killed-bridge-reader"})
consumer.assign([TopicPartition(topic, 0, int(first))])
messages = []
while len(messages) < int(last) - int(first) + 1:
    message = consumer.poll(10)
    assert message is not None and message.error() is None
    messages.append(message)
consumer.close()
schemas = WriterSchemas(registry_lookup(SchemaRegistrySettings(url=registry))[0])
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
producer.init_transactions(30)
producer.begin_transaction()
for m in messages:
    out = bridge_record(SourceRecord(topic, 0, m.offset(), m.key(), m.value(), headers_of(m.headers())), schemas)
    producer.produce(out.topic, key=out.key, value=out.value, partition=out.partition, headers=out.headers)
producer.flush(30)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_transaction_left_open_by_a_killed_bridge_is_not_written_twice(
    stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    table = catalog.table("customer")
    bootstrap = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics({"bootstrap.servers": bootstrap}, [table.topic], partitions=1, replication=1)
    customers = Customers(table, stack_endpoints["SCHEMA_REGISTRY_URL"])
    produce(bootstrap, table.topic, [(0, customers.key(i), customers.value(i)) for i in range(1, 5)])
    assert run_bridge(stack_endpoints, catalog_path, tmp_path, tables="customer", group="bridge-open-txn").written == 4
    produce(bootstrap, table.topic, [(0, customers.key(i), customers.value(i)) for i in range(5, 11)])
    # A bridge (same transactional id) wrote the outputs of source offsets 4..6, then died before committing.
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_TRANSACTION, bootstrap, stack_endpoints["SCHEMA_REGISTRY_URL"],
         table.topic, "cdc-bridge-bridge-open-txn", "4", "6"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    progress = run_bridge(stack_endpoints, catalog_path, tmp_path, tables="customer", group="bridge-open-txn")
    # The restart's init_transactions ends the open transaction as aborted. Apache Kafka hides aborted output from
    # read_committed readers (the bridge writes offsets 4..9); the local broker shows it, so the bridge finds the
    # 3 records already there and writes only 7..9.
    assert (progress.skipped, progress.written) in ((0, 6), (3, 3))
    bridged = read_json_topics(bootstrap, [f"{table.topic}.json"])
    assert sorted(r.source[2] for r in bridged) == list(range(10))  # each source record exactly once
    assert [json.loads(r.key or b"")["customer_id"] for r in bridged] == list(range(1, 11))


# -- bad input ------------------------------------------------------------------------------------------------


def test_bad_input_is_one_clear_error(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    with pytest.raises(ConfigError, match="unknown table 'nope'"):
        run_bridge(stack_endpoints, catalog_path, tmp_path, tables="customer,nope")
    with pytest.raises(ConfigError, match=r"do not exist yet: start `cdc capture` first"):
        run_bridge(stack_endpoints, catalog_path, tmp_path, tables="orders")
    topic = catalog.table("orders").topic
    bootstrap = {"bootstrap.servers": stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]}
    ensure_topics(bootstrap, [topic], partitions=3, replication=1)
    ensure_topics(bootstrap, [f"{topic}.json"], partitions=1, replication=1)
    with pytest.raises(ConfigError, match=r"has 1 partitions but .* has 3"):
        run_bridge(stack_endpoints, catalog_path, tmp_path, tables="orders")
    with pytest.raises(ConfigError, match="BRIDGE_BATCH_SIZE"):
        run_bridge(stack_endpoints, catalog_path, tmp_path, tables="orders", batch_size=10**9)


def test_sigterm_stops_the_bridge_cleanly(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    table = catalog.table("customer")
    bootstrap = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    ensure_topics({"bootstrap.servers": bootstrap}, [table.topic], partitions=1, replication=1)
    customers = Customers(table, stack_endpoints["SCHEMA_REGISTRY_URL"])
    produce(bootstrap, table.topic, [(0, customers.key(i), customers.value(i)) for i in range(1, 4)])
    process = subprocess.Popen(
        [sys.executable, "-c", BRIDGE, "--catalog", str(catalog_path), "--tables", "customer",
         "--bootstrap-servers", bootstrap, "--schema-registry-url", stack_endpoints["SCHEMA_REGISTRY_URL"]],
        env={**os.environ, "CDC_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None and process.stdout is not None
    watcher = LogWatcher(process.stderr)
    assert watcher.assigned.wait(60), watcher.tail()
    deadline = time.monotonic() + 30
    while len(read_json_topics(bootstrap, [f"{table.topic}.json"])) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, watcher.tail()
    output = process.stdout.read()
    assert "json bridge" in output  # the live table
    assert "bridge stopped: 3 records written" in output
