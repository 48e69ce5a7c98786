"""Telling the server how far the slot may advance: only positions Kafka fully confirmed."""

from __future__ import annotations

from producers.capture.postgres.replication import ReplicationSession
from producers.publish import ChangePublisher


class SlotFeedback:
    def __init__(self, session: ReplicationSession, publisher: ChangePublisher, interval: float) -> None:
        self._session = session
        self._publisher = publisher
        self._interval = interval
        self._confirmed = 0
        self._sent = 0
        self._last = 0.0

    def caught_up(self) -> None:
        """Nothing in flight and no open transaction: the server's sent position is handled too (a quiet source
        database then does not pin WAL written for other tables or databases)."""
        self._confirmed = max(self._confirmed, self._session.wal_end, self._publisher.acknowledged or 0)

    def maybe_send(self, now: float) -> None:
        if now - self._last < self._interval:
            return
        self._last = now
        self._publisher.poll()
        self._confirmed = max(self._confirmed, self._publisher.acknowledged or 0)
        if self._confirmed > self._sent:
            self._session.feedback(self._confirmed, force=True)  # throttled above; psycopg2 would wait 10 s
            self._sent = self._confirmed

    def finish(self) -> int:
        """Final confirmation after a flush; returns the confirmed position."""
        self._confirmed = max(self._confirmed, self._publisher.acknowledged or 0)
        if self._confirmed:
            self._session.feedback(self._confirmed, force=True)
        return self._confirmed
