"""What a user watches while the bridge runs: records per topic, dead letters, rate, lag (pure counters).

Lag is counted from positions, not watermarks alone: the local broker reports the base offset of the last batch +
1 as its high watermark, which can trail the log end. A partition that reported end-of-partition (and got nothing
since) has lag 0; otherwise the lag is the last known high watermark minus the position, a lower bound
(:meth:`TopicProgress.lag` says whether it is exact).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from redshift.bridge.records import OutputRecord

State = Literal["starting", "joining", "running", "idle", "stopped"]


@dataclass
class PartitionState:
    """Where the bridge reads one source partition."""

    position: int | None = None  # next source offset to read, once known
    high_watermark: int | None = None  # as last reported by the broker; may trail the log end
    at_end: bool = False


@dataclass
class TopicProgress:
    """Counters of one source topic."""

    topic: str
    events: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    skipped: int = 0  # source records found already written after a restart
    partitions: dict[int, PartitionState] = field(default_factory=dict)

    @property
    def written(self) -> int:
        """Records this run wrote to the JSON and dead-letter topics."""
        return self.events + self.tombstones + self.dead_letters

    def lag(self) -> tuple[int | None, bool]:
        """(records behind, exact?) over the assigned partitions: exact once every one reported its end, else a
        lower bound from the partitions whose position and watermark are known (None when none is)."""
        total, known, exact = 0, False, True
        for state in self.partitions.values():
            if state.at_end:
                known = True
                continue
            exact = False
            if state.position is not None and state.high_watermark is not None and state.high_watermark >= 0:
                total += max(state.high_watermark - state.position, 0)
                known = True
        return (total, exact) if known else (None, False)


@dataclass
class BridgeProgress:
    """The whole bridge: per-topic counters, transactions, state, and the rate since the first record."""

    topics: dict[str, TopicProgress]
    started: float = field(default_factory=time.monotonic)
    state: State = "starting"
    transactions: int = 0
    aborted: int = 0
    first_record_at: float | None = None
    last_record_at: float | None = None

    @classmethod
    def for_topics(cls, topics: Iterable[str]) -> BridgeProgress:
        return cls({topic: TopicProgress(topic) for topic in topics})

    @property
    def written(self) -> int:
        return sum(topic.written for topic in self.topics.values())

    @property
    def dead_letters(self) -> int:
        return sum(topic.dead_letters for topic in self.topics.values())

    @property
    def tombstones(self) -> int:
        return sum(topic.tombstones for topic in self.topics.values())

    @property
    def skipped(self) -> int:
        return sum(topic.skipped for topic in self.topics.values())

    def rate(self) -> float:
        """Records written per second, from the first record consumed to the last one committed."""
        if self.first_record_at is None or self.last_record_at is None:
            return 0.0
        return self.written / max(self.last_record_at - self.first_record_at, 1e-3)

    def consumed(self, topic: str, partition: int, next_offset: int, now: float) -> None:
        """A record of `topic`[`partition`] was read; the next one to read is `next_offset`."""
        state = self.topics[topic].partitions.setdefault(partition, PartitionState())
        state.position = next_offset
        state.at_end = False
        if self.first_record_at is None:
            self.first_record_at = now

    def committed(self, outputs: Iterable[OutputRecord], skipped: Mapping[str, int], now: float) -> None:
        """A transaction with these outputs (and these already-written records skipped) committed."""
        self.transactions += 1
        kinds: Counter[tuple[str, str]] = Counter()
        for output in outputs:
            kinds[(output.source_topic, output.kind)] += 1
        for (topic, kind), count in kinds.items():
            progress = self.topics[topic]
            if kind == "event":
                progress.events += count
            elif kind == "tombstone":
                progress.tombstones += count
            else:
                progress.dead_letters += count
        for topic, count in skipped.items():
            self.topics[topic].skipped += count
        self.last_record_at = now

    def assigned(self, partitions: Iterable[tuple[str, int, int | None]]) -> None:
        for topic, partition, position in partitions:
            if topic in self.topics:
                self.topics[topic].partitions[partition] = PartitionState(position=position)

    def revoked(self, partitions: Iterable[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            if topic in self.topics:
                self.topics[topic].partitions.pop(partition, None)

    def reached_end(self, topic: str, partition: int, position: int) -> None:
        if topic in self.topics:
            state = self.topics[topic].partitions.setdefault(partition, PartitionState())
            state.at_end, state.position = True, position

    def high_watermark(self, topic: str, partition: int, high: int) -> None:
        if topic in self.topics and partition in self.topics[topic].partitions:
            self.topics[topic].partitions[partition].high_watermark = high

    def rewound(self, positions: Iterable[tuple[str, int, int]]) -> None:
        """After an aborted transaction the listed partitions are read again from `position`."""
        for topic, partition, position in positions:
            state = self.topics[topic].partitions.setdefault(partition, PartitionState())
            state.position, state.at_end = position, False

    def assigned_count(self) -> int:
        return sum(len(topic.partitions) for topic in self.topics.values())

    def all_at_end(self) -> bool:
        """Every assigned partition reported end-of-partition with nothing read since (and some are assigned)."""
        states = [state for topic in self.topics.values() for state in topic.partitions.values()]
        return bool(states) and all(state.at_end for state in states)
