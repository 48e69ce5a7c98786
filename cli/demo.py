"""`cdc demo`: the end-to-end run on the local stack, one timed step per stage that exists so far."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import duckdb
import typer
from rich.table import Table

import batch
from cli import (
    batch_commands,
    bridge_commands,
    capture_commands,
    query_commands,
    schema_commands,
    stack_commands,
    status_command,
    stream_commands,
    warehouse_commands,
    workload_commands,
)
from cli.endpoints import Endpoints, lake_location, resolve_endpoints, source_dsn
from cli.options import Home
from cli.output import console
from common.errors import CdcError
from common.landing_files import register_landing_views
from producers.capture.postgres.capture import PostgresCapture, PostgresCaptureConfig, reset_capture
from producers.capture.postgres.state import StateFile
from producers.topics import topic_counts
from redshift.connections import PsycopgSession
from redshift.runner import reset_warehouse
from schemas.catalog import load_catalog

DEMO_SLOT = "cdc_demo"


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], object]


def run_steps(steps: list[Step]) -> list[tuple[str, float]]:
    """Run steps in order, printing a rule per step; a failing step stops the demo with its own error."""
    timings = []
    for index, step in enumerate(steps, start=1):
        console.rule(f"[bold]{index}/{len(steps)} {step.name}")
        started = time.perf_counter()
        step.run()
        timings.append((step.name, time.perf_counter() - started))
    return timings


@dataclass
class BackgroundCapture:
    """The native capture running in a thread while the workload writes, stopped once it is idle."""

    home: Path | None
    thread: threading.Thread | None = None
    capture: PostgresCapture | None = None
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    wiring: capture_commands.CaptureWiring | None = None

    def start(self) -> None:
        endpoints = resolve_endpoints(self.home)
        dsn = source_dsn(endpoints)
        catalog = load_catalog()
        tables = list(catalog.tables)
        state_file = StateFile(capture_commands.state_folder(self.home, None) / f"postgres-{DEMO_SLOT}.json")
        counts = topic_counts(endpoints.kafka.librdkafka_config(), [t.topic for t in tables])
        if state_file.load() is not None and not any(count.records for count in counts.values()):
            # The in-memory broker was restarted since the last demo: its topics are gone, so start over, and
            # so must everything that kept Kafka offsets (the landing checkpoints, the warehouse's MV tables).
            console.print(
                "the broker's topics are empty but capture state exists: starting with a fresh snapshot, "
                "an empty landing zone and an empty warehouse"
            )
            reset_capture(dsn, DEMO_SLOT, state_file)
            reset_landing(endpoints.lake.root)
            reset_demo_warehouse(endpoints)
        self.wiring = capture_commands.connect_outputs(endpoints, tables, partitions=3, replication=1)
        self.capture = PostgresCapture(
            dsn=dsn,
            catalog=catalog,
            tables=tables,
            publisher=self.wiring.publisher,
            state_file=state_file,
            config=PostgresCaptureConfig(slot_base=DEMO_SLOT, publication=f"{DEMO_SLOT}_pub", stop_when_idle=3.0),
        )
        self.thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self.thread.start()
        self._wait(lambda: self.capture is not None and self.capture.progress.phase == "streaming", "the snapshot")
        progress = self.capture.progress
        console.print(f"capture streaming: {progress.snapshot_rows:,} rows snapshotted")

    def _run(self) -> None:
        assert self.capture is not None
        try:
            self.capture.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def _wait(self, done: Callable[[], bool], what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.error is not None:
                raise self.error
            if self.thread is not None and not self.thread.is_alive() and not done():
                raise CdcError(f"capture stopped before {what}")
            if time.monotonic() > deadline:
                raise CdcError(f"capture did not finish {what} within {timeout:.0f}s")
            time.sleep(0.2)

    def finish(self) -> None:
        """Let the capture catch up (it returns after 3 idle seconds), then release its clients."""
        assert self.thread is not None and self.capture is not None
        self.thread.join(600)
        if self.thread.is_alive():
            self.stop.set()
            self.thread.join(60)
        if self.wiring is not None:
            self.wiring.close()
        if self.error is not None:
            raise self.error
        progress = self.capture.progress
        console.print(f"capture caught up: {progress.events:,} events this run, {progress.transactions:,} transactions")


def reset_landing(lake_root: str | None) -> None:
    """Remove the demo lake's data, checkpoints and dead letters (they belong to topics now gone)."""
    if not lake_root or "://" in lake_root:
        return
    for zone in ("landing", "checkpoints/landing", "dlq", "staging", "curated", "quarantine"):
        shutil.rmtree(Path(lake_root) / zone, ignore_errors=True)


def reset_demo_warehouse(endpoints: Endpoints) -> None:
    """Empty the local stack's warehouse (PostgreSQL stand-in) of the demo's schemas and runner bookkeeping."""
    if endpoints.warehouse.dsn is None:
        return
    session = PsycopgSession.connect(endpoints.warehouse.dsn.get_secret_value())
    try:
        reset_warehouse(session)
    finally:
        session.close()


def show_landing_counts(home: Path | None) -> None:
    """Per-table rows in the landing zone, read back with DuckDB from the files the sink committed."""
    endpoints = resolve_endpoints(home)
    location = lake_location(endpoints)
    catalog = load_catalog()
    connection = duckdb.connect()
    files = register_landing_views(connection, location, [t.name for t in catalog.tables])
    table = Table(title=f"landing zone {location.path('landing')} (DuckDB over committed files)", title_justify="left")
    for column in ("table", "rows", "deletes", "files", "hours"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, count in files.items():
        rows, deletes, hours = connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE _op = 'd'), count(DISTINCT (year, month, day, hour)) "  # noqa: S608
            f'FROM "{name}"'
        ).fetchall()[0]
        table.add_row(name, f"{rows:,}", f"{deletes:,}", f"{count:,}", f"{hours:,}")
    console.print(table)
    connection.close()


BUSINESS_QUERIES = {
    "top products by revenue, last 7 days of orders": "top_products_7d.sql",
    "customers per segment at each month end": "customers_per_segment.sql",
}


def business_answers(home: Path | None) -> None:
    """The demo's questions to the curated star schema, each a versioned .sql file run by `cdc query -f`."""
    folder = Path(batch.__file__).resolve().parent / "sql"
    for question, name in BUSINESS_QUERIES.items():
        console.print(f"[bold]{question}[/] (cdc query -f batch/sql/{name})")
        query_commands.query(file=folder / name, home=home)


def show_topic_counts(home: Path | None) -> None:
    endpoints = resolve_endpoints(home)
    catalog = load_catalog()
    counts = topic_counts(endpoints.kafka.librdkafka_config(), [t.topic for t in catalog.tables])
    table = Table(title="Kafka topics (read back to the end of every partition)", title_justify="left")
    for column in ("topic", "events", "tombstones"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for topic, count in counts.items():
        table.add_row(topic, f"{count.records:,}", f"{count.tombstones:,}")
    console.print(table)


def demo(
    home: Home = None,
    profile: Annotated[
        Literal["embedded", "compose"], typer.Option(help="Which local stack to run the demo on")
    ] = "embedded",
    changes: Annotated[int, typer.Option(min=1, help="Row changes the workload makes while capture runs")] = 3000,
) -> None:
    """Stack up, schemas registered, source initialised, workload + capture to Kafka, landing with Spark, JSON
    bridge, warehouse migrate + load cycle, then the star schema's customer history and fact totals."""
    resolved_home: Path | None = home
    capture = BackgroundCapture(resolved_home)
    steps = [
        Step(
            "start the local stack",
            lambda: stack_commands.up(
                home=resolved_home,
                profile=profile,
                postgres_port=0,
                kafka_port=0,
                registry_port=0,
                aws_port=0,
                foreground=False,
            ),
        ),
        Step(
            "register the catalog's Avro schemas",
            lambda: schema_commands.register(home=resolved_home, schema_registry_url=None, catalog=None, tables=None),
        ),
        Step(
            "create and populate the source database",
            lambda: workload_commands.init(
                home=resolved_home,
                source_dsn=None,
                catalog=None,
                customers=2000,
                products=200,
                orders=2000,
                seed=42,
                as_of=None,
                reset=False,
                append=False,
            ),
        ),
        Step("start capture: snapshot, then streaming", capture.start),
        Step(
            f"run the retail workload ({changes:,} row changes)",
            lambda: workload_commands.run(
                home=resolved_home,
                source_dsn=None,
                catalog=None,
                rate=2000,
                duration=None,
                changes=changes,
                seed=secrets.randbelow(2**31),
                quiet=True,
            ),
        ),
        Step("let capture catch up", capture.finish),
        Step("count the events in Kafka", lambda: show_topic_counts(resolved_home)),
        Step(
            "land them as Parquet with Spark (cdc stream --available-now)",
            lambda: stream_commands.stream(home=resolved_home, available_now=True, quiet=True),
        ),
        Step("read the landing zone back with DuckDB", lambda: show_landing_counts(resolved_home)),
        Step(
            "bridge the Avro topics to <topic>.json for Redshift's MVs (cdc bridge)",
            lambda: bridge_commands.bridge(home=resolved_home, stop_when_idle=2.0, quiet=True),
        ),
        Step("migrate the warehouse (cdc warehouse migrate)", lambda: warehouse_commands.migrate(home=resolved_home)),
        Step(
            "refresh the MVs, run the SCD and fact procedures, check quality (cdc warehouse run --once)",
            lambda: warehouse_commands.run(home=resolved_home, once=True),
        ),
        Step(
            "the star schema: customer history, fact totals (cdc warehouse report)",
            lambda: warehouse_commands.report(home=resolved_home),
        ),
        Step(
            "the batch medallion in the lake: staging, curated star schema (cdc batch run)",
            lambda: batch_commands.run(home=resolved_home),
        ),
        Step("business answers from the lake with DuckDB (cdc query)", lambda: business_answers(resolved_home)),
        Step(
            "the whole pipeline: lags, dead letters, batch (cdc status)",
            lambda: status_command.status(home=resolved_home),
        ),
        Step("stack status", lambda: stack_commands.status(home=resolved_home)),
    ]
    timings = run_steps(steps)
    summary = Table(title="demo summary", title_justify="left")
    summary.add_column("step")
    summary.add_column("seconds", justify="right")
    for name, seconds in timings:
        summary.add_row(name, f"{seconds:.1f}")
    console.print(summary)
    console.print("the stack keeps running: `cdc stack status`, `cdc stack env`, `cdc stack down`")
