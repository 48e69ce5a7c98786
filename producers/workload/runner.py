"""Running the workload: transactions from the model, applied one by one at a rate of row changes per second.

The runner stops after exactly ``changes`` row changes, after ``duration`` seconds, or when ``stop()`` is called
(from a SIGINT/SIGTERM handler, see ``stop_on_signals``), always between transactions, so a run never leaves a
half-applied transaction. It reports each committed transaction to an optional observer (live progress) and
returns a ``RunSummary``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from producers.workload.model import WorkloadModel
from producers.workload.statements import Transaction
from producers.workload.summary import RunSummary, StopReason

DEFAULT_RATE = 200.0
MAX_BURST_SECONDS = 1.0  # after a stall, catch up at most this much work at full speed


@dataclass(frozen=True)
class RunLimits:
    """When to stop (exactly one of ``changes`` / ``duration``) and how fast to go (``rate`` 0 = unthrottled)."""

    changes: int | None = None
    duration: float | None = None
    rate: float = DEFAULT_RATE

    def __post_init__(self) -> None:
        if (self.changes is None) == (self.duration is None):
            raise ValueError("give exactly one of changes and duration")
        if self.changes is not None and self.changes < 1:
            raise ValueError("changes must be at least 1")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be positive")
        if self.rate < 0:
            raise ValueError("rate must not be negative (0 means unthrottled)")


class RunObserver(Protocol):
    """Told about every committed transaction (called on the runner's thread)."""

    def transaction_committed(self, transaction: Transaction, summary: RunSummary) -> None: ...


class Pacer:
    """Spaces transactions so row changes flow at ``rate`` per second, measured cumulatively (no drift)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float],
        wait: Callable[[float], bool],
        max_burst: float = MAX_BURST_SECONDS,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._wait = wait  # returns True when the wait was cut short by a stop request
        self._max_burst = max_burst
        self._due = clock()

    def acquire(self, changes: int, deadline: float | None) -> bool:
        """Wait until ``changes`` more row changes are allowed; False if stopped or the deadline comes first."""
        if self._rate <= 0:
            return True
        now = self._clock()
        self._due = max(self._due, now - self._max_burst)
        if deadline is not None and self._due > deadline:
            self._wait(max(0.0, deadline - now))
            return False
        if self._due > now and self._wait(self._due - now):
            return False
        self._due += changes / self._rate
        return True


class WorkloadRunner:
    """Drives ``model`` and hands each transaction to ``apply`` (e.g. ``TransactionExecutor.apply``)."""

    def __init__(
        self,
        model: WorkloadModel,
        apply: Callable[[Transaction], None],
        limits: RunLimits,
        observer: RunObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        """``clock`` and ``wait`` (sleep; True when cut short by ``stop``) are replaceable for tests."""
        self._model = model
        self._apply = apply
        self._limits = limits
        self._observer = observer
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait

    def stop(self) -> None:
        """Ask the run to end after the current transaction (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> RunSummary:
        summary = RunSummary()
        started = self._clock()
        deadline = None if self._limits.duration is None else started + self._limits.duration
        pacer = Pacer(self._limits.rate, self._clock, self._wait)
        try:
            summary.stop_reason = self._loop(summary, pacer, deadline)
        except KeyboardInterrupt:  # only if no signal handler was installed; the open transaction rolled back
            summary.stop_reason = "interrupted"
        summary.elapsed_seconds = self._clock() - started
        return summary

    def _loop(self, summary: RunSummary, pacer: Pacer, deadline: float | None) -> StopReason:
        limit = self._limits.changes
        while True:
            if self._stop.is_set():
                return "signal"
            if deadline is not None and self._clock() >= deadline:
                return "duration"
            budget = None if limit is None else limit - summary.changes
            if budget == 0:
                return "changes"
            transaction = self._model.next_transaction(budget)
            if not pacer.acquire(transaction.changes, deadline):
                return "signal" if self._stop.is_set() else "duration"
            self._apply(transaction)
            summary.record(transaction)
            if self._observer is not None:
                self._observer.transaction_committed(transaction, summary)


@contextmanager
def stop_on_signals(runner: WorkloadRunner) -> Iterator[None]:
    """While active, SIGINT and SIGTERM ask ``runner`` to stop after the current transaction.

    A second SIGINT falls back to Python's default (KeyboardInterrupt): the open transaction is rolled back.
    Outside the main thread signals cannot be handled, and this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    def _handle(number: int, _frame: FrameType | None) -> None:
        runner.stop()
        if number == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    for number in previous:
        signal.signal(number, _handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
