"""Slot feedback: only what Kafka acknowledged, at most once per interval, and sent at once when due."""

from __future__ import annotations

from dataclasses import dataclass, field

from producers.capture.postgres.feedback import SlotFeedback


@dataclass
class Session:
    wal_end: int = 0
    sent: list[tuple[int, bool]] = field(default_factory=list)

    def feedback(self, flush_lsn: int, *, force: bool = False) -> None:
        self.sent.append((flush_lsn, force))


@dataclass
class Publisher:
    acknowledged: int | None = None

    def poll(self) -> None:
        pass


def test_feedback_is_forced_when_due_and_throttled_otherwise() -> None:
    session, publisher = Session(), Publisher()
    feedback = SlotFeedback(session, publisher, interval=1.0)  # type: ignore[arg-type]
    publisher.acknowledged = 100
    feedback.maybe_send(now=5.0)
    publisher.acknowledged = 200
    feedback.maybe_send(now=5.5)  # within the interval: nothing
    feedback.maybe_send(now=6.0)
    feedback.maybe_send(now=7.0)  # nothing new acknowledged: nothing
    # forced: psycopg2 alone would hold an unforced message until its own 10 s status interval
    assert session.sent == [(100, True), (200, True)]


def test_nothing_unacknowledged_is_confirmed() -> None:
    session, publisher = Session(wal_end=500), Publisher(acknowledged=None)
    feedback = SlotFeedback(session, publisher, interval=1.0)  # type: ignore[arg-type]
    feedback.maybe_send(now=10.0)
    assert session.sent == []
    feedback.caught_up()  # nothing in flight: the server's sent position is handled too
    assert feedback.finish() == 500 and session.sent == [(500, True)]
