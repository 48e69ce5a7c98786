"""The batch DAG runner: order, retries of transient failures only, skipping what depends on a failure."""

from __future__ import annotations

import pytest

from batch.dag import DagError, Step, StepResult, check_order, run_dag
from common.errors import ConfigError


def test_steps_run_in_order_with_their_summaries() -> None:
    ran: list[str] = []

    def step(name: str) -> Step:
        return Step(name, lambda: ran.append(name) or f"{name} done", needs=("a",) if name != "a" else ())

    seen: list[StepResult] = []
    results = run_dag([step("a"), step("b"), step("c")], on_result=seen.append)
    assert ran == ["a", "b", "c"]
    assert [(r.name, r.status, r.attempts, r.summary) for r in results] == [
        ("a", "ok", 1, "a done"),
        ("b", "ok", 1, "b done"),
        ("c", "ok", 1, "c done"),
    ]
    assert seen == results


def test_a_transient_failure_is_retried() -> None:
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise OSError("connection reset")
        return "ok at last"

    [result] = run_dag([Step("flaky", flaky)], attempts=3, wait_seconds=0)
    assert (result.status, result.attempts, result.summary) == ("ok", 3, "ok at last")


def test_exhausted_retries_fail_and_dependents_are_skipped() -> None:
    def broken() -> str:
        raise OSError("disk full")

    ran: list[str] = []
    results = run_dag(
        [
            Step("staging", broken),
            Step("dimensions", lambda: ran.append("dimensions") or "", needs=("staging",)),
            Step("other", lambda: "independent"),
        ],
        attempts=2,
        wait_seconds=0,
    )
    assert [(r.name, r.status, r.attempts) for r in results] == [
        ("staging", "failed", 2),
        ("dimensions", "skipped", 0),
        ("other", "ok", 1),
    ]
    assert results[0].summary == "OSError: disk full"
    assert "staging did not succeed" in results[1].summary
    assert ran == []


def test_configuration_errors_are_not_retried() -> None:
    calls = {"n": 0}

    def misconfigured() -> str:
        calls["n"] += 1
        raise ConfigError("no lake root configured")

    [result] = run_dag([Step("staging", misconfigured)], attempts=5, wait_seconds=0)
    assert (result.status, calls["n"], result.summary) == ("failed", 1, "no lake root configured")


def test_the_order_is_checked() -> None:
    with pytest.raises(DagError, match="needs \\['b'\\]"):
        check_order([Step("a", lambda: "", needs=("b",)), Step("b", lambda: "")])
    with pytest.raises(DagError, match="declared twice"):
        check_order([Step("a", lambda: ""), Step("a", lambda: "")])
