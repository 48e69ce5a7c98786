"""`cdc bridge`: the JSON bridge (Avro CDC topics -> `<topic>.json` for Redshift streaming MVs), live progress."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table as RichTable

from cli.capture_commands import stop_on_signals, wait_for_kafka
from cli.endpoints import build, require, resolve_endpoints
from cli.options import BootstrapServers, Catalog, Home, RegistryUrl
from cli.output import console
from common.metrics import MetricsSettings, metrics_sink
from producers.topics import ensure_topics
from redshift.bridge.decoding import WriterSchemas, registry_lookup
from redshift.bridge.loop import BridgeOptions, JsonBridge
from redshift.bridge.progress import BridgeProgress
from redshift.bridge.settings import BridgeSettings
from redshift.bridge.topics import TopicLayout, check_outputs, dead_letter_topic, json_topic, source_layouts
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import Table, load_catalog

_STATE_STYLE = {"running": "green", "idle": "green", "joining": "yellow", "starting": "yellow", "stopped": "dim"}


def render_progress(progress: BridgeProgress) -> RichTable:
    """The live view: one row per source topic, totals and state in the title."""
    elapsed = time.monotonic() - progress.started
    style = _STATE_STYLE.get(progress.state, "white")
    table = RichTable(
        title=f"json bridge → <topic>.json [{style}]{progress.state}[/] ({elapsed:,.0f}s) written={progress.written:,} "
        f"rate={progress.rate():,.0f}/s transactions={progress.transactions:,} aborted={progress.aborted}",
        title_justify="left",
    )
    for column in ("topic", "partitions", "events", "tombstones", "dead letters", "skipped", "lag"):
        table.add_column(column, justify="left" if column == "topic" else "right", no_wrap=True)
    for topic in progress.topics.values():
        lag, exact = topic.lag()
        table.add_row(
            topic.topic,
            str(len(topic.partitions)) if topic.partitions else "-",
            f"{topic.events:,}",
            f"{topic.tombstones:,}",
            f"[red]{topic.dead_letters:,}[/]" if topic.dead_letters else "0",
            f"{topic.skipped:,}",
            "-" if lag is None else (f"{lag:,}" if exact else f"≥{lag:,}"),
        )
    return table


def selected_tables(catalog: TableCatalog, names: str | None) -> list[Table]:
    if not names:
        return list(catalog.tables)
    return [catalog.table(name.strip()) for name in names.split(",") if name.strip()]


def prepare_topics(admin_config: dict[str, str], topics: list[str]) -> dict[str, TopicLayout]:
    """Check the sources exist; create missing `.json`/`.json.dlq` topics with the source's partition count."""
    sources = source_layouts(admin_config, topics)
    by_layout: dict[TopicLayout, list[str]] = defaultdict(list)
    for topic, layout in sources.items():
        by_layout[layout].extend((json_topic(topic), dead_letter_topic(topic)))
    for layout, outputs in by_layout.items():
        ensure_topics(admin_config, outputs, partitions=layout.partitions, replication=layout.replication)
    check_outputs(admin_config, sources)
    return sources


def bridge(
    home: Home = None,
    catalog: Catalog = None,
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated catalog tables to bridge [default: all]", show_default=False)
    ] = None,
    bootstrap_servers: BootstrapServers = None,
    schema_registry_url: RegistryUrl = None,
    group: Annotated[
        str | None,
        typer.Option(help="Consumer group; the transactional id is cdc-bridge-<group> [env: BRIDGE_GROUP]"),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Records per transaction at most [env: BRIDGE_BATCH_SIZE; default 2000]")
    ] = None,
    stop_when_idle: Annotated[
        float | None,
        typer.Option(min=0, help="Exit once every partition is read to its end and nothing came for this many seconds"),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live progress table")] = False,
) -> BridgeProgress:
    """Write every Avro CDC topic's events as Debezium JSON to `<topic>.json`, exactly once, until stopped."""
    endpoints = resolve_endpoints(home, bootstrap_servers=bootstrap_servers, schema_registry_url=schema_registry_url)
    settings = build(BridgeSettings, group=group, batch_size=batch_size)
    require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")
    require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
    topics = [table.topic for table in selected_tables(load_catalog(catalog), tables)]
    kafka_config = endpoints.kafka.librdkafka_config()
    wait_for_kafka(kafka_config)
    prepare_topics(kafka_config, topics)
    lookup, close_registry = registry_lookup(endpoints.registry)
    options = BridgeOptions(
        topics=tuple(topics),
        batch_size=settings.batch_size,
        batch_timeout_s=settings.batch_timeout_ms / 1000,
        stop_when_idle_s=stop_when_idle,
    )
    last_shown = 0.0
    try:
        with stop_on_signals() as stop, Live(console=console, transient=False, auto_refresh=False) as live:

            def show(progress: BridgeProgress) -> None:
                nonlocal last_shown
                if not quiet and (time.monotonic() - last_shown >= 1.0 or progress.state == "stopped"):
                    last_shown = time.monotonic()
                    live.update(render_progress(progress), refresh=True)

            runner = JsonBridge(
                settings.consumer_config(kafka_config),
                settings.producer_config(kafka_config),
                options,
                WriterSchemas(lookup),
                on_progress=show,
                metrics=metrics_sink(build(MetricsSettings)),
            )
            progress = runner.run(stop)
    finally:
        close_registry()
    console.print(
        f"bridge stopped: {progress.written:,} records written ({progress.tombstones:,} tombstones, "
        f"{progress.dead_letters:,} dead letters, {progress.skipped:,} already written) in "
        f"{progress.transactions:,} transactions, {progress.rate():,.0f} records/s"
    )
    return progress
