"""What a workload run did: transactions and row changes per action, and inserts/updates/deletes per table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from producers.workload.statements import Operation, Transaction

StopReason = Literal["changes", "duration", "signal", "interrupted", "running"]


@dataclass
class RunSummary:
    """Counts of committed work only: a transaction is recorded after it committed."""

    transactions_by_action: Counter[str] = field(default_factory=Counter)
    changes_by_action: Counter[str] = field(default_factory=Counter)
    changes_by_table: Counter[tuple[str, Operation]] = field(default_factory=Counter)
    elapsed_seconds: float = 0.0
    stop_reason: StopReason = "running"

    def record(self, transaction: Transaction) -> None:
        self.transactions_by_action[transaction.action] += 1
        self.changes_by_action[transaction.action] += transaction.changes
        for statement in transaction.statements:
            self.changes_by_table[statement.table, statement.operation] += statement.rows

    @property
    def transactions(self) -> int:
        return sum(self.transactions_by_action.values())

    @property
    def changes(self) -> int:
        return sum(self.changes_by_action.values())

    @property
    def changes_per_second(self) -> float:
        return self.changes / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def count(self, table: str, operation: Operation) -> int:
        """Rows of ``table`` inserted, updated or deleted."""
        return self.changes_by_table[table, operation]

    def tables(self) -> list[str]:
        """Tables that changed, in first-seen order."""
        return list(dict.fromkeys(table for table, _ in self.changes_by_table))
