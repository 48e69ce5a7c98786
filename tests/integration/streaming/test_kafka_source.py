"""The Python Kafka source against the real broker: columns, offsets, admission control, AvailableNow, quirks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from common.errors import ConfigError
from producers.topics import ensure_topics
from streaming.source import KafkaSourceConfig, read_kafka_stream
from streaming.source.kafka_log import KafkaLog

RECORDS_PER_PARTITION = 150


@pytest.fixture
def topic(stack_endpoints: dict[str, str]) -> str:
    """A fresh 2-partition topic with 150 records per partition, produced in large batches."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    config = {"bootstrap.servers": stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]}
    ensure_topics(config, [name], partitions=2, replication=1)
    producer = Producer({**config, "linger.ms": 200, "batch.num.messages": 1000})
    for partition in (0, 1):
        for index in range(RECORDS_PER_PARTITION):
            producer.produce(
                name, key=f"k{index}".encode(), value=f"{partition}:{index}".encode(), partition=partition,
                headers=[("origin", b"test")] if index == 0 else None,
            )  # fmt: skip
    assert producer.flush(30) == 0
    return name


def _run(spark: SparkSession, endpoints: dict[str, str], topic: str, tmp_path: Path, **options: object) -> list[dict]:
    config = KafkaSourceConfig("python", endpoints["KAFKA_BOOTSTRAP_SERVERS"], **options)  # type: ignore[arg-type]
    name = f"q_{uuid.uuid4().hex[:8]}"
    query = (
        read_kafka_stream(spark, config, [topic])
        .writeStream.format("memory")
        .queryName(name)
        .option("checkpointLocation", str(tmp_path / name))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(300)
    assert query.exception() is None
    rows = [row.asDict(recursive=True) for row in spark.table(name).collect()]
    rows.append({"_batches": [p for p in query.recentProgress if p["numInputRows"]]})
    return rows


def test_reads_every_record_with_the_kafka_source_columns(
    spark: SparkSession, stack_endpoints: dict[str, str], topic: str, tmp_path: Path
) -> None:
    *rows, _ = _run(spark, stack_endpoints, topic, tmp_path)
    assert len(rows) == 2 * RECORDS_PER_PARTITION
    assert set(rows[0]) == {"key", "value", "topic", "partition", "offset", "timestamp", "timestampType", "headers"}
    assert {(r["partition"], r["offset"]) for r in rows} == {(p, o) for p in (0, 1) for o in range(150)}
    assert all(r["value"] == f"{r['partition']}:{r['offset']}".encode() for r in rows)
    first = next(r for r in rows if r["partition"] == 0 and r["offset"] == 0)
    assert first["headers"] == [{"key": "origin", "value": b"test"}]
    assert first["timestamp"] is not None and first["timestampType"] == 0


def test_log_end_is_read_to_eof_not_taken_from_the_watermark(stack_endpoints: dict[str, str], topic: str) -> None:
    log = KafkaLog({"bootstrap.servers": stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]})
    _, ends = log.log_ends([topic])
    _, watermarks = log.watermarks([topic])
    assert ends[topic] == {0: RECORDS_PER_PARTITION, 1: RECORDS_PER_PARTITION}
    # The embedded broker reports the last batch's base offset + 1; the source must not stop there.
    assert all(watermarks[topic][p] <= ends[topic][p] for p in (0, 1))


def test_max_offsets_per_trigger_splits_the_backlog_into_batches(
    spark: SparkSession, stack_endpoints: dict[str, str], topic: str, tmp_path: Path
) -> None:
    *rows, meta = _run(spark, stack_endpoints, topic, tmp_path, max_offsets_per_trigger=70)
    assert len(rows) == 2 * RECORDS_PER_PARTITION
    sizes = [p["numInputRows"] for p in meta["_batches"]]
    assert max(sizes) <= 70 and len(sizes) >= 5 and sum(sizes) == 300


def test_starting_offsets_latest_and_json(
    spark: SparkSession, stack_endpoints: dict[str, str], topic: str, tmp_path: Path
) -> None:
    *latest, _ = _run(spark, stack_endpoints, topic, tmp_path, starting_offsets="latest")
    assert latest == []
    offsets = json.dumps({topic: {"0": 140, "1": -2}})
    *rows, _ = _run(spark, stack_endpoints, topic, tmp_path, starting_offsets=offsets)
    assert sorted((r["partition"], r["offset"]) for r in rows) == [(0, o) for o in range(140, 150)] + [
        (1, o) for o in range(150)
    ]


def test_bad_starting_offsets_fail_with_a_clear_message(
    spark: SparkSession, stack_endpoints: dict[str, str], topic: str
) -> None:
    config = KafkaSourceConfig("python", stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], starting_offsets="yesterday")
    with pytest.raises(Exception, match="startingOffsets must be 'earliest', 'latest' or JSON"):
        read_kafka_stream(spark, config, [topic]).writeStream.format("memory").queryName(
            "bad"
        ).start().awaitTermination(60)
    assert ConfigError  # the source raises ConfigError; Spark wraps it in its own exception type
