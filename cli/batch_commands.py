"""`cdc batch`: the batch medallion stage — landing -> staging -> curated star schema, the DAG, file extracts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table as RichTable

from batch.dag import Step, StepResult, run_dag
from batch.query_engine import VERSIONED_ZONES, versioned_tables
from batch.table_store import TableStore
from cli import load_files_command
from cli.endpoints import build, lake_location, resolve_endpoints
from cli.options import AwsEndpoint, Catalog, Home, LakeRoot
from cli.output import console
from common.durations import parse_duration
from common.errors import CdcError, ConfigError
from common.lake import LakeLocation
from common.metrics import MetricsSettings, metrics_sink
from common.settings import BatchSettings
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import load_catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from batch.curated_job import CuratedReport
    from batch.staging_job import StagingReport

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="Batch jobs over the lake: landing -> staging -> curated star schema (run = the DAG), file extracts.",
    no_args_is_help=True,
)
app.command(name="load-files")(load_files_command.load_files)

TablesOption = Annotated[
    str | None, typer.Option("--tables", help="Comma-separated catalog tables [default: all]", show_default=False)
]


class BatchRunError(CdcError):
    """A DAG step failed after its retries; the summary names it."""


def _location(home: Any, lake_root: str | None, aws_endpoint_url: str | None) -> LakeLocation:
    return lake_location(resolve_endpoints(home, lake_root=lake_root, aws_endpoint_url=aws_endpoint_url))


def _tables(catalog: TableCatalog, names: str | None) -> list[str] | None:
    if not names:
        return None
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    for name in chosen:
        catalog.table(name)  # a clear error for an unknown table
    return chosen


@contextmanager
def spark_session(settings: BatchSettings) -> Iterator[SparkSession]:
    """One local session for the whole command (Glue builds its own in batch/glue_jobs.py)."""
    from common.spark import local_session  # noqa: PLC0415 - importing pyspark costs a second on every `cdc` call

    with console.status("starting Spark ..."):
        spark = local_session("cdc-batch", master=settings.spark_master, log_level=settings.spark_log_level)
    try:
        yield spark
    finally:
        spark.stop()


def staging_step(spark: SparkSession, location: LakeLocation, catalog: TableCatalog, table: str) -> Callable[[], str]:
    def run() -> str:
        from batch.staging_job import StagingJob  # noqa: PLC0415 - pyspark

        [report] = StagingJob(spark, location, catalog).run([table])
        return staging_summary(report)

    return run


def curated_step(spark: SparkSession, location: LakeLocation, catalog: TableCatalog, step: str) -> Callable[[], str]:
    def run() -> str:
        from batch.curated_job import CuratedJob  # noqa: PLC0415 - pyspark

        return curated_summary(CuratedJob(spark, location, catalog).run({step}))

    return run


def staging_summary(report: StagingReport) -> str:
    if report.status != "staged":
        return f"{report.status} (version {report.version if report.version is not None else '-'})"
    quarantined = f", {report.quarantined_rows:,} quarantined" if report.quarantined_rows else ""
    return (
        f"version {report.version}: {report.new_files:,} new file(s), {report.input_changes:,} change(s), "
        f"{report.rows_merged:,} merged ({report.deletes:,} deletes, {report.late_changes:,} late ignored)"
        f"{quarantined}, {report.buckets_rewritten} bucket(s) rewritten"
    )


def curated_summary(report: CuratedReport) -> str:
    built = [
        f"{table.table} v{table.version} ({table.rows:,} rows)" for table in report.tables if table.status == "built"
    ]
    return ("built " + ", ".join(built)) if built else report.summary()


def dag_steps(
    spark: SparkSession, location: LakeLocation, catalog: TableCatalog, tables: list[str] | None
) -> list[Step]:
    """staging of every table (referenced tables first) → dimensions → facts → aggregates."""
    chosen = [table for table in catalog.referenced_first() if tables is None or table.name in tables]
    steps = []
    for table in chosen:
        needs = tuple(
            f"staging:{target}"
            for target in table.quality.references.values()
            if target != table.name and any(t.name == target for t in chosen)
        )
        steps.append(Step(f"staging:{table.name}", staging_step(spark, location, catalog, table.name), needs))
    staged = tuple(step.name for step in steps)
    steps.append(Step("dimensions", curated_step(spark, location, catalog, "dimensions"), staged))
    steps.append(Step("facts", curated_step(spark, location, catalog, "facts"), ("dimensions",)))
    steps.append(Step("aggregates", curated_step(spark, location, catalog, "aggregates"), ("facts",)))
    return steps


def render_results(results: list[StepResult], title: str) -> RichTable:
    table = RichTable(title=title, title_justify="left")
    for column in ("step", "status", "seconds", "attempts", "result"):
        table.add_column(column, justify="right" if column in ("seconds", "attempts") else "left", overflow="fold")
    style = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for result in results:
        table.add_row(
            result.name,
            f"[{style[result.status]}]{result.status}[/]",
            f"{result.seconds:.1f}",
            str(result.attempts),
            result.summary,
        )
    return table


def _run(steps: list[Step], settings: BatchSettings, title: str) -> list[StepResult]:
    def show(result: StepResult) -> None:
        mark = {"ok": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]"}[result.status]
        console.print(f"{mark} {result.name} ({result.seconds:.1f}s): {result.summary}")

    metrics = metrics_sink(build(MetricsSettings))
    results = run_dag(
        steps, attempts=settings.attempts, wait_seconds=settings.retry_wait_seconds, on_result=show, metrics=metrics
    )
    console.print(render_results(results, title))
    failed = [result for result in results if result.status == "failed"]
    if failed:
        raise BatchRunError(f"{len(failed)} step(s) failed: " + "; ".join(f"{r.name}: {r.summary}" for r in failed))
    return results


@app.command()
def staging(
    tables: TablesOption = None,
    lake_root: LakeRoot = None,
    home: Home = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
) -> list[StepResult]:
    """Landing -> staging: new committed landing files only, latest change per key by source position, quality."""
    settings = build(BatchSettings)
    location = _location(home, lake_root, aws_endpoint_url)
    loaded = load_catalog(catalog)
    chosen = _tables(loaded, tables)
    with spark_session(settings) as spark:
        steps = [step for step in dag_steps(spark, location, loaded, chosen) if step.name.startswith("staging:")]
        return _run(steps, settings, "batch staging")


@app.command()
def curated(
    steps: Annotated[
        str, typer.Option("--steps", help="Comma-separated: dimensions, facts, aggregates")
    ] = "dimensions,facts,aggregates",
    lake_root: LakeRoot = None,
    home: Home = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
) -> list[StepResult]:
    """Staging (+ landing history) -> the curated star schema; tables whose inputs did not change are kept."""
    chosen = [step.strip() for step in steps.split(",") if step.strip()]
    unknown = sorted(set(chosen) - {"dimensions", "facts", "aggregates"})
    if unknown or not chosen:
        raise ConfigError(f"--steps takes dimensions, facts, aggregates; got {steps!r}")
    settings = build(BatchSettings)
    location = _location(home, lake_root, aws_endpoint_url)
    loaded = load_catalog(catalog)
    with spark_session(settings) as spark:
        order = [name for name in ("dimensions", "facts", "aggregates") if name in chosen]
        dag = [Step(name, curated_step(spark, location, loaded, name)) for name in order]
        return _run(dag, settings, "batch curated")


@app.command()
def run(
    tables: TablesOption = None,
    lake_root: LakeRoot = None,
    home: Home = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
) -> list[StepResult]:
    """The DAG: staging for every table, then dimensions, facts, aggregates; retries, timings, a summary."""
    settings = build(BatchSettings)
    location = _location(home, lake_root, aws_endpoint_url)
    loaded = load_catalog(catalog)
    chosen = _tables(loaded, tables)
    with spark_session(settings) as spark:
        return _run(dag_steps(spark, location, loaded, chosen), settings, "batch run")


@app.command()
def vacuum(
    older_than: Annotated[str, typer.Option("--older-than", help="Only files older than this, e.g. 1h, 30m")] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted")] = False,
    lake_root: LakeRoot = None,
    home: Home = None,
    aws_endpoint_url: AwsEndpoint = None,
) -> dict[str, list[str]]:
    """Delete staging/curated data files no version lists (crashed runs' leftovers, replaced files), and
    quarantine files of runs that never committed."""
    age = timedelta(seconds=parse_duration(older_than, what="--older-than"))
    location = _location(home, lake_root, aws_endpoint_url)
    removed: dict[str, list[str]] = {}
    table = RichTable(title="vacuum" + (" (dry run)" if dry_run else ""), title_justify="left")
    table.add_column("table")
    table.add_column("files", justify="right")
    for zone in VERSIONED_ZONES:
        for name in versioned_tables(location, zone):
            files = TableStore(location, zone, name).vacuum(older_than=age, dry_run=dry_run)
            removed[f"{zone}.{name}"] = files
            table.add_row(f"{zone}.{name}", f"{len(files):,}")
    from batch.staging_files import ZONE, vacuum_quarantine  # noqa: PLC0415 - Spark-typed modules: load on use

    for name in versioned_tables(location, ZONE):
        files = vacuum_quarantine(location, name, age, dry_run=dry_run)
        removed[f"quarantine.{name}"] = files
        table.add_row(f"quarantine.{name}", f"{len(files):,}")
    console.print(table)
    return removed
