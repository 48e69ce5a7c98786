"""`cdc lake compact|files`: keep the landing zone's files few and large, and show what readers see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table as RichTable

from cli.endpoints import lake_location, resolve_endpoints
from cli.options import Home, LakeRoot
from cli.output import console
from common.durations import parse_duration
from common.lake import LakeLocation
from common.landing_files import (
    CommittedFile,
    LandingTableNotFoundError,
    UncommittedFile,
    check_table_name,
    committed_file_details,
    landing_tables,
    uncommitted_files,
)
from streaming.compaction import (
    DEFAULT_MAX_RECORDS_PER_FILE,
    DEFAULT_MIN_FILES,
    CompactionOptions,
    TableReport,
    compact_table,
)

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="The lake's landing zone: compact small files, list committed files and orphans.",
    no_args_is_help=True,
)

OlderThan = Annotated[
    str,
    typer.Option(
        "--older-than",
        help="Compact hours that ended, and remove orphans last modified, at least this long ago (e.g. 30m, 2h, 1d)",
    ),
]


def chosen_tables(location: LakeLocation, tables: str | None) -> list[str]:
    """The --tables list (each checked to be a landed table), or every landed table."""
    known = landing_tables(location)
    if not tables:
        return known
    chosen = [check_table_name(name.strip()) for name in tables.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        have = ", ".join(known) or "none"
        raise LandingTableNotFoundError(
            f"no landing table {unknown[0]!r} under {location.path('landing')} (landed tables: {have})"
        )
    return chosen


def _older_than(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text, what="--older-than"))


@app.command()
def compact(
    home: Home = None,
    lake_root: LakeRoot = None,
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated landing tables [default: all]", show_default=False)
    ] = None,
    older_than: OlderThan = "2h",
    min_files: Annotated[
        int, typer.Option(min=2, help="Compact an hour only when it holds at least this many small files")
    ] = DEFAULT_MIN_FILES,
    max_records_per_file: Annotated[
        int, typer.Option(min=1, help="Rows per compacted file at most")
    ] = DEFAULT_MAX_RECORDS_PER_FILE,
    remove_orphans: Annotated[
        bool,
        typer.Option(
            "--remove-orphans/--keep-orphans",
            help="Delete part files no batch committed (killed batches) once older than --older-than",
        ),
    ] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be done; change nothing")] = False,
) -> list[TableReport]:
    """Rewrite the small committed files of closed hours into large ones, safely while the stream runs.

    Readers using the committed view (`common.landing_files`) see every row exactly once at every instant.
    Locally a lock keeps two compactions of a table apart; on S3 run one compactor at a time.
    """
    location = lake_location(resolve_endpoints(home, lake_root=lake_root))
    options = CompactionOptions(
        older_than=_older_than(older_than),
        min_files=min_files,
        max_records_per_file=max_records_per_file,
        remove_orphans=remove_orphans,
        dry_run=dry_run,
    )
    chosen = chosen_tables(location, tables)
    if not chosen:
        console.print(f"nothing to compact: no landing tables under {escape(location.path('landing'))}")
        return []
    reports = _compact_with_progress(location, chosen, options)
    _print_reports(reports, options)
    return reports


def _compact_with_progress(
    location: LakeLocation, tables: Sequence[str], options: CompactionOptions
) -> list[TableReport]:
    now = datetime.now(UTC)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("hours"))
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(f"compacting {table}", total=total)
            progress.update(tasks[table], completed=done, total=total)

        return [compact_table(location, table, options, now=now, progress=advance) for table in tables]


def _print_reports(reports: Sequence[TableReport], options: CompactionOptions) -> None:
    kept = sum(report.orphans_kept for report in reports)
    if not any(report.changed for report in reports):
        console.print(f"nothing to compact ({len(reports)} table(s) checked)")
    else:
        console.print(report_table(reports, dry_run=options.dry_run))
    for report in reports:
        for reason in report.skipped:
            console.print(f"[yellow]skipped[/] {escape(report.table)} {escape(reason)}", highlight=False)
    if kept:
        why = "--keep-orphans" if not options.remove_orphans else "younger than --older-than, a batch may be in flight"
        console.print(f"{kept} orphan file(s) kept ({why}); `cdc lake files --orphans --table T` lists them")
    if options.dry_run:
        console.print("dry run: nothing was changed")


def report_table(reports: Sequence[TableReport], *, dry_run: bool = False) -> RichTable:
    """One row per table: hours compacted, committed files before/after, rows rewritten, files cleaned up."""
    title = "landing compaction (dry run: would do)" if dry_run else "landing compaction"
    table = RichTable(title=title, title_justify="left")
    for column in ("table", "hours compacted", "files before", "files after", "rows", "orphans removed"):
        table.add_column(column, justify="left" if column == "table" else "right", no_wrap=column == "table")
    for report in reports:
        removed = report.orphans_removed + report.leftovers_removed
        table.add_row(
            report.table,
            f"{report.hours_compacted:,}",
            f"{report.files_before:,}",
            f"{report.files_after:,}",
            f"{report.rows_rewritten:,}",
            f"{removed:,}",
        )
    return table


@app.command()
def files(
    table: Annotated[str, typer.Option("--table", help="Landing table", show_default=False)],
    orphans: Annotated[
        bool, typer.Option("--orphans", help="List files outside the committed view instead of committed ones")
    ] = False,
    older_than: OlderThan = "2h",
    home: Home = None,
    lake_root: LakeRoot = None,
) -> list[CommittedFile] | list[UncommittedFile]:
    """List a table's committed files with row counts (what readers see), or with --orphans the others."""
    location = lake_location(resolve_endpoints(home, lake_root=lake_root))
    (name,) = chosen_tables(location, check_table_name(table))
    if orphans:
        found = uncommitted_files(location, name, older_than=_older_than(older_than), exclusive=not location.is_s3)
        console.print(orphan_table(name, found, datetime.now(UTC)) if found else f"{name}: no orphan files")
        return found
    details = committed_file_details(location, name)
    console.print(committed_table(name, details) if details else f"{name}: no committed files yet")
    return details


def committed_table(name: str, details: Sequence[CommittedFile]) -> RichTable:
    rows = sum(item.rows for item in details)
    size = sum(item.size for item in details)
    table = RichTable(
        title=f"{name}: {len(details):,} committed file(s), {rows:,} rows, {size / 1e6:,.1f} MB", title_justify="left"
    )
    table.add_column("file", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    for item in details:
        table.add_row(escape(item.path), f"{item.rows:,}", f"{item.size:,}")
    return table


def orphan_table(name: str, found: Sequence[UncommittedFile], now: datetime) -> RichTable:
    table = RichTable(title=f"{name}: {len(found):,} file(s) outside the committed view", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("removed by compact", no_wrap=True)
    for item in found:
        age = max((now - item.file.modified).total_seconds(), 0.0)
        table.add_row(
            escape(item.file.path),
            item.kind,
            _age(age),
            f"{item.file.size:,}",
            "yes" if item.removable else "not yet (too recent)",
        )
    return table


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
