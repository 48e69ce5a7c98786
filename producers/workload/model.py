"""The workload model: picks the next business action by weight and builds its transaction. Pure, no I/O.

Given the same seed, the same starting ``WorkloadState`` and the same clock start, ``next_transaction`` returns the
same sequence of transactions (statements and parameters), which is what makes a run reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Final

from producers.workload import customer_actions, order_actions, product_actions
from producers.workload.action import Action, ActionContext
from producers.workload.clock import SimulatedClock
from producers.workload.state import WorkloadState
from producers.workload.statements import StatementBuilder, Transaction

DEFAULT_ACTIONS: Final[tuple[Action, ...]] = (
    *customer_actions.ACTIONS,
    *product_actions.ACTIONS,
    *order_actions.ACTIONS,
)
ACTION_NAMES: Final = tuple(action.name for action in DEFAULT_ACTIONS)


class WorkloadModel:
    """Generates transactions against its own view of the database; the caller applies them in order."""

    def __init__(
        self,
        builder: StatementBuilder,
        state: WorkloadState,
        seed: int,
        clock: SimulatedClock,
        actions: Sequence[Action] = DEFAULT_ACTIONS,
    ) -> None:
        if not actions:
            raise ValueError("the workload needs at least one action")
        self._builder = builder
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self._clock = clock
        self._actions = tuple(actions)
        self.state = state

    def next_transaction(self, budget: int | None = None) -> Transaction:
        """The next transaction, making at most ``budget`` row changes (at least one is always possible)."""
        if budget is not None and budget < 1:
            raise ValueError("the change budget must be at least 1")
        candidates = [action for action in self._actions if action.applicable(self.state, budget)]
        if not candidates:
            raise ValueError("no workload action applies to the current state")  # signup always applies
        action = self._choose(candidates)
        context = ActionContext(self._rng, self.state, self._builder, self._clock.now)
        transaction = action.build(context, budget)
        self._clock.advance(transaction.changes)
        return transaction

    def transactions(self, changes: int) -> Iterator[Transaction]:
        """Transactions making exactly ``changes`` row changes in total (the last one is sized to fit)."""
        remaining = changes
        while remaining > 0:
            transaction = self.next_transaction(remaining)
            remaining -= transaction.changes
            yield transaction

    def _choose(self, candidates: Sequence[Action]) -> Action:
        total = sum(action.weight for action in candidates)
        draw = self._rng.random() * total
        for action in candidates:
            draw -= action.weight
            if draw < 0:
                return action
        return candidates[-1]
