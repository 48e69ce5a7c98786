"""`cdc workload init|run`: the retail OLTP workload against the source database."""

from __future__ import annotations

import secrets
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from cli.endpoints import resolve_endpoints
from cli.endpoints import source_dsn as resolved_source_dsn  # the flag parameter is called source_dsn
from cli.options import Catalog, Home, SourceDsn
from cli.output import console, error_console
from common.errors import ConfigError
from producers.workload import PopulationSize, RunLimits, build_runner, initialize, stop_on_signals
from producers.workload.clock import utc_now
from producers.workload.connection import connect, safe_dsn
from producers.workload.progress import LiveProgress, LoadProgress, load_table, print_run_summary
from producers.workload.runner import DEFAULT_RATE
from producers.workload.service import InitResult
from producers.workload.summary import RunSummary
from schemas.catalog import load_catalog

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="Retail OLTP workload on the source database: create and populate the tables, then run transactions.",
    no_args_is_help=True,
)

_DEFAULTS = PopulationSize()
Seed = Annotated[
    int | None,
    typer.Option("--seed", help="Random seed (same seed + same database = same statements) [default: random]"),
]


@app.command()
def init(
    home: Home = None,
    source_dsn: SourceDsn = None,
    catalog: Catalog = None,
    customers: Annotated[int, typer.Option(min=0, help="Customers to load")] = _DEFAULTS.customers,
    products: Annotated[int, typer.Option(min=0, help="Products to load")] = _DEFAULTS.products,
    orders: Annotated[int, typer.Option(min=0, help="Orders (with items, payments, shipments) to load")] = (
        _DEFAULTS.orders
    ),
    seed: Seed = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Time the history ends, ISO 8601, UTC if no offset [default: now]"),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Drop the tables and their data first")] = False,
    append: Annotated[
        bool, typer.Option("--append", help="Load another population even if the tables hold rows")
    ] = False,
) -> InitResult:
    """Create the catalog's tables in the source database (idempotent) and bulk-load an initial population."""
    loaded = load_catalog(catalog)
    dsn = resolved_source_dsn(resolve_endpoints(home, source_dsn=source_dsn))
    chosen_seed = _seed(seed)
    moment = _as_of(as_of)
    size = PopulationSize(customers=customers, products=products, orders=orders)
    with connect(dsn) as connection:
        if reset:
            error_console.print(
                f"[bold yellow]warning:[/] --reset drops tables {escape(', '.join(loaded.table_names))} "
                f"and all their rows in {escape(safe_dsn(dsn))}",
                highlight=False,
            )
        expected: dict[str, int | None] = {"customer": customers, "product": products, "orders": orders}
        with LoadProgress(console, expected) as progress:
            result = initialize(
                connection,
                loaded,
                size,
                seed=chosen_seed,
                as_of=moment,
                reset=reset,
                append=append,
                progress=progress.advance,
            )
    schema = result.schema
    console.print(
        f"source tables ready in {safe_dsn(dsn)}: {len(schema.created)} created, {len(schema.existing)} already "
        f"there; replica identity full; indexes {', '.join(schema.indexes)}",
        highlight=False,
    )
    if result.load is None:
        console.print(
            f"the tables already hold {result.existing_rows:,} rows: nothing loaded "
            "(--append adds another population, --reset starts over)"
        )
    else:
        console.print(load_table(result.load))
        console.print(f"seed {chosen_seed}, history up to {moment.isoformat()}", highlight=False)
    return result


@app.command()
def run(
    home: Home = None,
    source_dsn: SourceDsn = None,
    catalog: Catalog = None,
    rate: Annotated[
        float, typer.Option(min=0, help="Row changes per second (0: as fast as the database allows)")
    ] = DEFAULT_RATE,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds", show_default=False)
    ] = None,
    changes: Annotated[
        int | None, typer.Option(min=1, help="Stop after exactly this many row changes", show_default=False)
    ] = None,
    seed: Seed = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress, only the summary")] = False,
) -> RunSummary:
    """Apply a realistic mix of retail transactions until --duration or --changes is reached (Ctrl-C stops cleanly)."""
    if (duration is None) == (changes is None):
        raise ConfigError("pass exactly one of --duration SECONDS and --changes N")
    if duration is not None and duration <= 0:
        raise ConfigError("--duration must be more than 0 seconds")
    loaded = load_catalog(catalog)
    dsn = resolved_source_dsn(resolve_endpoints(home, source_dsn=source_dsn))
    chosen_seed = _seed(seed)
    limits = RunLimits(changes=changes, duration=duration, rate=rate)
    with connect(dsn) as connection:
        live = None if quiet else LiveProgress(console, rate)
        runner = build_runner(connection, loaded, seed=chosen_seed, limits=limits, observer=live)
        until = f"{changes:,} changes" if changes is not None else f"{duration:g} s"
        pace = "unthrottled" if rate <= 0 else f"{rate:g} changes/s"
        console.print(f"workload on {safe_dsn(dsn)}: seed {chosen_seed}, {pace}, until {until}", highlight=False)
        with stop_on_signals(runner), live if live is not None else nullcontext():
            summary = runner.run()
    print_run_summary(console, summary)
    return summary


def _seed(seed: int | None) -> int:
    return seed if seed is not None else secrets.randbelow(2**31)


def _as_of(text: str | None) -> datetime:
    if text is None:
        return utc_now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--as-of: '{text}' is not an ISO 8601 date or time (e.g. 2025-06-30T12:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
