"""What a running capture reports: phase, events per table, positions, lag, stopped tables."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CaptureProgress:
    source: str
    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)
    events_by_table: Counter[str] = field(default_factory=Counter)
    snapshot_rows: int = 0
    transactions: int = 0
    last_lsn: int | None = None
    acknowledged: int | None = None
    slot_lag_bytes: int | None = None
    blocked: dict[str, str] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(self.events_by_table.values())

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.events / elapsed if elapsed > 0 else 0.0
