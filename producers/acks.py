"""Which source position is safe to acknowledge: everything at or before it was confirmed by Kafka.

Events are published in source order, each tagged with a position (for PostgreSQL: the end LSN of its
transaction). Kafka confirms them out of order across partitions. A position is safe once it is sealed (no more
events will carry it) and every event carrying it, and every earlier position, was confirmed.
"""

from __future__ import annotations

from collections import OrderedDict


class PositionTracker:
    def __init__(self) -> None:
        self._outstanding: OrderedDict[int, int] = OrderedDict()
        self._sealed: set[int] = set()
        self._safe: int | None = None
        self._last_added: int | None = None

    def add(self, position: int) -> None:
        """One more in-flight event at `position` (positions never go backwards)."""
        if self._last_added is not None and position < self._last_added:
            raise ValueError(f"position {position} is behind {self._last_added}")
        self._last_added = position
        self._outstanding[position] = self._outstanding.get(position, 0) + 1

    def ack(self, position: int) -> None:
        """Kafka confirmed one event at `position`."""
        count = self._outstanding.get(position)
        if not count:
            raise ValueError(f"acknowledgement for position {position} with nothing in flight")
        self._outstanding[position] = count - 1
        self._advance()

    def seal(self, position: int) -> None:
        """No more events will carry `position` (e.g. its transaction's commit was processed)."""
        if self._last_added is None or position > self._last_added:
            self._last_added = position
        self._outstanding.setdefault(position, 0)
        self._sealed.add(position)
        self._advance()

    def _advance(self) -> None:
        while self._outstanding:
            position, count = next(iter(self._outstanding.items()))
            if count or position not in self._sealed:
                return
            self._outstanding.popitem(last=False)
            self._sealed.discard(position)
            self._safe = position

    @property
    def safe(self) -> int | None:
        """The highest position whose events, and all earlier ones, Kafka confirmed."""
        return self._safe

    @property
    def in_flight(self) -> int:
        return sum(self._outstanding.values())
