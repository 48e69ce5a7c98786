"""Streaming bench: the landing job (Spark, local[2]) vs a single-process consumer, and landing freshness.

Prints, all measured in this run, on fresh topics of change events (Confluent-framed Debezium Avro): customer updates
with before and after images (the default), or order_item inserts (``--table order_item``, lighter records):
1. throughput of the landing job as `cdc stream --available-now` runs it (Python Kafka source -> mapInArrow
   decode -> Parquet file sink partitioned by hour, Trigger.AvailableNow) on a topic of N events, from query start
   to finish and including the SparkSession startup, vs a single-process baseline on the same topic (confluent
   consumer -> fastavro -> pyarrow Parquet, the same columns and hour partitions); goal ratio >= 1.0x and
   >= 40,000 events/s. Both outputs must hold exactly N rows (counted from the committed files), or the bench fails.
2. freshness at a steady 2,000 changes/s (source.ts_us = produce time): from a change's source time to the moment
   its row became readable (the sink log file of its batch appeared, polled every 100 ms); goal
   p95 <= 2 x trigger + 5 s.

Starts broker, registry (and the rest of the embedded stack) in a temporary folder, or uses the running services
named by KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL when both are set.

    .venv/bin/python bench/stream.py [--events 600000] [--partitions 2] [--trigger 5] [--freshness-seconds 60]
                                     [--table customer|order_item] [--skip-throughput] [--skip-freshness] [--variants]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import fastavro
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import SparkSession
from pyspark.sql.streaming.listener import StreamingQueryListener

from common.lake import LakeLocation
from common.landing_files import (
    committed_file_details,
    fold_log,
    log_file_batch,
    parse_log_text,
    table_relative_path,
)
from common.settings import KafkaSettings, SchemaRegistrySettings
from common.spark import local_session
from localstack.paths import StackPaths
from localstack.supervisor import EmbeddedStack
from producers.publish import SchemaCache, TableCodec, producer_config
from producers.topics import ensure_topics
from schemas.catalog import Table, load_catalog
from schemas.envelope import PostgresPosition, build_envelope, postgres_source
from schemas.registry import SchemaRegistry
from streaming.decode import DecodePlan
from streaming.job import LandingJob
from streaming.landing import AVAILABLE_NOW, SinkConfig, decode_to_landing, metrics_name, start_landing_query
from streaming.landing_schema import PARTITION_COLUMNS, LandingSchema
from streaming.plans import decode_plan
from streaming.source import KafkaSourceConfig, python_options
from streaming.writer_schemas import RegistryEndpoint

TABLES: Final = ("customer", "order_item")
FRESHNESS_RATE: Final = 2_000  # changes/s
THROUGHPUT_GOAL: Final = 40_000  # events/s
MAX_ROWS_PER_FILE: Final = SinkConfig().max_records_per_file  # the baseline rolls its files like the sink
ARROW_BATCH_CONF: Final = "spark.sql.execution.arrow.maxRecordsPerBatch"
POLL_S: Final = 0.1


class BenchFailed(Exception):
    """An output does not hold exactly the events produced: the numbers would mean nothing."""


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# --------------------------------------------------------------------------------------------------------------
# Events: customer updates (REPLICA IDENTITY FULL: before and after images) or order_item inserts.

Change = Callable[[int, int], tuple[dict[str, Any], dict[str, Any]]]  # (i, commit time µs) -> (key, envelope)


def source_block(table: str, i: int, commit_us: int) -> dict[str, Any]:
    position = PostgresPosition(lsn=4096 + 64 * i, tx_id=1000 + i, commit_ts_us=commit_us)
    return postgres_source(connector_name="retail", database="retail", schema="public", table=table, position=position)


def customer_change(i: int, commit_us: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(key, envelope) of one customer update committed at ``commit_us``."""
    row = {
        "customer_id": i,
        "email": f"customer{i}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": None if i % 3 == 0 else "+1-555-0100",
        "birth_date": 9000 + i % 10_000,
        "segment": "consumer",
        "address_line1": f"{i} Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "loyalty_tier": "gold" if i % 5 == 0 else None,
        "created_at": commit_us - 86_400_000_000,
        "updated_at": commit_us,
    }
    source = source_block("customer", i, commit_us)
    envelope = build_envelope("u", before=row, after=row, source=source, processed_at_us=commit_us)
    return {"customer_id": i}, envelope


def order_item_change(i: int, commit_us: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(key, envelope) of one order line inserted at ``commit_us`` (four lines per order)."""
    row = {
        "order_id": i // 4,
        "line_no": i % 4 + 1,
        "product_id": 1 + i % 5_000,
        "quantity": 1 + i % 7,
        "unit_price": Decimal(f"{i % 1000}.99"),
        "discount": Decimal("0.00") if i % 3 else Decimal("1.50"),
    }
    source = source_block("order_item", i, commit_us)
    envelope = build_envelope("c", before=None, after=row, source=source, processed_at_us=commit_us)
    return {"order_id": row["order_id"], "line_no": row["line_no"]}, envelope


CHANGES: Final[dict[str, Change]] = {"customer": customer_change, "order_item": order_item_change}


@dataclass
class Stack:
    """Endpoints of the services the bench talks to, and how to reach them."""

    endpoints: dict[str, str]
    kafka: KafkaSettings = field(init=False)
    registry: SchemaRegistry = field(init=False)
    topics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kafka = KafkaSettings(bootstrap_servers=self.endpoints["KAFKA_BOOTSTRAP_SERVERS"])
        self.registry = SchemaRegistry(SchemaRegistrySettings(url=self.endpoints["SCHEMA_REGISTRY_URL"]))

    @property
    def registry_endpoint(self) -> RegistryEndpoint:
        return RegistryEndpoint(self.endpoints["SCHEMA_REGISTRY_URL"])

    def fresh_table(self, base: Table, label: str, partitions: int) -> tuple[Table, TableCodec]:
        """``base`` on a new topic of its own (unique per run) with its schemas registered: (table, encoders)."""
        topic = f"bench_{label}_{uuid.uuid4().hex[:10]}.public.{base.name}"
        table = base.model_copy(update={"topic": topic})
        ensure_topics(self.kafka.librdkafka_config(), [topic], partitions=partitions, replication=1)
        self.topics.append(topic)
        return table, SchemaCache(self.registry).codec(table)

    def delete_topics(self) -> None:
        if not self.topics:
            return
        config: dict[str, Any] = dict(self.kafka.librdkafka_config())
        for future in AdminClient(config).delete_topics(self.topics).values():
            with contextlib.suppress(KafkaException):  # best effort
                future.result(15)


@contextmanager
def services(folder: Path) -> Iterator[Stack]:
    """The running services named in the environment, else the embedded stack in ``folder`` for this run."""
    given = {name: os.environ.get(name, "") for name in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")}
    if all(given.values()):
        print(f"using the running services at {given['KAFKA_BOOTSTRAP_SERVERS']} and {given['SCHEMA_REGISTRY_URL']}")
        stack = Stack(given)
        try:
            yield stack
        finally:
            stack.delete_topics()
            stack.registry.close()
        return
    embedded = EmbeddedStack(StackPaths.at(folder / "stack"))
    print("starting the embedded stack ...")
    stack = Stack(embedded.up().endpoints)
    try:
        yield stack
    finally:
        stack.registry.close()
        embedded.down(purge=True)


class Delivery:
    """Counts acknowledged and failed deliveries of a producer."""

    def __init__(self) -> None:
        self.acked = 0
        self.failure: str | None = None

    def __call__(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.failure = self.failure or error.str()
        else:
            self.acked += 1


def produce(producer: Producer, topic: str, key: bytes, value: bytes, delivery: Delivery) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value, on_delivery=delivery)
        except BufferError:
            producer.poll(0.05)
        else:
            return


def flushed(producer: Producer, delivery: Delivery, expected: int) -> None:
    producer.flush(120)
    if delivery.failure is not None or delivery.acked != expected:
        raise BenchFailed(f"producing failed: {delivery.acked:,} of {expected:,} acknowledged ({delivery.failure})")


def produce_backlog(stack: Stack, table: Table, codec: TableCodec, count: int) -> float:
    """Produce ``count`` changes as fast as the producer takes them; seconds taken (until all acknowledged)."""
    change = CHANGES[table.name]
    producer = Producer(producer_config(stack.kafka))
    delivery = Delivery()
    started = time.perf_counter()
    commit_us = time.time_ns() // 1000
    for i in range(count):
        key, envelope = change(i, commit_us + i)
        produce(producer, table.topic, codec.key.encode(key), codec.value.encode(envelope), delivery)
        if i % 1000 == 0:
            producer.poll(0)
    flushed(producer, delivery, count)
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------------------
# Baseline: one process, confluent consumer -> fastavro -> pyarrow Parquet, the landing columns and hour folders.


class BaselineLander:
    """Reads a topic to its end, decodes and flattens each envelope, writes hour-partitioned Parquet files."""

    def __init__(self, landing: LandingSchema, registry_url: str, out: Path) -> None:
        self.landing = landing
        self.registry_url = registry_url.rstrip("/")
        self.out = out
        self.schema = landing.arrow_schema()
        self.fields = [f for f in self.schema if f.name not in PARTITION_COLUMNS]  # what decode() fills, in order
        self.file_schema = pa.schema(self.fields)
        self.row_names = [c.name for c in landing.row]
        self.writers: dict[tuple[int, ...], tuple[pq.ParquetWriter, int]] = {}
        self.files: list[Path] = []
        self.parsed: dict[int, Any] = {}
        self.now_us = time.time_ns() // 1000

    def writer_schema(self, schema_id: int) -> Any:
        parsed = self.parsed.get(schema_id)
        if parsed is None:
            response = httpx.get(f"{self.registry_url}/schemas/ids/{schema_id}", timeout=10)
            response.raise_for_status()
            parsed = self.parsed[schema_id] = fastavro.parse_schema(json.loads(response.json()["schema"]))
        return parsed

    def land(self, bootstrap: str, topic: str, partitions: int) -> int:
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-baseline-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        rows = 0
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            pending = set(range(partitions))
            while pending:
                messages = consumer.consume(num_messages=10_000, timeout=1.0)
                records = []
                for message in messages:
                    error = message.error()
                    if error is None:
                        records.append(message)
                    elif error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    else:
                        raise BenchFailed(f"baseline consumer: {error.str()}")
                if records:
                    rows += self.write(self.decode(records))
        finally:
            consumer.close()
            for writer, _ in self.writers.values():
                writer.close()
        return rows

    def decode(self, messages: list[Any]) -> pa.Table:
        names = self.row_names
        images: list[list[Any]] = []
        meta: list[tuple[Any, ...]] = []
        for message in messages:
            value = message.value()
            if value[0] != 0:
                raise BenchFailed("baseline: a value is not Confluent-framed")
            schema_id = int.from_bytes(value[1:5], "big")
            stream = io.BytesIO(value)
            stream.seek(5)
            record: Any = fastavro.schemaless_reader(stream, self.writer_schema(schema_id), None)
            op = record["op"]
            image = record["before"] if op == "d" else record["after"]
            images.append([image[name] for name in names])
            source = record["source"]
            tx_id = source["txId"]
            _, timestamp_ms = message.timestamp()
            meta.append(
                (
                    op,
                    source["ts_us"] or source["ts_ms"] * 1000,
                    source["lsn"],
                    None if tx_id is None else str(tx_id),
                    source["snapshot"] not in (None, "false"),
                    schema_id,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    timestamp_ms * 1000,
                )
            )
        columns: list[Sequence[Any]] = [*zip(*images, strict=True), *zip(*meta, strict=True)]
        columns.append([self.now_us] * len(messages))
        arrays = [pa.array(values, type=f.type) for values, f in zip(columns, self.fields, strict=True)]
        source_ts = arrays[len(names) + 1]
        for part in (pc.year, pc.month, pc.day, pc.hour):
            arrays.append(part(source_ts).cast(pa.int32()))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def write(self, table: pa.Table) -> int:
        hours = pc.floor_temporal(table.column("_source_ts"), unit="hour")
        for hour in pc.unique(hours).to_pylist():
            part = table.filter(pc.equal(hours, pa.scalar(hour, hours.type)))
            key = tuple(part.column(name)[0].as_py() for name in PARTITION_COLUMNS)
            writer, written = self.writers.get(key, (None, 0))
            if writer is None or written >= MAX_ROWS_PER_FILE:
                if writer is not None:
                    writer.close()
                folder = self.out.joinpath(*(f"{n}={v}" for n, v in zip(PARTITION_COLUMNS, key, strict=True)))
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"part-{len(self.files):05d}.snappy.parquet"
                self.files.append(path)
                writer, written = pq.ParquetWriter(path, self.file_schema, compression="snappy"), 0
            writer.write_table(part.drop_columns(list(PARTITION_COLUMNS)))
            self.writers[key] = (writer, written + part.num_rows)
        return int(table.num_rows)

    def rows_in_files(self) -> int:
        return sum(pq.ParquetFile(path).metadata.num_rows for path in self.files)


# --------------------------------------------------------------------------------------------------------------
# The landing job.


class QueryEnds(StreamingQueryListener):
    """Records when each streaming query terminated (perf_counter), by query name."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.ended: dict[str, float] = {}
        self.changed = threading.Condition()

    def onQueryStarted(self, event: Any) -> None:
        self.names[str(event.id)] = str(event.name)

    def onQueryProgress(self, event: Any) -> None:
        pass

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        with self.changed:
            self.ended[self.names.get(str(event.id), str(event.id))] = time.perf_counter()
            self.changed.notify_all()

    def end_of(self, name: str, after: float, timeout: float = 5.0) -> float | None:
        """When the query ``name`` started after ``after`` terminated (None if Spark did not say in time)."""
        with self.changed:
            self.changed.wait_for(lambda: self.ended.get(name, 0.0) > after, timeout)
            ended = self.ended.get(name, 0.0)
            return ended if ended > after else None


def landing_job(
    spark: SparkSession, stack: Stack, table: Table, lake: LakeLocation, trigger: float | str
) -> LandingJob:
    """The job `cdc stream` runs, for one table (the python source, the job's defaults otherwise)."""
    registry = stack.registry_endpoint
    return LandingJob(
        spark,
        KafkaSourceConfig("python", stack.endpoints["KAFKA_BOOTSTRAP_SERVERS"]),
        lake,
        SinkConfig(trigger=trigger),
        [table],
        lambda chosen: decode_plan(chosen, registry),
    )


def committed_rows(lake: LakeLocation, table: Table) -> tuple[int, int]:
    """(rows, files) the sink log lists for the table."""
    details = committed_file_details(lake, table.name)
    return sum(d.rows for d in details), len(details)


def check_rows(what: str, rows: int, expected: int) -> None:
    if rows != expected:
        raise BenchFailed(f"{what} holds {rows:,} rows, expected exactly {expected:,}")


@dataclass
class SparkRun:
    seconds: float
    rows: int
    files: int


def run_job(spark: SparkSession, ends: QueryEnds, stack: Stack, table: Table, lake: LakeLocation) -> SparkRun:
    """The landing job with Trigger.AvailableNow, from ``run`` to the query's termination."""
    job = landing_job(spark, stack, table, lake, AVAILABLE_NOW)
    started = time.perf_counter()
    progress = job.run(threading.Event())
    returned = time.perf_counter()
    ended = ends.end_of(metrics_name(table.name), started) or returned  # the job polls every 0.5 s; Spark is exact
    if progress[0].state != "finished":
        raise BenchFailed(f"landing job ended {progress[0].state}: {progress[0].last_error}")
    rows, files = committed_rows(lake, table)
    return SparkRun(min(ended, returned) - started, rows, files)


def run_query(
    spark: SparkSession,
    stack: Stack,
    table: Table,
    plan: DecodePlan,
    lake: LakeLocation,
    source_options: dict[str, str],
    conf: dict[str, str],
) -> SparkRun:
    """The job's query started directly (same source, decode and sink), with extra source options / session conf."""
    previous = {key: spark.conf.get(key) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        from streaming.source.python_source import FORMAT_NAME, CdcKafkaDataSource  # noqa: PLC0415

        started = time.perf_counter()
        spark.dataSource.register(CdcKafkaDataSource)
        options = python_options(KafkaSourceConfig("python", stack.endpoints["KAFKA_BOOTSTRAP_SERVERS"]), [table.topic])
        raw = spark.readStream.format(FORMAT_NAME).options(**options, **source_options).load()
        query = start_landing_query(
            decode_to_landing(raw, plan, lake), table.name, lake, SinkConfig(trigger=AVAILABLE_NOW)
        )
        query.awaitTermination()
        elapsed = time.perf_counter() - started
        if query.exception() is not None:
            raise BenchFailed(f"query failed: {query.exception()}")
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
    rows, files = committed_rows(lake, table)
    return SparkRun(elapsed, rows, files)


@dataclass
class SparkContext:
    """The session (started once, lazily) and the listener timing its queries."""

    startup_s: float = 0.0
    _spark: SparkSession | None = None
    ends: QueryEnds = field(default_factory=QueryEnds)

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            started = time.perf_counter()
            self._spark = local_session("bench-stream")
            self.startup_s = time.perf_counter() - started
            self._spark.streams.addListener(self.ends)
        return self._spark

    def stop(self) -> None:
        if self._spark is not None:
            self._spark.stop()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


VARIANTS: Final[list[tuple[str, dict[str, str], dict[str, str]]]] = [
    ("defaults (as the job, query started directly)", {}, {}),
    ("maxOffsetsPerTrigger=100000", {"maxOffsetsPerTrigger": "100000"}, {}),
    ("maxOffsetsPerTrigger=300000", {"maxOffsetsPerTrigger": "300000"}, {}),
    ("arrow.maxRecordsPerBatch=5000", {}, {ARROW_BATCH_CONF: "5000"}),
    ("arrow.maxRecordsPerBatch=100000", {}, {ARROW_BATCH_CONF: "100000"}),
    ("arrowBatchRows=5000", {"arrowBatchRows": "5000"}, {}),
    ("arrowBatchRows=100000", {"arrowBatchRows": "100000"}, {}),
    ("maxConcurrentOutputFileWriters=8 (no sort)", {}, {"spark.sql.maxConcurrentOutputFileWriters": "8"}),
]


def throughput_bench(
    stack: Stack, context: SparkContext, base: Table, folder: Path, events: int, partitions: int, variants: bool
) -> None:
    table, codec = stack.fresh_table(base, "tp", partitions)
    produce_s = produce_backlog(stack, table, codec, events)
    print(
        f"\n   (encoded and produced {events:,} {table.name} change events to {table.topic} ({partitions} partitions) "
        f"in {produce_s:.1f} s = {rate(events, produce_s):,.0f} events/s)"
    )
    plan = decode_plan(table, stack.registry_endpoint)

    lander = BaselineLander(plan.landing, stack.endpoints["SCHEMA_REGISTRY_URL"], folder / "baseline")
    started = time.perf_counter()
    lander.land(stack.endpoints["KAFKA_BOOTSTRAP_SERVERS"], table.topic, partitions)
    baseline_s = time.perf_counter() - started
    baseline_rows = lander.rows_in_files()
    check_rows("the baseline's output", baseline_rows, events)

    spark = context.spark
    cold = run_job(spark, context.ends, stack, table, LakeLocation(str(folder / "lake")))
    check_rows("the landing zone", cold.rows, events)
    # The same job again on a fresh checkpoint: Python workers started, JVM warm (a long-running job's state).
    warm = run_job(spark, context.ends, stack, table, LakeLocation(str(folder / "lake-again")))
    check_rows("the landing zone (second run)", warm.rows, events)

    baseline_rate = rate(events, baseline_s)
    cold_rate, warm_rate = rate(events, cold.seconds), rate(events, warm.seconds)
    with_startup = context.startup_s + cold.seconds
    ratio = cold_rate / baseline_rate
    print(
        f"\n1. throughput, {events:,} {table.name} change events ({partitions} partitions) -> hour-partitioned Parquet"
    )
    print(
        f"   baseline  one process: confluent consumer -> fastavro -> pyarrow:   {baseline_s:6.1f} s "
        f"{baseline_rate:10,.0f} events/s"
    )
    print(f"   spark     SparkSession startup (local[2], not counted below):     {context.startup_s:6.1f} s")
    print(
        f"   project   landing job, AvailableNow, query start -> finish:       {cold.seconds:6.1f} s "
        f"{cold_rate:10,.0f} events/s"
    )
    print(
        f"   project   the same including the session startup:                {with_startup:6.1f} s "
        f"{rate(events, with_startup):10,.0f} events/s"
    )
    print(
        f"   project   the same job again, fresh checkpoint, warm workers:     {warm.seconds:6.1f} s "
        f"{warm_rate:10,.0f} events/s"
    )
    print(f"   ratio     landing job / baseline:  {ratio:5.2f}x   (goal >= 1.00)   {verdict(ratio >= 1.0)}")
    print(
        f"             (warm run / baseline:   {warm_rate / baseline_rate:5.2f}x   "
        f"{verdict(warm_rate >= baseline_rate)})"
    )
    print(
        f"   absolute  landing job:  {cold_rate:,.0f} events/s   (goal >= {THROUGHPUT_GOAL:,})   "
        f"{verdict(cold_rate >= THROUGHPUT_GOAL)}"
    )
    print(
        f"   rows      landing zone {cold.rows:,} in {cold.files} committed files, baseline {baseline_rows:,} in "
        f"{len(lander.files)} files: both exactly {events:,}"
    )
    if not variants:
        return
    print("\n   variants of the same query (fresh checkpoint each, same topic and session):")
    for number, (name, options, conf) in enumerate(VARIANTS):
        lake = LakeLocation(str(folder / f"variant-{number}"))
        result = run_query(spark, stack, table, plan, lake, options, conf)
        check_rows(f"variant {name!r}", result.rows, events)
        variant_rate = rate(events, result.seconds)
        print(
            f"   {name:48s} {result.seconds:6.1f} s {variant_rate:10,.0f} events/s  "
            f"{variant_rate / baseline_rate:5.2f}x  ({result.files} files)"
        )


# --------------------------------------------------------------------------------------------------------------
# Freshness.


class SinkLogWatcher(threading.Thread):
    """Polls ``_spark_metadata`` of a landing table; notes when each committed file first became listed."""

    def __init__(self, lake: LakeLocation, table: str) -> None:
        super().__init__(name="sink-log-watcher", daemon=True)
        self.lake = lake
        self.table = table
        self.folder = Path(lake.path("landing", table, "_spark_metadata"))
        self.stop = threading.Event()
        self.seen_logs: set[str] = set()
        self.files: dict[str, tuple[float, float]] = {}  # relative path -> (seen at, log file mtime), epoch s
        self.rows = 0
        self.batches = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.poll()
                self.stop.wait(POLL_S)
            self.poll()
        except BaseException as exc:
            self.error = exc

    def poll(self) -> None:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return
        for name in sorted(names, key=lambda n: (log_file_batch(n) or (-1, False))[0]):
            if name in self.seen_logs or log_file_batch(name) is None:
                continue
            seen_at = time.time()
            path = self.folder / name
            mtime = path.stat().st_mtime
            self.seen_logs.add(name)
            self.batches += 1
            for uri in fold_log(parse_log_text(path.read_text(), source=name)):
                relative = table_relative_path(uri, self.table)
                if relative in self.files:
                    continue
                self.files[relative] = (seen_at, mtime)
                self.rows += pq.ParquetFile(self.lake.path("landing", self.table, relative)).metadata.num_rows

    def latencies(self) -> tuple[list[float], list[float]]:
        """Seconds from each landed row's source time to its file's listing: (polled, by log file mtime)."""
        polled: list[float] = []
        by_mtime: list[float] = []
        for relative, (seen_at, mtime) in self.files.items():
            column = pq.read_table(self.lake.path("landing", self.table, relative), columns=["_source_ts"])
            for source_us in column.column(0).cast(pa.int64()).to_pylist():
                polled.append(seen_at - source_us / 1e6)
                by_mtime.append(mtime - source_us / 1e6)
        return polled, by_mtime


def produce_steady(
    stack: Stack, table: Table, codec: TableCodec, per_second: int, seconds: float, first: int = 0
) -> tuple[int, float]:
    """Token bucket at ``per_second``; each change's source time is the moment it is produced. (count, seconds)."""
    change = CHANGES[table.name]
    producer = Producer(producer_config(stack.kafka))
    delivery = Delivery()
    sent = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * per_second) + 1
        while sent < due:
            key, envelope = change(first + sent, time.time_ns() // 1000)
            produce(producer, table.topic, codec.key.encode(key), codec.value.encode(envelope), delivery)
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    flushed(producer, delivery, sent)
    return sent, time.monotonic() - started


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def freshness_bench(
    stack: Stack, context: SparkContext, base: Table, folder: Path, seconds: float, trigger: float, partitions: int
) -> None:
    table, codec = stack.fresh_table(base, "fresh", partitions)
    lake = LakeLocation(str(folder / "fresh-lake"))
    spark = context.spark
    job = landing_job(spark, stack, table, lake, trigger)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            job.run(stop)
        except BaseException as exc:
            failure.append(exc)

    runner = threading.Thread(target=run, name="landing-job", daemon=True)
    runner.start()
    name = metrics_name(table.name)

    def waiting() -> bool:
        if failure:
            raise BenchFailed(f"landing job failed: {failure[0]}")
        query = next((q for q in spark.streams.active if q.name == name), None)
        return query is not None and query.lastProgress is not None

    wait_until(waiting, 120, "the landing query to run its first trigger")
    watcher = SinkLogWatcher(lake, table.name)
    watcher.start()
    try:
        produced, produce_s = produce_steady(stack, table, codec, FRESHNESS_RATE, seconds)
        wait_until(lambda: watcher.rows >= produced or bool(failure), 2 * trigger + 60, "the last change to land")
    finally:
        stop.set()
        runner.join(60)
        watcher.stop.set()
        watcher.join(10)
    if failure:
        raise BenchFailed(f"landing job failed: {failure[0]}")
    if watcher.error is not None:
        raise BenchFailed(f"watching the sink log failed: {watcher.error}")
    rows, _ = committed_rows(lake, table)
    check_rows("the landing zone (freshness)", rows, produced)
    polled, by_mtime = (sorted(values) for values in watcher.latencies())
    goal = 2 * trigger + 5
    p95 = percentile(polled, 0.95)
    print(
        f"\n2. freshness: {produced:,} changes at {rate(produced, produce_s):,.0f}/s for {produce_s:.0f} s, "
        f"trigger {trigger:g} s, {watcher.batches} batches committed, {rows:,} rows landed"
    )
    print(
        f"   source time -> readable (sink log file listed, polled every {POLL_S * 1000:.0f} ms): "
        f"p50 {percentile(polled, 0.5):5.2f} s   p95 {p95:5.2f} s   max {polled[-1]:5.2f} s"
    )
    print(
        f"   (by sink log file mtime:                                    "
        f"p50 {percentile(by_mtime, 0.5):5.2f} s   p95 {percentile(by_mtime, 0.95):5.2f} s   max {by_mtime[-1]:5.2f} s)"
    )
    print(f"   goal      p95 <= 2 x {trigger:g} s + 5 s = {goal:g} s   {verdict(p95 <= goal)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000, help="events in the throughput topic")
    parser.add_argument("--partitions", type=int, default=2, help="partitions of each topic")
    parser.add_argument("--trigger", type=float, default=5.0, help="micro-batch interval of the freshness run (s)")
    parser.add_argument("--freshness-seconds", type=float, default=60.0, help="how long changes are produced (s)")
    parser.add_argument("--table", choices=TABLES, default="customer", help="customer updates or order_item inserts")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument(
        "--variants", action="store_true", help="also time the query under other batch settings (about 3 min more)"
    )
    args = parser.parse_args()
    if args.events <= 0 or args.partitions <= 0 or args.trigger <= 0 or args.freshness_seconds <= 0:
        parser.error("--events, --partitions, --trigger and --freshness-seconds must be positive")
    base = load_catalog().table(args.table)
    # This machine is small and often shared: a load average well above 0 before the run means noisy numbers.
    print(f"load average before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as folder, services(Path(folder)) as stack:
            context = SparkContext()
            try:
                if not args.skip_throughput:
                    throughput_bench(stack, context, base, Path(folder), args.events, args.partitions, args.variants)
                if not args.skip_freshness:
                    freshness_bench(
                        stack, context, base, Path(folder), args.freshness_seconds, args.trigger, args.partitions
                    )
            finally:
                context.stop()
    except BenchFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nload average after: {os.getloadavg()[0]:.1f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
