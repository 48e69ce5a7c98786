"""`cdc warehouse`: migrate the warehouse, refresh the local MV tables, run the load cycle, show status."""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from cli.capture_commands import stop_on_signals
from cli.endpoints import Endpoints, build, require, resolve_endpoints
from cli.options import AwsEndpoint, BootstrapServers, Catalog, Home, WarehouseDsn
from cli.output import console, print_error
from common.durations import parse_duration
from common.errors import CdcError, ConfigError
from common.metrics import MetricsSettings, metrics_sink
from common.settings import WarehouseSettings
from redshift.connections import PsycopgSession, SessionFactory, WarehouseConnection
from redshift.dialect import quote_literal
from redshift.refresh import JSON_TOPIC_SUFFIX, MvRefresher, RefreshReport
from redshift.reports import ReportRows, star_schema_report
from redshift.runner import (
    DEFAULT_SQL_DIR,
    MigrationReport,
    RunReport,
    WarehouseRunError,
    WarehouseRunner,
    WarehouseStatus,
    refresh_materialized_views,
)
from redshift.settings import RedshiftSettings
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import load_catalog

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="The warehouse: migrations, MV refresh, SCD/fact procedures, data-quality checks, status.",
)

DialectOption = Annotated[
    Literal["postgres", "redshift"] | None,
    typer.Option("--dialect", help="SQL dialect: postgres (local stand-in) or redshift [env: REDSHIFT_DIALECT]"),
]
ConnectorOption = Annotated[
    Literal["auto", "psycopg", "redshift-connector", "data-api"] | None,
    typer.Option(
        "--connector",
        help="How to connect; auto = psycopg for postgres; for redshift the Data API with a workgroup or cluster, "
        "redshift-connector with --iam, a host or only a DSN [env: REDSHIFT_CONNECTOR]",
    ),
]
Workgroup = Annotated[
    str | None, typer.Option("--workgroup", help="Redshift Serverless workgroup [env: REDSHIFT_WORKGROUP]")
]
ClusterIdentifier = Annotated[
    str | None,
    typer.Option("--cluster-identifier", help="Provisioned Redshift cluster [env: REDSHIFT_CLUSTER_IDENTIFIER]"),
]
Database = Annotated[str | None, typer.Option("--database", help="Redshift database [env: REDSHIFT_DATABASE]")]
DbUser = Annotated[str | None, typer.Option("--db-user", help="Redshift database user [env: REDSHIFT_DB_USER]")]
SecretArn = Annotated[
    str | None,
    typer.Option("--secret-arn", help="Secrets Manager secret with the credentials [env: REDSHIFT_SECRET_ARN]"),
]
Iam = Annotated[
    bool | None, typer.Option("--iam/--no-iam", help="IAM authentication (redshift-connector) [env: REDSHIFT_IAM]")
]
Region = Annotated[str | None, typer.Option("--region", help="AWS region of Redshift [env: REDSHIFT_REGION]")]
SqlDir = Annotated[
    Path | None,
    typer.Option("--sql-dir", help="Folder of V<NNN>__<what>.sql files [default: the packaged redshift/sql]"),
]


def warehouse_connection(
    home: Path | None,
    warehouse_dsn: str | None,
    bootstrap_servers: str | None,
    aws_endpoint_url: str | None,
    dialect: str | None,
    connector: str | None,
    workgroup: str | None,
    cluster_identifier: str | None,
    database: str | None,
    db_user: str | None,
    secret_arn: str | None,
    iam: bool | None,
    region: str | None,
    **redshift_values: str | None,
) -> tuple[Endpoints, WarehouseConnection]:
    """Endpoints (flag, env, running stack) plus the warehouse connection settings the flags describe."""
    endpoints = resolve_endpoints(
        home, bootstrap_servers=bootstrap_servers, warehouse_dsn=warehouse_dsn, aws_endpoint_url=aws_endpoint_url
    )
    redshift = build(
        RedshiftSettings,
        dialect=dialect,
        connector=connector,
        workgroup=workgroup,
        cluster_identifier=cluster_identifier,
        database=database,
        db_user=db_user,
        secret_arn=secret_arn,
        iam=iam,
        region=region,
        **redshift_values,
    )
    warehouse = endpoints.warehouse
    if redshift.dialect == "redshift":
        # Never Redshift-dialect SQL against the local stack's PostgreSQL: only an explicit DSN counts here.
        warehouse = build(WarehouseSettings, dsn=warehouse_dsn or os.environ.get("WAREHOUSE_DSN") or None)
    elif warehouse.dsn is None:
        require(None, "warehouse", "WAREHOUSE_DSN", "--warehouse-dsn")
    return endpoints, WarehouseConnection(warehouse, redshift, endpoints.aws)


def template_parameters(
    redshift: RedshiftSettings, catalog: TableCatalog, bootstrap_servers: str | None, extra: list[str] | None
) -> dict[str, str]:
    """``{{ parameters }}`` for the versioned SQL, already quoted as SQL (ARNs and servers as literals, topics as
    identifiers); ``--param name=value`` adds or overrides, verbatim."""
    values: dict[str, str] = {"topic_prefix": catalog.topic_prefix, "database": redshift.database}
    if redshift.iam_role_arn:
        values["iam_role_arn"] = quote_literal(redshift.iam_role_arn)
    if redshift.msk_cluster_arn:
        values["msk_cluster_arn"] = quote_literal(redshift.msk_cluster_arn)
    if bootstrap_servers:
        values["kafka_bootstrap_servers"] = quote_literal(bootstrap_servers)
    for table in catalog.tables:
        topic = f"{table.topic}{JSON_TOPIC_SUFFIX}"
        values[f"{table.name}_topic"] = '"' + topic.replace('"', '""') + '"'
    for item in extra or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"--param expects name=value, got {item!r}")
        values[name.strip()] = value
    return values


def warehouse_runner(
    connection: WarehouseConnection, catalog: TableCatalog, sql_dir: Path | None, parameters: dict[str, str]
) -> WarehouseRunner:
    procedures = connection.redshift.procedure_names()
    return WarehouseRunner(
        connect=connection.session_factory(),
        dialect=connection.dialect,
        catalog=catalog,
        sql_dir=sql_dir or DEFAULT_SQL_DIR,
        parameters=parameters,
        procedures=procedures,
    )


def _local_refresh(
    factory: SessionFactory, endpoints: Endpoints, catalog: TableCatalog, tables: list[str] | None
) -> RefreshReport:
    require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")
    session = factory()
    try:
        if not isinstance(session, PsycopgSession):
            raise ConfigError("the local MV refresh needs the PostgreSQL stand-in (--dialect postgres)")
        refresher = MvRefresher(session.connection, endpoints.kafka.librdkafka_config(), catalog)
        return refresher.refresh(tables)
    finally:
        session.close()


@app.command()
def migrate(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be applied; change nothing")] = False,
    sql_dir: SqlDir = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Extra SQL template parameter name=value (repeatable)")
    ] = None,
    iam_role_arn: Annotated[
        str | None, typer.Option("--iam-role-arn", help="Role Redshift assumes for MSK [env: REDSHIFT_IAM_ROLE_ARN]")
    ] = None,
    msk_cluster_arn: Annotated[
        str | None, typer.Option("--msk-cluster-arn", help="MSK cluster of the MVs [env: REDSHIFT_MSK_CLUSTER_ARN]")
    ] = None,
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
    bootstrap_servers: BootstrapServers = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
    dialect: DialectOption = None,
    connector: ConnectorOption = None,
    workgroup: Workgroup = None,
    cluster_identifier: ClusterIdentifier = None,
    database: Database = None,
    db_user: DbUser = None,
    secret_arn: SecretArn = None,
    iam: Iam = None,
    region: Region = None,
) -> MigrationReport:
    """Apply the pending versioned SQL files in order, each once (an edited applied file is refused)."""
    endpoints, connection = warehouse_connection(
        home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region,
        iam_role_arn=iam_role_arn, msk_cluster_arn=msk_cluster_arn,
    )  # fmt: skip
    loaded = load_catalog(catalog)
    parameters = template_parameters(connection.redshift, loaded, endpoints.kafka.bootstrap_servers, param)
    report = warehouse_runner(connection, loaded, sql_dir, parameters).migrate(dry_run=dry_run)
    console.print(render_migrations(report, connection.describe()))
    verb = "would apply" if dry_run else "applied"
    done = report.pending if dry_run else report.applied
    console.print(f"{verb} {len(done)} migration(s); {len(report.already_applied)} applied before")
    return report


def render_migrations(report: MigrationReport, where: str) -> RichTable:
    table = RichTable(title=f"migrations ({escape(where)})", title_justify="left")
    for column in ("version", "file", "statements", "state"):
        table.add_column(column, no_wrap=True)
    for applied in report.already_applied:
        table.add_row(f"V{applied.version:03d}", applied.name, "", f"applied {_when(applied.applied_at)}")
    done = {migration.version for migration in report.applied}
    for migration in report.pending:
        state = "[green]applied now[/]" if migration.version in done else "[yellow]pending[/]"
        table.add_row(
            f"V{migration.version:03d}", migration.filename, str(report.statements.get(migration.version, "")), state
        )
    return table


@app.command()
def refresh(
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated catalog tables [default: all]", show_default=False)
    ] = None,
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
    bootstrap_servers: BootstrapServers = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
    dialect: DialectOption = None,
    connector: ConnectorOption = None,
    workgroup: Workgroup = None,
    cluster_identifier: ClusterIdentifier = None,
    database: Database = None,
    db_user: DbUser = None,
    secret_arn: SecretArn = None,
    iam: Iam = None,
    region: Region = None,
) -> None:
    """Append new <topic>.json records to the staging.mv_<table> tables (Redshift: REFRESH MATERIALIZED VIEW)."""
    endpoints, connection = warehouse_connection(
        home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region,
    )  # fmt: skip
    loaded = load_catalog(catalog)
    names = [name.strip() for name in tables.split(",") if name.strip()] if tables else None
    factory = connection.session_factory()
    if connection.dialect == "redshift":
        session = factory()
        try:
            console.print(refresh_materialized_views(session))
        finally:
            session.close()
        return
    report = _local_refresh(factory, endpoints, loaded, names)
    console.print(render_refresh(report))
    console.print(report.summary())


def render_refresh(report: RefreshReport) -> RichTable:
    table = RichTable(title="MV refresh", title_justify="left")
    for column in ("table", "topic", "appended", "tombstones", "unreadable", "from offsets"):
        left = column in ("table", "topic")
        table.add_column(column, overflow="fold" if left else "ellipsis", justify="left" if left else "right")
    for row in report.tables:
        offsets = ", ".join(f"{p}:{o}" for p, o in sorted(row.start_offsets.items()))
        if row.skipped:
            table.add_row(row.table, row.topic, f"[yellow]skipped: {row.skipped}[/]", "", "", "")
        else:
            unreadable = f"[red]{row.unreadable:,}[/]" if row.unreadable else "0"
            table.add_row(row.table, row.topic, f"{row.rows:,}", f"{row.tombstones:,}", unreadable, offsets or "-")
    return table


@app.command()
def run(
    every: Annotated[str, typer.Option("--every", help="Interval between cycles, e.g. 60s or 5m")] = "60s",
    once: Annotated[bool, typer.Option("--once", help="One cycle, then exit (non-zero when it failed)")] = False,
    with_refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="Refresh the MVs first (local refresher or REFRESH)")
    ] = True,
    procedures: Annotated[
        str | None,
        typer.Option(
            "--procedures",
            help="Comma-separated schema.name procedures to CALL in order [env: REDSHIFT_PROCEDURES; "
            "default: discovered in staging/analytics]",
        ),
    ] = None,
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
    bootstrap_servers: BootstrapServers = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
    dialect: DialectOption = None,
    connector: ConnectorOption = None,
    workgroup: Workgroup = None,
    cluster_identifier: ClusterIdentifier = None,
    database: Database = None,
    db_user: DbUser = None,
    secret_arn: SecretArn = None,
    iam: Iam = None,
    region: Region = None,
) -> RunReport | None:
    """Refresh → procedures → data-quality checks, every interval until SIGTERM/Ctrl-C (or once)."""
    interval = parse_duration(every, what="--every")
    endpoints, connection = warehouse_connection(
        home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region,
    )  # fmt: skip
    loaded = load_catalog(catalog)
    runner = warehouse_runner(connection, loaded, None, {})
    runner.metrics = metrics_sink(build(MetricsSettings))
    if procedures is not None:
        runner.procedures = tuple(name.strip() for name in procedures.split(",") if name.strip())
    if with_refresh and connection.dialect == "postgres":
        require(endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers")

    def local_refresh() -> str:
        return _local_refresh(runner.connect, endpoints, loaded, None).summary()

    step = local_refresh if with_refresh and connection.dialect == "postgres" else None
    if not with_refresh and connection.dialect == "redshift":
        step = lambda: "refresh skipped"  # noqa: E731 - keeps the runner from issuing REFRESH
    last: RunReport | None = None
    with stop_on_signals() as stop:
        while not stop.is_set():
            try:
                last = runner.run_once(step)
            except CdcError as exc:  # e.g. the warehouse is unreachable: report, try again next cycle
                if once:
                    raise
                print_error(str(exc))
                last = None
            else:
                console.print(render_run(last))
            if once:
                break
            stop.wait(interval)
    if last is not None and not last.ok:
        raise WarehouseRunError(f"warehouse run {last.run_id} failed: {last.summary()}")
    return last


def render_run(report: RunReport) -> RichTable:
    state = "[green]ok[/]" if report.ok else "[red]failed[/]"
    table = RichTable(title=f"warehouse run {report.run_id} {state}", title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("what")
    table.add_column("result", justify="right")
    if report.refreshed:
        table.add_row("refresh", escape(report.refreshed), "")
    for call in report.procedures:
        table.add_row("procedure", call.name, f"{call.seconds:.2f}s")
    for check in report.checks:
        result = "[green]ok[/]" if check.passed else f"[red]{check.violations:,} violation(s)[/]"
        detail = f" {escape(check.detail)}" if check.detail else ""
        table.add_row("check", f"{check.relation}: {check.name}{detail}", result)
    if report.error:
        table.add_row("[red]error[/]", escape(report.error), "")
    return table


@app.command()
def status(
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
    bootstrap_servers: BootstrapServers = None,
    aws_endpoint_url: AwsEndpoint = None,
    catalog: Catalog = None,
    sql_dir: SqlDir = None,
    dialect: DialectOption = None,
    connector: ConnectorOption = None,
    workgroup: Workgroup = None,
    cluster_identifier: ClusterIdentifier = None,
    database: Database = None,
    db_user: DbUser = None,
    secret_arn: SecretArn = None,
    iam: Iam = None,
    region: Region = None,
) -> WarehouseStatus:
    """Applied migrations, watermarks, row counts of MVs/dimensions/facts, lag and the last runs."""
    _, connection = warehouse_connection(
        home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region,
    )  # fmt: skip
    result = warehouse_runner(connection, load_catalog(catalog), sql_dir, {}).status()
    for table in render_status(result, connection.describe()):
        console.print(table)
    return result


@app.command()
def report(
    customers: Annotated[int, typer.Option(min=1, help="Show the history of this many customers (most versions)")] = 3,
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
    aws_endpoint_url: AwsEndpoint = None,
    dialect: DialectOption = None,
    connector: ConnectorOption = None,
    workgroup: Workgroup = None,
    cluster_identifier: ClusterIdentifier = None,
    database: Database = None,
    db_user: DbUser = None,
    secret_arn: SecretArn = None,
    iam: Iam = None,
    region: Region = None,
) -> list[ReportRows]:
    """The star schema at a glance: customer versions, the busiest customers' history, order-line totals."""
    _, connection = warehouse_connection(
        home, warehouse_dsn, None, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region,
    )  # fmt: skip
    session = connection.session_factory()()
    try:
        reports = star_schema_report(session, connection.dialect, customers=customers)
    finally:
        session.close()
    for rows in reports:
        console.print(render_report(rows))
    return reports


_REPORT_TITLES = {
    "dimension_summary": "analytics.dim_customer",
    "customer_history": "customer history (the customers with the most versions)",
    "fact_totals": "analytics.fact_order_items per order status",
}


def render_report(report: ReportRows) -> RichTable:
    table = RichTable(title=_REPORT_TITLES.get(report.name, report.name), title_justify="left")
    for column in report.columns:
        values = [row[report.columns.index(column)] for row in report.rows]
        numeric = any(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values)
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    previous_key: object = None
    for row in report.rows:
        cells = [_cell(value) for value in row]
        if report.name == "customer_history" and row[0] == previous_key:
            cells[0] = ""  # one customer's versions read as a block
        previous_key = row[0]
        table.add_row(*cells)
    return table


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, datetime) and value.year == 9999:
        return "open"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return escape(_when(value))


def _when(value: object) -> str:
    """Timestamps to the second (the database keeps microseconds; people do not need them)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "-" if value is None else str(value)


def render_status(result: WarehouseStatus, where: str) -> list[RichTable]:
    migrations = RichTable(title=f"migrations ({escape(where)})", title_justify="left")
    for column in ("version", "name", "checksum", "applied at"):
        migrations.add_column(column, no_wrap=True)
    for applied in result.migrations:
        migrations.add_row(f"V{applied.version:03d}", applied.name, applied.checksum[:12], _when(applied.applied_at))
    for name in result.pending:
        migrations.add_row("", name, "", "[yellow]pending[/]")
    counts = RichTable(title="row counts", title_justify="left")
    counts.add_column("relation", no_wrap=True)
    counts.add_column("rows", justify="right")
    for relation, count in result.counts.items():
        counts.add_row(relation, f"{count:,}")
    lag = RichTable(title="lag (change rows in the MV past the watermark)", title_justify="left")
    for column in ("mv", "watermark target", "max offset", "watermark", "rows behind"):
        lag.add_column(column, no_wrap=True, justify="left" if column in ("mv", "watermark target") else "right")
    for row in result.lag:
        lag.add_row(
            row.mv,
            row.target or "-",
            "-" if row.max_offset is None else f"{row.max_offset:,}",
            "-" if row.watermark is None else f"{row.watermark:,}",
            f"{row.rows_behind:,}",
        )
    watermarks = RichTable(title="watermarks (staging.load_watermark)", title_justify="left")
    for column in ("target", "partition", "offset", "updated at"):
        watermarks.add_column(column, no_wrap=True)
    for mark in result.watermarks:
        watermarks.add_row(mark.target, str(mark.kafka_partition), f"{mark.kafka_offset:,}", _when(mark.updated_at))
    runs = RichTable(title="last runs", title_justify="left")
    for column in ("run", "started", "finished", "status", "failed checks", "message"):
        runs.add_column(column, overflow="fold" if column == "message" else "ellipsis")
    for run_id, started, finished, state, failed, message in result.last_runs:
        runs.add_row(str(run_id)[:8], _when(started), _when(finished), str(state), str(failed or 0), message or "")
    return [migrations, counts, lag, watermarks, runs]
