"""What the bridge already wrote past its committed offsets, read back from the tails of its output partitions.

On Apache Kafka / MSK this finds nothing: offsets commit atomically with the outputs, and a read_committed
reader never sees the output of an aborted transaction. The local broker (Tansu 0.6) hides an open transaction's
output from read_committed readers, but once the transaction is aborted (by ``abort_transaction``, or by the
``init_transactions`` of the next incarnation after a crash) its output becomes visible: its fetch responses list
no aborted transactions, so clients cannot filter them. A bridge therefore reads each output partition back from
where its committed source offset starts (after ``init_transactions``, and after every abort), notes the source
offsets it finds there (every output carries ``cdc.source.*`` headers) and skips those source records instead of
writing them twice. Either way a read_committed reader sees every source record exactly once.

An output partition holds the records of one source partition in source-offset order, so only its tail needs
reading: from the end backwards in growing windows, until the window reaches a record from before the committed
offset (or the start of the partition).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from common.errors import ServiceUnavailableError
from redshift.bridge.records import headers_of
from redshift.bridge.topics import (
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
    dead_letter_topic,
    json_topic,
)

SourcePartition = tuple[str, int]
FIRST_WINDOW: Final = 256
GROWTH: Final = 8


def source_coordinates(message: Message) -> tuple[str, int, int] | None:
    """(topic, partition, offset) of the source record an output was made from; None for foreign records."""
    found: dict[str, str] = {}
    for name, value in headers_of(message.headers()):
        if name in (SOURCE_TOPIC_HEADER, SOURCE_PARTITION_HEADER, SOURCE_OFFSET_HEADER) and value is not None:
            found[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        return (
            found[SOURCE_TOPIC_HEADER],
            int(found[SOURCE_PARTITION_HEADER]),
            int(found[SOURCE_OFFSET_HEADER]),
        )
    except (KeyError, ValueError):
        return None


@dataclass
class _Tail:
    """One output partition being read back for one source partition."""

    output: TopicPartition
    source: SourcePartition
    committed: int  # first source offset the group has not committed (0 when nothing was committed)
    low: int
    high: int
    window: int = FIRST_WINDOW

    @property
    def start(self) -> int:
        return max(self.low, self.high - self.window)


def ledger_consumer_config(consumer_config: Mapping[str, Any]) -> dict[str, Any]:
    """A group-less reader of the outputs: assign only, never commit, read_committed, EOF events."""
    return {
        **consumer_config,
        "group.id": f"cdc-bridge-ledger-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
    }


def written_offsets(
    consumer_config: Mapping[str, Any],
    committed: Mapping[SourcePartition, int],
    *,
    timeout_s: float = 60.0,
) -> dict[SourcePartition, set[int]]:
    """For each source partition and its committed offset, the source offsets at or past it already written."""
    written: dict[SourcePartition, set[int]] = {source: set() for source in committed}
    if not committed:
        return written
    consumer = Consumer(ledger_consumer_config(consumer_config))
    try:
        tails = _tails(consumer, committed)
        deadline = time.monotonic() + timeout_s
        while tails:
            seen = _read_to_end(consumer, tails, deadline)
            unfinished = []
            for tail in tails:
                offsets = seen[(tail.output.topic, tail.output.partition)].get(tail.source, [])
                if tail.start > tail.low and not any(offset < tail.committed for offset in offsets):
                    tail.window *= GROWTH  # the window may not reach back to the committed offset yet
                    unfinished.append(tail)
                    continue
                written[tail.source].update(offset for offset in offsets if offset >= tail.committed)
            tails = unfinished
    finally:
        consumer.close()
    return written


def _tails(consumer: Consumer, committed: Mapping[SourcePartition, int]) -> list[_Tail]:
    tails = []
    for (topic, partition), offset in committed.items():
        for output in (json_topic(topic), dead_letter_topic(topic)):
            tp = TopicPartition(output, partition)
            try:
                found = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            except KafkaException as exc:
                raise ServiceUnavailableError(f"could not read the offsets of {output}[{partition}]: {exc}") from None
            if found is None:
                raise ServiceUnavailableError(f"no answer for the offsets of {output}[{partition}] within 10s")
            low, high = found
            if high > low:
                tails.append(_Tail(tp, (topic, partition), max(offset, 0), low, high))
    return tails


def _read_to_end(
    consumer: Consumer, tails: Iterable[_Tail], deadline: float
) -> dict[tuple[str, int], dict[SourcePartition, list[int]]]:
    """Every output record's source coordinates from each tail's window start to the partition's end."""
    tails = list(tails)
    consumer.assign([TopicPartition(t.output.topic, t.output.partition, t.start) for t in tails])
    pending = {(t.output.topic, t.output.partition) for t in tails}
    seen: dict[tuple[str, int], dict[SourcePartition, list[int]]] = {key: {} for key in pending}
    while pending:
        if time.monotonic() > deadline:
            raise ServiceUnavailableError(f"could not read {len(pending)} output partitions back to their end")
        for message in consumer.consume(1000, 0.5):
            where = (str(message.topic()), int(message.partition() or 0))
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(where)
                elif error.fatal():
                    raise ServiceUnavailableError(f"reading {where[0]}[{where[1]}] back failed: {error.str()}")
                continue
            coordinates = source_coordinates(message)
            if coordinates is not None and where in seen:
                topic, partition, offset = coordinates
                seen[where].setdefault((topic, partition), []).append(offset)
    consumer.unassign()
    return seen
