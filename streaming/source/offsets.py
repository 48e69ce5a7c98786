"""Kafka offset arithmetic for the Python Kafka source: pure functions over ``{topic: {partition: offset}}``.

Offsets use the JSON shape of Spark's own ``kafka`` source (``{"topic": {"0": 42}}``, with ``-2`` meaning
earliest and ``-1`` latest in ``startingOffsets``), so checkpoints and options read the same on both sources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from common.errors import ConfigError

EARLIEST: Final = -2
LATEST: Final = -1

# {topic: {partition: offset}}; partitions are ints here and strings in the JSON Spark checkpoints.
Offsets = dict[str, dict[int, int]]


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Records ``[start, end)`` of one topic partition: one Spark input partition, one task."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def to_json(offsets: Offsets) -> dict[str, dict[str, int]]:
    """The checkpointable form: partition numbers as strings, sorted for stable diffs."""
    return {topic: {str(p): offsets[topic][p] for p in sorted(offsets[topic])} for topic in sorted(offsets)}


def from_json(data: Mapping[str, Mapping[str, int]]) -> Offsets:
    """Parse the checkpointed form back; partition keys become ints."""
    return {topic: {int(p): int(o) for p, o in parts.items()} for topic, parts in data.items()}


def parse_starting_offsets(text: str, topics: list[str]) -> Offsets | str:
    """``earliest`` / ``latest`` (returned as is) or Spark's JSON form; ConfigError names what is wrong."""
    value = text.strip()
    if value.lower() in ("earliest", "latest"):  # case-insensitive, as Spark's kafka source reads it
        return value.lower()
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(
            f"startingOffsets must be 'earliest', 'latest' or JSON like {{\"topic\": {{\"0\": 42}}}}, got {text!r}"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError('startingOffsets JSON must map topic -> {partition: offset}, e.g. {"t": {"0": -2}}')
    unknown = sorted(set(data) - set(topics))
    if unknown:
        raise ConfigError(f"startingOffsets names topic(s) not subscribed: {', '.join(unknown)}")
    try:
        parsed = from_json(data)
    except (TypeError, ValueError):
        raise ConfigError("startingOffsets JSON partitions and offsets must be integers") from None
    for topic, parts in parsed.items():
        for partition, offset in parts.items():
            if offset < EARLIEST or partition < 0:
                raise ConfigError(f"startingOffsets {topic}/{partition}: offset {offset} is not -2, -1 or >= 0")
    return parsed


def resolve_start(requested: Offsets | str, earliest: Offsets, latest: Offsets) -> Offsets:
    """Concrete start offsets: the request resolved against the partitions that exist now.

    Partitions the JSON does not name start at earliest (as Spark's source does for new partitions).
    """
    if requested == "earliest":
        return {t: dict(p) for t, p in earliest.items()}
    if requested == "latest":
        return {t: dict(p) for t, p in latest.items()}
    assert isinstance(requested, dict)
    start: Offsets = {}
    for topic, parts in earliest.items():
        asked = requested.get(topic, {})
        start[topic] = {}
        for partition, low in parts.items():
            offset = asked.get(partition, EARLIEST)
            if offset == EARLIEST:
                offset = low
            elif offset == LATEST:
                offset = latest[topic][partition]
            start[topic][partition] = offset
    return start


def with_new_partitions(start: Offsets, earliest: Offsets) -> Offsets:
    """``start`` plus any partition (or topic) that appeared since, starting at its earliest offset."""
    merged = {topic: dict(parts) for topic, parts in start.items()}
    for topic, parts in earliest.items():
        for partition, low in parts.items():
            merged.setdefault(topic, {}).setdefault(partition, low)
    return merged


def cap(start: Offsets, available: Offsets, max_records: int | None) -> Offsets:
    """The end offsets of the next batch: everything available, or at most ``max_records`` in total.

    The limit is shared across partitions in proportion to each one's backlog, rounding like Spark's
    ``KafkaMicroBatchStream.rateLimit`` (a share below one record rounds up, so every partition progresses).
    """
    end = {topic: dict(parts) for topic, parts in available.items()}
    if max_records is None:
        return end
    backlog = {
        (t, p): max(0, o - start.get(t, {}).get(p, o)) for t, parts in available.items() for p, o in parts.items()
    }
    total = sum(backlog.values())
    if total <= max_records:
        return end
    for (topic, partition), size in backlog.items():
        begin = start.get(topic, {}).get(partition, available[topic][partition])
        share = max_records * (size / total)
        step = math.ceil(share) if share < 1 else math.floor(share)
        end[topic][partition] = min(begin + step, available[topic][partition])
    return end


def ranges(start: Offsets, end: Offsets) -> list[OffsetRange]:
    """One range per partition that has records between ``start`` and ``end`` (empty ones are skipped)."""
    planned = []
    for topic in sorted(end):
        for partition in sorted(end[topic]):
            begin = start.get(topic, {}).get(partition, end[topic][partition])
            if end[topic][partition] > begin:
                planned.append(OffsetRange(topic, partition, begin, end[topic][partition]))
    return planned


def total(offsets: Offsets) -> int:
    """Sum of offsets over all partitions (progress and lag arithmetic)."""
    return sum(o for parts in offsets.values() for o in parts.values())
