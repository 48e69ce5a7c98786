"""What people see: live progress of a run or a bulk load, and the end-of-run summary tables (rich)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from producers.workload.bulk_load import LoadReport
from producers.workload.statements import OPERATIONS, Transaction
from producers.workload.summary import RunSummary

REFRESH_SECONDS = 0.25
WINDOW_SECONDS = 5.0  # the "now" rate is measured over this many seconds


class LiveProgress:
    """A run observer that redraws a small status panel at most four times a second (on the runner's thread)."""

    def __init__(self, console: Console, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._console = console
        self._rate = rate
        self._clock = clock
        self._started = clock()
        self._last_draw = 0.0
        self._window: deque[tuple[float, int]] = deque()
        self._live = Live(console=console, auto_refresh=False, transient=True)

    def __enter__(self) -> LiveProgress:
        self._started = self._clock()
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, value, traceback)

    def transaction_committed(self, transaction: Transaction, summary: RunSummary) -> None:
        now = self._clock()
        self._window.append((now, summary.changes))
        while self._window and now - self._window[0][0] > WINDOW_SECONDS:
            self._window.popleft()
        if now - self._last_draw >= REFRESH_SECONDS:
            self._last_draw = now
            self._live.update(self._render(summary, now), refresh=True)

    def _render(self, summary: RunSummary, now: float) -> RenderableType:
        elapsed = max(now - self._started, 1e-9)
        first_time, first_changes = self._window[0]
        recent = (summary.changes - first_changes) / (now - first_time) if now > first_time else 0.0
        target = "unthrottled" if self._rate <= 0 else f"target {self._rate:,.0f}/s"
        header = (
            f"[bold]{summary.changes:,}[/] changes in {summary.transactions:,} transactions, {elapsed:,.1f} s — "
            f"{recent:,.0f} changes/s now, {summary.changes / elapsed:,.0f} average ({target})"
        )
        return Group(header, action_table(summary, title=None))


def action_table(summary: RunSummary, title: str | None = "by action") -> Table:
    """Transactions and row changes per action."""
    table = Table(title=title, title_justify="left")
    table.add_column("action")
    table.add_column("transactions", justify="right")
    table.add_column("changes", justify="right")
    for action, count in sorted(summary.transactions_by_action.items()):
        table.add_row(action, f"{count:,}", f"{summary.changes_by_action[action]:,}")
    table.add_row("[bold]total[/]", f"[bold]{summary.transactions:,}[/]", f"[bold]{summary.changes:,}[/]")
    return table


def table_changes_table(summary: RunSummary) -> Table:
    """Inserts, updates and deletes per source table."""
    table = Table(title="by table", title_justify="left")
    table.add_column("table")
    for operation in OPERATIONS:
        table.add_column(f"{operation}s", justify="right")
    table.add_column("total", justify="right")
    for name in sorted(summary.tables()):
        counts = [summary.count(name, operation) for operation in OPERATIONS]
        table.add_row(name, *(f"{count:,}" for count in counts), f"{sum(counts):,}")
    return table


def print_run_summary(console: Console, summary: RunSummary) -> None:
    """The end-of-run report: a headline, then the per-action and per-table tables."""
    reasons = {
        "changes": "reached the requested number of changes",
        "duration": "reached the requested duration",
        "signal": "stopped on request after the current transaction",
        "interrupted": "interrupted; the open transaction was rolled back",
        "running": "stopped",
    }
    console.print(
        f"{summary.changes:,} row changes in {summary.transactions:,} transactions, {summary.elapsed_seconds:,.1f} s "
        f"({summary.changes_per_second:,.0f} changes/s): {reasons[summary.stop_reason]}"
    )
    console.print(action_table(summary))
    console.print(table_changes_table(summary))


class LoadProgress:
    """A progress bar per table during the bulk load; pass ``advance`` as the loader's progress callback."""

    def __init__(self, console: Console, expected: dict[str, int | None]) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks = {name: self._progress.add_task(name, total=total) for name, total in expected.items()}

    def __enter__(self) -> LoadProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._progress.__exit__(kind, value, traceback)

    def advance(self, table: str, rows: int) -> None:
        if table in self._tasks:
            self._progress.advance(self._tasks[table], rows)


def load_table(report: LoadReport) -> Table:
    """Rows loaded per table, with the overall time and speed in the title."""
    table = Table(
        title=f"loaded {report.total_rows:,} rows in {report.seconds:,.1f} s ({report.rows_per_second:,.0f} rows/s)",
        title_justify="left",
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}")
    return table
