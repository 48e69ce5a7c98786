"""The runner without a database: exact change counts, pacing by row changes, clean stops, summary counts."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

import pytest

from producers.workload.clock import SimulatedClock
from producers.workload.model import WorkloadModel
from producers.workload.runner import Pacer, RunLimits, WorkloadRunner, stop_on_signals
from producers.workload.state import WorkloadState
from producers.workload.statements import StatementBuilder, Transaction
from producers.workload.summary import RunSummary
from schemas.catalog import load_catalog

START = datetime(2025, 6, 30, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only moves when someone waits on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waited: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waited.append(seconds)
        self.now += seconds
        return False


def make_model(seed: int = 1) -> WorkloadModel:
    return WorkloadModel(StatementBuilder(load_catalog()), WorkloadState(), seed, SimulatedClock(START))


def test_limits_need_exactly_one_stop_condition() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RunLimits()
    with pytest.raises(ValueError, match="exactly one"):
        RunLimits(changes=1, duration=1)
    with pytest.raises(ValueError, match="at least 1"):
        RunLimits(changes=0)
    with pytest.raises(ValueError, match="negative"):
        RunLimits(changes=1, rate=-1)


def test_run_applies_exactly_the_requested_changes_and_summarises_them() -> None:
    applied: list[Transaction] = []
    summary = WorkloadRunner(make_model(), applied.append, RunLimits(changes=777, rate=0)).run()
    assert summary.stop_reason == "changes"
    assert summary.changes == 777 == sum(t.changes for t in applied)
    assert summary.transactions == len(applied)
    inserted_items = sum(s.rows for t in applied for s in t.statements if s.table == "order_item")
    assert summary.count("order_item", "insert") == inserted_items
    per_table = sum(summary.changes_by_table.values())
    assert per_table == 777


def test_pacer_spaces_row_changes_not_transactions() -> None:
    fake = FakeTime()
    pacer = Pacer(rate=100, clock=fake.clock, wait=fake.wait)
    for changes in (1, 5, 1, 3):
        assert pacer.acquire(changes, deadline=None)
    # 1 + 5 + 1 changes were allowed before the fourth transaction: 0.07 s at 100 changes/s
    assert fake.now == pytest.approx(100.07)


def test_pacer_does_not_burst_forever_after_a_stall() -> None:
    fake = FakeTime()
    pacer = Pacer(rate=10, clock=fake.clock, wait=fake.wait, max_burst=1.0)
    pacer.acquire(1, None)
    fake.now += 60  # the database stalled for a minute
    started = fake.now
    for _ in range(30):
        pacer.acquire(1, None)
    assert fake.now - started == pytest.approx(1.9)  # one second of catch-up (11 changes) free, then 10/s


def test_duration_stops_a_throttled_run_on_time() -> None:
    fake = FakeTime()
    applied: list[Transaction] = []
    limits = RunLimits(duration=2.0, rate=50)
    summary = WorkloadRunner(make_model(), applied.append, limits, clock=fake.clock, wait=fake.wait).run()
    assert summary.stop_reason == "duration"
    assert 95 <= summary.changes <= 110
    assert summary.elapsed_seconds == pytest.approx(2.0, abs=0.05)


def test_stop_ends_the_run_between_transactions() -> None:
    applied: list[Transaction] = []
    runner: WorkloadRunner

    def apply(transaction: Transaction) -> None:
        applied.append(transaction)
        if len(applied) == 5:
            runner.stop()

    runner = WorkloadRunner(make_model(), apply, RunLimits(changes=10_000, rate=0))
    summary = runner.run()
    assert summary.stop_reason == "signal"
    assert summary.transactions == 5 == len(applied)


def test_keyboard_interrupt_inside_a_transaction_is_not_counted() -> None:
    calls = 0

    def apply(_transaction: Transaction) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    summary = WorkloadRunner(make_model(), apply, RunLimits(changes=1000, rate=0)).run()
    assert summary.stop_reason == "interrupted" and summary.transactions == 2


def test_sigterm_and_sigint_request_a_clean_stop() -> None:
    class Observer:
        def __init__(self) -> None:
            self.seen = 0

        def transaction_committed(self, _transaction: Transaction, _summary: RunSummary) -> None:
            self.seen += 1
            if self.seen == 3:
                os.kill(os.getpid(), signal.SIGTERM)

    observer = Observer()
    runner = WorkloadRunner(make_model(), lambda _t: None, RunLimits(changes=10_000, rate=0), observer)
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(runner):
        summary = runner.run()
    assert signal.getsignal(signal.SIGTERM) is before
    assert summary.stop_reason == "signal" and summary.transactions == observer.seen == 3
    assert threading.current_thread() is threading.main_thread()
