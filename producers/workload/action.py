"""What a business action is: a name, a weight in the mix, when it applies and how it builds its transaction.

Actions are pure: ``build`` reads the random generator and the generator's ``WorkloadState``, updates that state
as if the transaction had committed, and returns the ``Transaction`` (statements + parameters). No I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from producers.workload.state import WorkloadState
from producers.workload.statements import StatementBuilder, Transaction


@dataclass(frozen=True)
class ActionContext:
    """Everything an action may use: randomness, the known ids, the statement builder and the business time."""

    rng: random.Random
    state: WorkloadState
    sql: StatementBuilder
    now: datetime


# ``budget`` is how many row changes the transaction may make at most (None: no limit).
Applicable = Callable[[WorkloadState, int | None], bool]
Build = Callable[[ActionContext, int | None], Transaction]


@dataclass(frozen=True)
class Action:
    """One kind of business transaction in the workload mix."""

    name: str
    weight: float
    applicable: Applicable
    build: Build


def fits(budget: int | None, changes: int) -> bool:
    """Whether a transaction of ``changes`` row changes fits in ``budget``."""
    return budget is None or changes <= budget
