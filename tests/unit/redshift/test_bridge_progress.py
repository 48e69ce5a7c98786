"""The bridge's progress counters and lag (pure)."""

from __future__ import annotations

import pytest

from redshift.bridge.progress import BridgeProgress
from redshift.bridge.records import OutputRecord

pytestmark = pytest.mark.unit

TOPIC = "retail.customer.cdc"


def output(kind: str) -> OutputRecord:
    topic = f"{TOPIC}.json.dlq" if kind == "dead_letter" else f"{TOPIC}.json"
    return OutputRecord(TOPIC, topic, 0, b"{}", None if kind == "tombstone" else b"{}", [], kind)  # type: ignore[arg-type]


def test_committed_batches_add_up_per_topic_and_kind() -> None:
    progress = BridgeProgress.for_topics([TOPIC, "retail.orders.cdc"])
    progress.consumed(TOPIC, 0, 10, now=100.0)
    progress.committed([output("event")] * 3 + [output("tombstone"), output("dead_letter")], {TOPIC: 2}, now=102.0)
    topic = progress.topics[TOPIC]
    assert (topic.events, topic.tombstones, topic.dead_letters, topic.skipped, topic.written) == (3, 1, 1, 2, 5)
    assert progress.written == 5 and progress.transactions == 1
    assert progress.rate() == pytest.approx(2.5)
    assert progress.topics["retail.orders.cdc"].written == 0


def test_lag_is_exact_at_the_end_of_partitions_and_a_lower_bound_before() -> None:
    progress = BridgeProgress.for_topics([TOPIC])
    assert progress.topics[TOPIC].lag() == (None, False)  # nothing assigned yet
    progress.assigned([(TOPIC, 0, None), (TOPIC, 1, 5)])
    assert progress.topics[TOPIC].lag() == (None, False)  # no watermark yet
    progress.consumed(TOPIC, 0, 40, now=1.0)
    progress.high_watermark(TOPIC, 0, 100)
    assert progress.topics[TOPIC].lag() == (60, False)  # partition 1 unknown: a lower bound
    progress.high_watermark(TOPIC, 1, 9)
    assert progress.topics[TOPIC].lag() == (64, False)
    progress.reached_end(TOPIC, 0, 120)  # the watermark trailed the log end: EOF is what counts
    progress.reached_end(TOPIC, 1, 5)
    assert progress.topics[TOPIC].lag() == (0, True)
    assert progress.all_at_end()
    progress.consumed(TOPIC, 1, 6, now=2.0)
    assert not progress.all_at_end()
    progress.revoked([(TOPIC, 0), (TOPIC, 1)])
    assert progress.assigned_count() == 0 and not progress.all_at_end()
