"""`cdc warehouse backfill`: replay the landing zone into the warehouse through the same SCD and fact procedures.

The committed landing files of each table (the readers' contract, ADR 0009) are loaded into
``staging.<table>_backfill`` — on Redshift by ``COPY … FORMAT AS PARQUET MANIFEST`` with a manifest uploaded to S3,
on the PostgreSQL stand-in by ``COPY … FROM STDIN`` from pyarrow — then one load cycle runs (procedures, checks),
and after a successful cycle the backfill tables are emptied. Re-running after a crash is safe: the procedures
ignore backfill rows whose changes they already hold (ADR 0010), so loading a file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from cli.bridge_commands import selected_tables
from cli.endpoints import lake_location, resolve_endpoints
from cli.options import AwsEndpoint, Catalog, Home, LakeRoot, WarehouseDsn
from cli.output import console
from cli.warehouse_commands import (
    ClusterIdentifier,
    ConnectorOption,
    Database,
    DbUser,
    DialectOption,
    Iam,
    Region,
    SecretArn,
    Workgroup,
    render_run,
    warehouse_connection,
    warehouse_runner,
)
from common.errors import ConfigError
from common.lake import LakeLocation
from common.landing_files import LandingTableNotFoundError, committed_file_details
from redshift.backfill import (
    clear_backfill_sql,
    copy_manifest,
    copy_statements,
    load_backfill,
    manifest_url,
    rows_from_landing,
)
from redshift.connections import PsycopgSession, SqlSession
from redshift.runner import RunReport, WarehouseRunError
from schemas.catalog import Table, load_catalog

MANIFEST_FOLDER = "manifests/backfill"


@dataclass
class TableLoad:
    """What the backfill loaded for one table (or why it loaded nothing)."""

    table: str
    files: int = 0
    rows: int = 0
    manifest: str | None = None
    skipped: str | None = None


def landing_files(location: LakeLocation, table: Table) -> tuple[list[tuple[str, int, int]], str | None]:
    """``(path relative to the table folder, rows, bytes)`` of each committed file, or why there are none."""
    try:
        details = committed_file_details(location, table.name)
    except LandingTableNotFoundError:
        return [], "no landing data"
    if not details:
        return [], "no committed files"
    return [(detail.path, detail.rows, detail.size) for detail in details], None


def load_into_postgres(session: PsycopgSession, location: LakeLocation, tables: list[Table]) -> list[TableLoad]:
    """Stream every committed file's rows into the backfill tables, all tables in one transaction."""
    filesystem, _ = location.filesystem()
    loads = []
    with session.transaction():
        for table in tables:
            files, skipped = landing_files(location, table)
            load = TableLoad(table.name, files=len(files), skipped=skipped)
            if files:
                paths = [location.fs_path("landing", table.name, path) for path, _, _ in files]
                load.rows = load_backfill(session.connection, table, rows_from_landing(table, paths, filesystem))
            loads.append(load)
    return loads


def load_into_redshift(
    session: SqlSession,
    s3: Any,
    location: LakeLocation,
    tables: list[Table],
    *,
    prefix: str,
    iam_role_arn: str,
    now: datetime,
) -> list[TableLoad]:
    """Per table: upload a COPY manifest of its committed files to ``prefix``, then run its COPY."""
    loads = []
    for table in tables:
        files, skipped = landing_files(location, table)
        load = TableLoad(table.name, files=len(files), rows=sum(rows for _, rows, _ in files), skipped=skipped)
        if files:
            manifest = copy_manifest((location.path("landing", table.name, path), size) for path, _, size in files)
            load.manifest = manifest_url(prefix, table.name, now)
            bucket, _, key = load.manifest.removeprefix("s3://").partition("/")
            s3.put_object(Bucket=bucket, Key=key, Body=manifest.encode("utf-8"), ContentType="application/json")
            for statement in copy_statements(table, load.manifest, iam_role_arn):
                session.execute(statement)
        loads.append(load)
    return loads


def render_loads(loads: list[TableLoad]) -> RichTable:
    table = RichTable(title="backfill from the landing zone", title_justify="left")
    for column in ("table", "files", "rows", "manifest"):
        table.add_column(column, justify="right" if column in ("files", "rows") else "left", overflow="fold")
    for load in loads:
        if load.skipped:
            table.add_row(load.table, "-", "-", f"[yellow]skipped: {load.skipped}[/]")
        else:
            table.add_row(load.table, f"{load.files:,}", f"{load.rows:,}", load.manifest or "-")
    return table


def backfill(
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated catalog tables [default: all]", show_default=False)
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the rows in staging.<table>_backfill after a successful run")
    ] = False,
    manifest_prefix: Annotated[
        str | None,
        typer.Option(
            "--manifest-prefix",
            help=f"Redshift: s3:// folder for the COPY manifests [default: <lake>/{MANIFEST_FOLDER}]",
        ),
    ] = None,
    iam_role_arn: Annotated[
        str | None,
        typer.Option(
            "--iam-role-arn", help="Redshift: role COPY assumes to read the lake [env: REDSHIFT_IAM_ROLE_ARN]"
        ),
    ] = None,
    lake_root: LakeRoot = None,
    home: Home = None,
    warehouse_dsn: WarehouseDsn = None,
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
) -> RunReport:
    """Load the landing zone's committed files into staging.<table>_backfill, then run the SCD and fact procedures."""
    _, connection = warehouse_connection(
        home, warehouse_dsn, None, aws_endpoint_url, dialect, connector, workgroup,
        cluster_identifier, database, db_user, secret_arn, iam, region, iam_role_arn=iam_role_arn,
    )  # fmt: skip
    location = lake_location(resolve_endpoints(home, lake_root=lake_root, aws_endpoint_url=aws_endpoint_url))
    loaded = load_catalog(catalog)
    chosen = selected_tables(loaded, tables)
    runner = warehouse_runner(connection, loaded, None, {})
    loads: list[TableLoad] = []

    if connection.dialect == "redshift":
        if not location.is_s3:
            raise ConfigError("a Redshift backfill COPYs from S3: LAKE_ROOT (--lake-root) must be an s3:// URL")
        role = connection.redshift.iam_role_arn
        if not role:
            raise ConfigError(
                "a Redshift backfill needs the role COPY assumes: set REDSHIFT_IAM_ROLE_ARN or --iam-role-arn"
            )
        prefix = manifest_prefix or location.path(MANIFEST_FOLDER).replace("s3a://", "s3://", 1)

        def load() -> str:
            session = runner.connect()
            try:
                s3 = connection.boto3_client("s3")
                loads.extend(
                    load_into_redshift(
                        session, s3, location, chosen, prefix=prefix, iam_role_arn=role, now=datetime.now(UTC)
                    )
                )
            finally:
                session.close()
            return summary(loads)
    else:

        def load() -> str:
            session = runner.connect()
            try:
                if not isinstance(session, PsycopgSession):
                    raise ConfigError("the local backfill needs the PostgreSQL stand-in (--dialect postgres)")
                loads.extend(load_into_postgres(session, location, chosen))
            finally:
                session.close()
            return summary(loads)

    report = runner.run_once(load)
    if loads:
        console.print(render_loads(loads))
    console.print(render_run(report))
    if not report.ok:
        raise WarehouseRunError(f"warehouse run {report.run_id} failed: {report.summary()}")
    if not keep:
        clear(
            runner.connect(),
            [table for table in chosen if any(done.table == table.name and done.rows for done in loads)],
        )
    return report


def summary(loads: list[TableLoad]) -> str:
    rows = sum(load.rows for load in loads)
    files = sum(load.files for load in loads)
    tables = sum(1 for load in loads if load.rows)
    return f"backfill: {rows:,} row(s) from {files:,} landing file(s) into {tables} table(s)"


def clear(session: SqlSession, tables: list[Table]) -> None:
    """Empty the consumed backfill tables (after the procedures succeeded; leaving them is correct, only slower)."""
    try:
        for table in tables:
            session.execute(clear_backfill_sql(table))
    finally:
        session.close()
