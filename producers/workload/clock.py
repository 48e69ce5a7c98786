"""The workload's simulated business clock: timestamps that advance with the work done, not with the wall clock.

Business timestamps (``order_ts``, ``paid_at``, ``updated_at`` ...) come from this clock so that the same seed
against the same database writes the same values, whatever the machine's speed. The clock starts at the newest
timestamp already in the database and moves forward by a fixed step per row change (``1 / rate`` seconds), so at
the nominal rate it keeps pace with real time. Values are timezone-aware UTC; ``to_db`` turns them into the naive
UTC values the catalog's ``timestamp`` (without time zone) columns hold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_STEP = timedelta(milliseconds=1)


def to_db(moment: datetime) -> datetime:
    """A naive UTC datetime for a ``timestamp`` column (refuses naive input: its zone would be a guess)."""
    if moment.tzinfo is UTC:  # the common case, kept cheap for bulk loads
        return moment.replace(tzinfo=None)
    if moment.tzinfo is None:
        raise ValueError("workload timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime) -> datetime:
    """The aware UTC datetime of a naive UTC ``timestamp`` value read back from the database."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time, UTC, whole seconds (a readable default for ``--as-of``)."""
    return datetime.now(UTC).replace(microsecond=0)


class SimulatedClock:
    """Starts at ``start`` and advances ``step`` per row change; ``now`` is the time of the next transaction."""

    def __init__(self, start: datetime, step: timedelta = DEFAULT_STEP) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        if step <= timedelta(0):
            raise ValueError("the clock's step must be positive")
        self._now = start.astimezone(UTC)
        self._step = step

    @classmethod
    def for_rate(cls, start: datetime, changes_per_second: float) -> SimulatedClock:
        """A clock that keeps pace with real time at ``changes_per_second`` (0 = unthrottled: 1 ms a change)."""
        if changes_per_second <= 0:
            return cls(start)
        return cls(start, timedelta(microseconds=max(1, round(1_000_000 / changes_per_second))))

    @property
    def now(self) -> datetime:
        return self._now

    def advance(self, changes: int) -> None:
        """Move forward by ``changes`` steps (at least one, so consecutive transactions never share a time)."""
        self._now += self._step * max(1, changes)
