"""The batch DAG runner: steps in dependency order, each retried on transient failures and timed (ADR 0011 §5).

A step is a name, a callable returning a one-line summary, and the steps it needs. A step whose dependency failed
is skipped (never run on half-built input); a configuration error is not retried (running it again cannot help).
Every step of the batch jobs is idempotent (a versioned-table commit either happened or not), so a retry or a
re-run of the whole DAG after a crash is safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from common.errors import CdcError, ConfigError
from common.logging import get_logger
from common.metrics import NULL_SINK, MetricsSink

log = get_logger(__name__)

DEFAULT_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], str]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepResult:
    name: str
    status: Literal["ok", "failed", "skipped"]
    seconds: float = 0.0
    attempts: int = 0
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class DagError(CdcError):
    """A DAG that cannot run as declared (a step needing an unknown or later step)."""


def check_order(steps: Sequence[Step]) -> None:
    """Each step may only need steps declared before it, and names are unique (pure)."""
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise DagError(f"step '{step.name}' is declared twice")
        missing = [need for need in step.needs if need not in seen]
        if missing:
            raise DagError(f"step '{step.name}' needs {missing}, which are not declared before it")
        seen.add(step.name)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, Exception) and not isinstance(error, ConfigError)


def run_dag(
    steps: Sequence[Step],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    wait_seconds: float = 2.0,
    on_result: Callable[[StepResult], None] | None = None,
    metrics: MetricsSink = NULL_SINK,
) -> list[StepResult]:
    """Run the steps in order; returns one result per step (never raises for a failing step)."""
    check_order(steps)
    results: dict[str, StepResult] = {}
    for step in steps:
        failed_needs = [need for need in step.needs if not results[need].ok]
        if failed_needs:
            result = StepResult(step.name, "skipped", summary=f"skipped: {', '.join(failed_needs)} did not succeed")
        else:
            result = _run_step(step, attempts, wait_seconds)
        results[step.name] = result
        if result.status != "skipped":
            failed = 1 if result.status == "failed" else 0
            metrics.emit("batch", {"BatchDurationSeconds": result.seconds, "StepFailed": failed}, {"Step": step.name})
        if on_result is not None:
            on_result(result)
    return list(results.values())


def _run_step(step: Step, attempts: int, wait_seconds: float) -> StepResult:
    started = time.perf_counter()
    tries = 0
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=30),
        retry=retry_if_exception(_retryable),
        reraise=False,
    )
    try:
        for attempt in retrying:
            with attempt:
                tries = attempt.retry_state.attempt_number
                if tries > 1:
                    log.warning("batch.step_retry", step=step.name, attempt=tries)
                summary = step.run()
    except RetryError as exc:
        error = exc.last_attempt.exception()
        return StepResult(step.name, "failed", time.perf_counter() - started, tries, _describe(error))
    except Exception as exc:  # not retryable (a ConfigError): one attempt, reported as such
        return StepResult(step.name, "failed", time.perf_counter() - started, tries, _describe(exc))
    return StepResult(step.name, "ok", time.perf_counter() - started, tries, summary)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "failed"
    text = str(error).splitlines()[0] if str(error) else ""
    return text if isinstance(error, CdcError) else f"{type(error).__name__}: {text}"
