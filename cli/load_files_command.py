"""`cdc batch load-files`: CSV extracts → validated Parquet in the lake → truncate-and-load into the warehouse.

The flow of seed 000's Workday-style feed, for one ``[extracts.<name>]`` of the catalog:

1. read the source (a file, or every file of a folder: the parts of one export) and parse it per the catalog
   (``batch.file_extracts``); a malformed file stops the run with one line before anything is landed or loaded;
2. land the good rows under ``landing/files/<name>/load_date=<date>/`` and quarantine the bad ones (line numbers,
   reasons, raw text) under ``quarantine/files/<name>/load_date=<date>/``;
3. unless ``--no-warehouse``: truncate-and-load the warehouse table behind the row-count check
   (``redshift.extracts``): a row count more than ``max_row_count_drop`` (5 %) away from the previous successful
   load's, in either direction, is refused and recorded as failed; ``--accept-drop`` loads it anyway.

Loading into the warehouse is the default and needs a configured warehouse (an error, before anything is landed,
otherwise): a scheduled truncate-and-load that silently skipped its load and its row-count check when the
warehouse settings went missing would look green. ``--no-warehouse`` lands only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table as RichTable

from batch.file_extracts import LandedFile, ParsedFile, land, parse_files, read_source
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
    warehouse_connection,
)
from common.errors import ConfigError
from redshift.connections import PsycopgSession, WarehouseConnection
from redshift.extracts import ExtractLoad, load_into_postgres, load_into_redshift
from schemas.catalog import FileExtract, load_catalog

SHOWN_BAD_ROWS = 5  # the summary lists the reasons of the first few quarantined rows


@dataclass
class LoadFilesResult:
    """What a run did: the parsed files, where they landed, and the warehouse load (None with --no-warehouse)."""

    extract: str
    load_date: str
    files: list[ParsedFile] = field(default_factory=list)
    landed: list[LandedFile] = field(default_factory=list)
    load: ExtractLoad | None = None

    @property
    def good_rows(self) -> int:
        return sum(int(parsed.rows.num_rows) for parsed in self.files)

    @property
    def bad_rows(self) -> int:
        return sum(len(parsed.bad_rows) for parsed in self.files)


def load_files(
    source: Annotated[
        Path,
        typer.Option(
            "--source", help="A CSV extract, or a folder whose files together make one load", show_default=False
        ),
    ],
    table: Annotated[
        str,
        typer.Option(
            "--table", help="The catalog's file extract: the <name> of an extracts.<name> block", show_default=False
        ),
    ],
    load_date: Annotated[
        datetime | None,
        typer.Option(
            "--load-date",
            formats=["%Y-%m-%d"],
            help="Date the files belong to: the landing folder load_date=…; default: today in UTC",
            show_default=False,
        ),
    ] = None,
    warehouse: Annotated[
        bool,
        typer.Option(
            "--warehouse/--no-warehouse",
            help="Truncate-and-load the warehouse table (needs a configured warehouse); --no-warehouse lands only",
        ),
    ] = True,
    accept_drop: Annotated[
        bool,
        typer.Option(
            "--accept-drop",
            "--accept-variance",
            help="Load even when the row count differs from the previous successful load's by more than the "
            "extract's max_row_count_drop (either direction)",
        ),
    ] = False,
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
) -> LoadFilesResult:
    """Validate CSV extracts against the catalog, land them as Parquet (bad rows quarantined), truncate-and-load."""
    spec = load_catalog(catalog).extract(table)
    day = (load_date or datetime.now(UTC)).date()
    location = lake_location(resolve_endpoints(home, lake_root=lake_root, aws_endpoint_url=aws_endpoint_url))
    connection: WarehouseConnection | None = None
    if warehouse:  # settle the warehouse settings before anything is landed
        _, connection = warehouse_connection(
            home, warehouse_dsn, None, aws_endpoint_url, dialect, connector, workgroup,
            cluster_identifier, database, db_user, secret_arn, iam, region, iam_role_arn=iam_role_arn,
        )  # fmt: skip
        if connection.dialect == "redshift":
            if not location.is_s3:
                raise ConfigError("a Redshift load COPYs the landed Parquet from S3: --lake-root must be an s3:// URL")
            if not connection.redshift.iam_role_arn:
                raise ConfigError(
                    "a Redshift load needs the role COPY assumes: set REDSHIFT_IAM_ROLE_ARN or --iam-role-arn"
                )

    result = LoadFilesResult(spec.name, day.isoformat())
    result.files = parse_files(spec, read_source(source))
    result.landed = land(location, spec, result.files, day)
    console.print(render_files(result))
    for line in bad_row_lines(result):
        console.print(line, highlight=False)
    if connection is None:
        console.print(f"warehouse: skipped (--no-warehouse); landed {len(result.landed)} file(s)")
        return result
    result.load = load_into_warehouse(connection, spec, result, day, accept_drop=accept_drop)
    console.print(f"warehouse: {escape(result.load.table)} ← {escape(result.load.message)}", highlight=False)
    return result


def load_into_warehouse(
    connection: WarehouseConnection, spec: FileExtract, result: LoadFilesResult, day: date, *, accept_drop: bool
) -> ExtractLoad:
    """Open a session and run the dialect's truncate-and-load of the landed rows."""
    names = [f"{Path(parsed.name).name} ({parsed.digest[:8]})" for parsed in result.files]
    session = connection.session_factory()()
    try:
        if connection.dialect == "redshift":
            role = connection.redshift.iam_role_arn or ""
            return load_into_redshift(
                session, spec, urls=[landed.url for landed in result.landed], rows=result.good_rows,
                iam_role_arn=role, files=names, load_date=day, accept_drop=accept_drop,
            )  # fmt: skip
        if not isinstance(session, PsycopgSession):
            raise ConfigError("the local load needs the PostgreSQL stand-in (--dialect postgres, connector psycopg)")
        rows = pa.concat_tables([parsed.rows for parsed in result.files])
        return load_into_postgres(session, spec, rows, files=names, load_date=day, accept_drop=accept_drop)
    finally:
        session.close()


def render_files(result: LoadFilesResult) -> RichTable:
    """Per source file: records read, good rows landed, rows quarantined, where they went."""
    table = RichTable(title=f"extract {result.extract}, load date {result.load_date}", title_justify="left")
    table.add_column("file", overflow="fold")
    for column in ("records", "good", "quarantined"):
        table.add_column(column, justify="right")
    table.add_column("landed", overflow="fold")
    for parsed, landed in zip(result.files, result.landed, strict=True):
        quarantined = f"[yellow]{len(parsed.bad_rows):,}[/]" if parsed.bad_rows else "0"
        table.add_row(
            escape(Path(parsed.name).name),
            f"{parsed.records:,}",
            f"{parsed.rows.num_rows:,}",
            quarantined,
            escape(landed.url),
        )
    return table


def bad_row_lines(result: LoadFilesResult) -> list[str]:
    """The first few quarantined rows as ``file:line: reasons`` (no row values), then where the rest are."""
    lines: list[str] = []
    for parsed in result.files:
        for bad in parsed.bad_rows:
            if len(lines) == SHOWN_BAD_ROWS:
                break
            lines.append(f"  {escape(Path(parsed.name).name)}:{bad.line}: {escape('; '.join(bad.reasons))}")
    if not lines:
        return []
    quarantine = [landed.quarantine_path for landed in result.landed if landed.quarantine_path]
    more = f" (first {SHOWN_BAD_ROWS})" if result.bad_rows > SHOWN_BAD_ROWS else ""
    header = f"[yellow]quarantined {result.bad_rows:,} row(s){more}[/]:"
    footer = [f"  quarantine: {escape(path)}" for path in quarantine]
    return [header, *lines, *footer]
