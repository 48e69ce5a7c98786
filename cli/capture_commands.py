"""`cdc capture`: run change capture (native PostgreSQL or the Debezium engine) with live progress."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table as RichTable
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from cli.endpoints import Endpoints, build, require, resolve_endpoints, stack_settings
from cli.endpoints import source_dsn as resolved_source_dsn  # the flag parameter is called source_dsn
from cli.options import BootstrapServers, Catalog, Home, RegistryUrl, SourceDsn
from cli.output import console
from common.errors import ServiceUnavailableError
from common.metrics import MetricsSettings, metrics_sink
from localstack.paths import StackPaths
from producers.capture.debezium.capture import build_debezium_capture, reset_debezium_capture
from producers.capture.debezium.engine import DebeziumProgress
from producers.capture.postgres.capture import PostgresCapture, PostgresCaptureConfig, reset_capture
from producers.capture.postgres.pgoutput import format_lsn
from producers.capture.postgres.state import StateFile
from producers.capture.progress import CaptureProgress
from producers.publish import ChangePublisher
from producers.topics import ensure_topics
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import Table, load_catalog
from schemas.registry import SchemaRegistry

TableFilter = Annotated[
    list[str] | None, typer.Option("--table", help="Only this table (repeatable)", show_default=False)
]


def render_progress(progress: CaptureProgress) -> RichTable:
    """The live view: one row per topic plus totals, positions and lag."""
    lsn = format_lsn(progress.last_lsn) if progress.last_lsn else "-"
    acked = format_lsn(progress.acknowledged) if progress.acknowledged and progress.phase == "streaming" else "-"
    lag = f"{progress.slot_lag_bytes / 1024:.0f} KiB" if progress.slot_lag_bytes is not None else "-"
    table = RichTable(
        title=f"capture ({progress.source}) phase={progress.phase} events={progress.events} "
        f"rate={progress.rate():,.0f}/s last_lsn={lsn} confirmed={acked} slot_lag={lag}",
        title_justify="left",
    )
    table.add_column("topic")
    table.add_column("events", justify="right")
    table.add_column("events/s", justify="right")
    table.add_column("status")
    elapsed = max(time.monotonic() - progress.started, 1e-6)
    for topic, count in sorted(progress.events_by_table.items()):
        table.add_row(topic, f"{count:,}", f"{count / elapsed:,.0f}", "ok")
    for name, reason in progress.blocked.items():
        table.add_row(name, "-", "-", f"[red]stopped: {escape(reason)}[/]")
    return table


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or Ctrl-C, so the capture finishes what Kafka acknowledged and exits cleanly."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_kafka(config: Mapping[str, Any], attempts: int = 5) -> None:
    """Retry with backoff; one clear error when the broker stays unreachable."""
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    def probe() -> None:
        try:
            AdminClient({**config, "log_level": 0}).list_topics(timeout=5)
        except Exception as exc:
            raise ServiceUnavailableError(str(exc)) from None

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception_type(ServiceUnavailableError),
        ):
            with attempt:
                probe()
    except RetryError as exc:
        raise ServiceUnavailableError(
            f"Kafka at {config.get('bootstrap.servers')} unreachable after {attempts} attempts: "
            f"{exc.last_attempt.exception()}"
        ) from None


def selected_tables(catalog: TableCatalog, names: list[str] | None) -> list[Table]:
    return [catalog.table(name) for name in names] if names else list(catalog.tables)


@dataclass
class CaptureWiring:
    """The objects one capture run needs; `close` releases the Kafka and registry clients."""

    publisher: ChangePublisher
    registry: SchemaRegistry

    def close(self) -> None:
        try:
            self.publisher.close()
        finally:
            self.registry.close()


def connect_outputs(
    endpoints: Endpoints, tables: list[Table], partitions: int, replication: int, retries: int = 5
) -> CaptureWiring:
    """Wait for Kafka (with backoff), create missing topics, connect the registry and the publisher."""
    require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")
    require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
    kafka_config = endpoints.kafka.librdkafka_config()
    wait_for_kafka(kafka_config, attempts=retries)
    ensure_topics(kafka_config, [table.topic for table in tables], partitions=partitions, replication=replication)
    registry = SchemaRegistry(endpoints.registry)
    return CaptureWiring(ChangePublisher.connect(endpoints.kafka, registry), registry)


def state_folder(home: Path | None, state_dir: Path | None) -> Path:
    return state_dir or StackPaths.at(stack_settings(home).home).home / "capture"


def capture(
    source: Annotated[
        Literal["postgres", "debezium"], typer.Option(help="Native pgoutput capture or the Debezium engine")
    ] = "postgres",
    home: Home = None,
    bootstrap_servers: BootstrapServers = None,
    schema_registry_url: RegistryUrl = None,
    source_dsn: SourceDsn = None,
    catalog: Catalog = None,
    tables: TableFilter = None,
    slot: Annotated[str, typer.Option(help="Replication slot base name (generations get a _gN suffix)")] = "cdc_retail",
    publication: Annotated[str, typer.Option(help="Publication over the captured tables")] = "cdc_retail_pub",
    snapshot: Annotated[
        Literal["initial", "never"], typer.Option(help="Initial snapshot of existing rows")
    ] = "initial",
    chunk_rows: Annotated[int, typer.Option(min=100, help="Snapshot rows per chunk (progress is saved per chunk)")] = (
        20_000
    ),
    partitions: Annotated[int, typer.Option(min=1, help="Partitions for topics created by capture")] = 3,
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
    stop_when_idle: Annotated[float | None, typer.Option(help="Exit after this many seconds without changes")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where capture keeps its state [default: CDC_HOME/capture]")
    ] = (None),
    reset: Annotated[bool, typer.Option(help="Drop this capture's slots and state first (a fresh snapshot)")] = False,
    retries: Annotated[int, typer.Option(min=1, help="Attempts to reach Kafka before giving up (with backoff)")] = 5,
    quiet: Annotated[bool, typer.Option(help="No live progress table")] = False,
) -> CaptureProgress:
    """Capture row changes and publish Debezium-format Avro events to Kafka until stopped (SIGTERM/Ctrl-C)."""
    endpoints = resolve_endpoints(
        home, bootstrap_servers=bootstrap_servers, schema_registry_url=schema_registry_url, source_dsn=source_dsn
    )
    dsn = resolved_source_dsn(endpoints)
    loaded = load_catalog(catalog)
    chosen = selected_tables(loaded, tables)
    folder = state_folder(home, state_dir)
    if source == "debezium":
        return run_debezium(
            endpoints,
            loaded,
            chosen,
            dsn,
            folder / "debezium",
            partitions,
            replication_factor,
            stop_when_idle,
            reset=reset,
            quiet=quiet,
        )
    state_file = StateFile(folder / f"postgres-{slot}.json")
    if reset:
        dropped = reset_capture(dsn, slot, state_file)
        console.print(f"reset: dropped slots {', '.join(dropped) or '(none)'} and {state_file.path}")
    config = PostgresCaptureConfig(
        slot_base=slot,
        publication=publication,
        snapshot=snapshot,
        chunk_rows=chunk_rows,
        stop_when_idle=stop_when_idle,
    )
    wiring = connect_outputs(endpoints, chosen, partitions, replication_factor, retries)
    with stop_on_signals() as stop, Live(console=console, transient=False, auto_refresh=False) as live:

        def show(progress: CaptureProgress) -> None:
            if not quiet:
                live.update(render_progress(progress), refresh=True)

        runner = PostgresCapture(
            dsn=dsn,
            catalog=loaded,
            tables=chosen,
            publisher=wiring.publisher,
            state_file=state_file,
            config=config,
            on_progress=show,
            metrics=metrics_sink(build(MetricsSettings)),
        )
        try:
            progress = runner.run(stop)
        finally:
            wiring.close()
        show(progress)
    confirmed = format_lsn(progress.acknowledged) if progress.acknowledged else "-"
    console.print(f"capture stopped: {progress.events:,} events, slot confirmed up to {confirmed}")
    return progress


def run_debezium(
    endpoints: Endpoints,
    catalog: TableCatalog,
    tables: list[Table],
    dsn: str,
    folder: Path,
    partitions: int,
    replication: int,
    stop_when_idle: float | None,
    *,
    reset: bool,
    quiet: bool,
) -> CaptureProgress:
    """`cdc capture --source debezium`: the real Debezium engine, same envelopes and topics (docs/adr/0007)."""
    require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")
    require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
    if reset:
        removed = reset_debezium_capture(dsn, folder)
        console.print(f"reset: removed {', '.join(removed) or '(nothing)'}")
    runner = build_debezium_capture(
        catalog,
        endpoints.kafka,
        endpoints.registry,
        dsn,
        folder,
        partitions=partitions,
        replication=replication,
        tables=tables,
    )
    with stop_on_signals() as stop, Live(console=console, transient=False, auto_refresh=False) as live:

        def show(progress: DebeziumProgress) -> None:
            if not quiet:
                live.update(render_progress(progress.as_capture_progress()), refresh=True)

        result = runner.run(stop, on_progress=show, stop_when_idle=stop_when_idle).as_capture_progress()
    console.print(f"capture stopped: {result.events:,} events")
    return result
