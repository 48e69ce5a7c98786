"""`cdc stream`: the landing job on a local Spark session, with live progress and a clean stop on SIGTERM."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import typer
from rich.live import Live
from rich.table import Table as RichTable

from cli.capture_commands import stop_on_signals
from cli.endpoints import Endpoints, build, lake_location, require, resolve_endpoints
from cli.options import BootstrapServers, Catalog, Home, LakeRoot, RegistryUrl
from cli.output import console
from common.durations import parse_duration
from common.metrics import MetricsSettings, metrics_sink
from common.settings import StreamSettings
from schemas.catalog import Table, load_catalog
from streaming.decode import DecodePlan
from streaming.job import LandingJob
from streaming.landing import AVAILABLE_NOW, SinkConfig
from streaming.plans import decode_plan, select_tables
from streaming.progress import TableProgress
from streaming.source import KafkaSourceConfig
from streaming.source.offsets import parse_starting_offsets
from streaming.writer_schemas import RegistryEndpoint

_STATE_STYLE = {"running": "green", "finished": "green", "restarting": "yellow", "failed": "red", "stopped": "dim"}


def render_progress(rows: list[TableProgress], elapsed_s: float) -> RichTable:
    """The live table: one row per landing query."""
    table = RichTable(title=f"landing job ({elapsed_s:,.0f}s)", title_justify="left")
    for column in ("table", "state", "batches", "landed", "rows/s", "tombstones", "dead letters", "lag", "schema"):
        table.add_column(column, justify="left" if column in ("table", "state") else "right", no_wrap=True)
    for row in rows:
        style = _STATE_STYLE.get(row.state, "white")
        table.add_row(
            row.table,
            f"[{style}]{row.state}[/]" + (f" ({row.restarts} restarts)" if row.restarts else ""),
            f"{row.batches:,}",
            f"{row.rows:,}",
            f"{row.rows_per_second:,.0f}",
            f"{row.tombstones:,}",
            f"[red]{row.dead_letters:,}[/]" if row.dead_letters else "0",
            "-" if row.lag is None else f"{row.lag:,}",
            f"id {row.reader_schema_id}",
        )
    return table


def registry_endpoint(endpoints: Endpoints) -> RegistryEndpoint:
    url = require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
    secret = endpoints.registry.basic_auth_user_info
    return RegistryEndpoint(url, secret.get_secret_value() if secret else None)


def stream(
    home: Home = None,
    catalog: Catalog = None,
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated catalog tables to land [default: all]", show_default=False)
    ] = None,
    available_now: Annotated[
        bool, typer.Option("--available-now", help="Land everything in Kafka now, then stop (Trigger.AvailableNow)")
    ] = False,
    trigger: Annotated[
        str | None,
        typer.Option(help="Micro-batch interval, e.g. 5s or 1m [env: STREAM_TRIGGER_SECONDS; default 5s]"),
    ] = None,
    source: Annotated[
        Literal["python", "native"] | None,
        typer.Option(help="Kafka source: python (local) or native (needs Spark's Kafka jar) [env: STREAM_SOURCE]"),
    ] = None,
    starting_offsets: Annotated[
        str | None,
        typer.Option(
            help="earliest, latest or Spark's JSON offsets, for a new checkpoint [env: STREAM_STARTING_OFFSETS]"
        ),
    ] = None,
    max_offsets_per_trigger: Annotated[
        int | None, typer.Option(min=1, help="Records per micro-batch at most [env: STREAM_MAX_OFFSETS_PER_TRIGGER]")
    ] = None,
    max_records_per_file: Annotated[
        int | None, typer.Option(min=1, help="Rows per Parquet file at most [env: STREAM_MAX_RECORDS_PER_FILE]")
    ] = None,
    spark_master: Annotated[str | None, typer.Option(help="Spark master [env: STREAM_SPARK_MASTER]")] = None,
    bootstrap_servers: BootstrapServers = None,
    schema_registry_url: RegistryUrl = None,
    lake_root: LakeRoot = None,
    quiet: Annotated[bool, typer.Option(help="No live progress table")] = False,
) -> list[TableProgress]:
    """Land Kafka CDC topics as Parquet in the lake's landing zone, exactly once, until stopped (or done)."""
    endpoints = resolve_endpoints(
        home, bootstrap_servers=bootstrap_servers, schema_registry_url=schema_registry_url, lake_root=lake_root
    )
    settings = build(
        StreamSettings,
        source=source,
        trigger_seconds=None if trigger is None else parse_duration(trigger, what="--trigger"),
        starting_offsets=starting_offsets,
        max_offsets_per_trigger=max_offsets_per_trigger,
        max_records_per_file=max_records_per_file,
        spark_master=spark_master,
    )
    servers = require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")
    registry = registry_endpoint(endpoints)
    lake = lake_location(endpoints)
    chosen = select_tables(load_catalog(catalog), [t.strip() for t in tables.split(",")] if tables else None)
    # Check what the source would only check inside Spark (where errors come back wrapped in Java exceptions).
    parse_starting_offsets(settings.starting_offsets, [table.topic for table in chosen])
    # Read every table's schema before starting Spark, so a missing registration fails in a second, not twenty.
    plans = {table.name: decode_plan(table, registry) for table in chosen}
    kafka = KafkaSourceConfig(
        kind=settings.source,
        bootstrap_servers=servers,
        starting_offsets=settings.starting_offsets,
        max_offsets_per_trigger=settings.max_offsets_per_trigger,
        msk_iam=settings.msk_iam,
        client_config=_client_config(endpoints) if settings.source == "python" else {},
    )
    sink = SinkConfig(
        trigger=AVAILABLE_NOW if available_now else settings.trigger_seconds,
        max_records_per_file=settings.max_records_per_file,
        checkpoint_root=settings.checkpoint_root,
    )
    from common.spark import local_session  # noqa: PLC0415 - importing pyspark costs a second on every `cdc` call

    console.print(f"starting Spark ({settings.spark_master}) for {len(chosen)} table(s) …")
    spark = local_session("cdc-stream", master=settings.spark_master, log_level=settings.spark_log_level)
    started = time.monotonic()
    last_shown = 0.0
    with stop_on_signals() as stop, Live(console=console, transient=False, auto_refresh=False) as live:

        def show(rows: list[TableProgress]) -> None:
            nonlocal last_shown
            if not quiet and time.monotonic() - last_shown >= 1.0:
                last_shown = time.monotonic()
                live.update(render_progress(rows, last_shown - started), refresh=True)

        def plan_for(table: Table) -> DecodePlan:
            # The plans read before Spark started serve the first start; restarts read the registry again.
            return plans.pop(table.name, None) or decode_plan(table, registry)

        metrics = metrics_sink(build(MetricsSettings))
        job = LandingJob(spark, kafka, lake, sink, chosen, plan_for, on_progress=show, metrics=metrics)
        try:
            results = job.run(stop)
        finally:
            spark.stop()
        live.update(render_progress(results, time.monotonic() - started), refresh=True)
    console.line()
    landed = sum(row.rows for row in results)
    dead = sum(row.dead_letters for row in results)
    console.print(f"landing job stopped: {landed:,} rows landed, {dead:,} dead letters, lake {lake.path('landing')}")
    return results


def _client_config(endpoints: Endpoints) -> dict[str, str]:
    """librdkafka settings for the Python source (security and client id; the servers are passed separately)."""
    config = endpoints.kafka.librdkafka_config()
    config.pop("bootstrap.servers", None)
    return config
