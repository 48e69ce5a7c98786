"""Thin access to Kafka partitions for the Python Kafka source: list, find true ends, read offset ranges.

Ends are found by reading to partition EOF, not from the high watermark alone: the embedded broker (Tansu)
reports the base offset of the last batch + 1 as its watermark, so trusting it would leave the tail of the
last batch unread until more data arrives (and never read it under ``Trigger.AvailableNow``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Final

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common.errors import ServiceUnavailableError
from streaming.source.offsets import OffsetRange, Offsets

# Exactly the columns (names, order, types) of Spark's `kafka` source with includeHeaders=true.
KAFKA_ARROW_SCHEMA: Final = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("timestampType", pa.int32()),
        ("headers", pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))),
    ]
)
KAFKA_SPARK_DDL: Final = (
    "key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP, "
    "timestampType INT, headers ARRAY<STRUCT<key: STRING, value: BINARY>>"
)
METADATA_TIMEOUT_S: Final = 15.0
END_PROBE_TIMEOUT_S: Final = 30.0


class KafkaLog:
    """Reads partitions of subscribed topics through confluent-kafka; holds no offsets of its own."""

    def __init__(self, client_config: Mapping[str, str]) -> None:
        self._config = dict(client_config)

    def _consumer(self) -> Any:
        # No group membership and no commits: offsets live in Spark's checkpoint only. A group id is still
        # required by librdkafka's consumer, so each instance gets a throw-away one.
        return Consumer(
            {
                # Only offsets known to exist are read, and ends are probed: never let the broker hold an empty
                # fetch for its default 500 ms before the end of a partition is reported (users may override).
                "fetch.wait.max.ms": 10,
                **self._config,
                "group.id": f"cdc-spark-source-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "error",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )

    def watermarks(self, topics: list[str]) -> tuple[Offsets, Offsets]:
        """(low, high) watermarks of every partition of the topics; a missing topic is an error."""
        consumer = self._consumer()
        try:
            try:
                metadata = consumer.list_topics(timeout=METADATA_TIMEOUT_S)
            except KafkaException as exc:
                raise ServiceUnavailableError(f"Kafka metadata unavailable: {exc}") from None
            low: Offsets = {}
            high: Offsets = {}
            for topic in topics:
                described = metadata.topics.get(topic)
                if described is None or described.error is not None or not described.partitions:
                    raise ServiceUnavailableError(f"topic '{topic}' does not exist on the broker")
                low[topic], high[topic] = {}, {}
                for partition in sorted(described.partitions):
                    lo, hi = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S, cached=False
                    )
                    low[topic][partition], high[topic][partition] = lo, hi
            return low, high
        finally:
            consumer.close()

    def log_ends(self, topics: list[str], not_before: Offsets | None = None) -> tuple[Offsets, Offsets]:
        """(earliest, true end) of every partition: the watermark corrected by reading to partition EOF."""
        low, high = self.watermarks(topics)
        ends = {topic: dict(parts) for topic, parts in high.items()}
        probes = []
        for topic, parts in high.items():
            for partition, hi in parts.items():
                floor = max(low[topic][partition], (not_before or {}).get(topic, {}).get(partition, 0))
                if hi > low[topic][partition]:
                    probes.append(TopicPartition(topic, partition, max(hi - 1, floor)))
        if probes:
            for (topic, partition), end in self._probe_ends(probes).items():
                ends[topic][partition] = max(ends[topic][partition], end)
        return low, ends

    def _probe_ends(self, probes: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Read from each probe offset to EOF; the end is the EOF offset (or last offset seen + 1)."""
        consumer = self._consumer()
        ends: dict[tuple[str, int], int] = {}
        pending = {(tp.topic, tp.partition) for tp in probes}
        deadline = time.monotonic() + END_PROBE_TIMEOUT_S
        try:
            consumer.assign(probes)
            while pending:
                if time.monotonic() > deadline:
                    names = ", ".join(f"{t}/{p}" for t, p in sorted(pending))
                    raise ServiceUnavailableError(
                        f"no end of partition reached within {END_PROBE_TIMEOUT_S:.0f}s: {names}"
                    )
                # poll, not consume(n): consume waits out its whole timeout when fewer than n records come.
                message = consumer.poll(timeout=0.5)
                if message is not None:
                    coordinates = (message.topic(), message.partition())
                    error = message.error()
                    if error is not None and error.code() == KafkaError._PARTITION_EOF:
                        ends[coordinates] = max(ends.get(coordinates, 0), message.offset())
                        pending.discard(coordinates)
                    elif error is not None:
                        raise ServiceUnavailableError(f"reading {coordinates[0]}/{coordinates[1]}: {error.str()}")
                    else:
                        ends[coordinates] = max(ends.get(coordinates, 0), message.offset() + 1)
            return ends
        finally:
            consumer.close()

    def read(self, planned: OffsetRange, batch_rows: int = 20_000) -> Iterator[pa.RecordBatch]:
        """The records of ``[start, end)`` as Arrow batches with the Kafka source's columns.

        Fails (so Spark retries the task, then the batch) when the partition ends before ``end``: offsets
        that were there when the batch was planned are gone, which is data loss, never silently skipped.
        """
        consumer = self._consumer()
        try:
            consumer.assign([TopicPartition(planned.topic, planned.partition, planned.start)])
            columns: dict[str, list[Any]] = {name: [] for name in KAFKA_ARROW_SCHEMA.names}
            last = planned.start - 1
            idle_since = time.monotonic()
            while last < planned.end - 1:
                # Ask for no more than the range still holds: consume(n) waits out its timeout for n records.
                wanted = min(batch_rows, 10_000, planned.end - 1 - last)
                messages = consumer.consume(num_messages=wanted, timeout=1.0)
                if not messages and time.monotonic() - idle_since > END_PROBE_TIMEOUT_S:
                    raise ServiceUnavailableError(
                        f"{planned.topic}/{planned.partition}: no records after offset {last} within "
                        f"{END_PROBE_TIMEOUT_S:.0f}s, expected up to {planned.end - 1}"
                    )
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            if message.offset() < planned.end:
                                raise ServiceUnavailableError(
                                    f"{planned.topic}/{planned.partition} ends at offset {message.offset()} but the "
                                    f"batch was planned up to {planned.end}: records were lost (was the broker "
                                    "restarted or the retention exceeded?)"
                                )
                            last = planned.end - 1
                            break
                        raise ServiceUnavailableError(f"reading {planned.topic}/{planned.partition}: {error.str()}")
                    offset = message.offset()
                    if offset >= planned.end:
                        last = planned.end - 1
                        break
                    idle_since = time.monotonic()
                    last = offset
                    _append(columns, message)
                    if len(columns["offset"]) >= batch_rows:
                        yield _batch(columns)
                        columns = {name: [] for name in KAFKA_ARROW_SCHEMA.names}
            if columns["offset"]:
                yield _batch(columns)
        finally:
            consumer.close()


def _append(columns: dict[str, list[Any]], message: Any) -> None:
    columns["key"].append(message.key())
    columns["value"].append(message.value())
    columns["topic"].append(message.topic())
    columns["partition"].append(message.partition())
    columns["offset"].append(message.offset())
    timestamp_type, timestamp_ms = message.timestamp()
    columns["timestamp"].append(timestamp_ms * 1000 if timestamp_ms >= 0 else None)
    # librdkafka: 1 = create time, 2 = log append time; Spark's column: 0 = create time, 1 = log append time.
    columns["timestampType"].append(max(timestamp_type - 1, 0))
    headers = message.headers()
    columns["headers"].append([{"key": k, "value": v} for k, v in headers] if headers else [])


def _batch(columns: dict[str, list[Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(columns[field.name], type=field.type) for field in KAFKA_ARROW_SCHEMA],
        schema=KAFKA_ARROW_SCHEMA,
    )
