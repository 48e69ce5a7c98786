"""`cdc query`: SQL over the lake with DuckDB (staging, curated and landing views), Athena's role locally."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table as RichTable

from batch.query_engine import LakeQueryEngine
from cli.endpoints import lake_location, resolve_endpoints
from cli.options import AwsEndpoint, Home, LakeRoot
from cli.output import console
from common.errors import ConfigError


def query(
    sql: Annotated[
        str | None, typer.Argument(help='One SQL statement, e.g. "SELECT count(*) FROM curated.dim_customer"')
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the SQL from this file instead", show_default=False)
    ] = None,
    tables: Annotated[
        bool, typer.Option("--tables", help="List the views (zone.table, files, version, columns)")
    ] = False,
    output: Annotated[
        Literal["table", "csv", "json"], typer.Option("--output", "-o", help="table (first --limit rows), csv or json")
    ] = "table",
    limit: Annotated[int, typer.Option(min=1, help="Rows shown in table output")] = 50,
    lake_root: LakeRoot = None,
    home: Home = None,
    aws_endpoint_url: AwsEndpoint = None,
) -> pa.Table | None:
    """Run SQL over the lake's views: staging.<table>, curated.<table>, landing.<table> (committed files only)."""
    if file is not None:
        if sql:
            raise ConfigError("give the SQL as an argument or with --file, not both")
        try:
            sql = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    if not tables and not sql:
        raise ConfigError('give a SQL statement (cdc query "SELECT ...") or --tables')
    location = lake_location(resolve_endpoints(home, lake_root=lake_root, aws_endpoint_url=aws_endpoint_url))
    engine = LakeQueryEngine(location)
    try:
        if tables:
            console.print(render_views(engine))
            return None
        assert sql is not None
        result = engine.query(sql)
    finally:
        engine.close()
    if output == "csv":
        write_csv(result)
    elif output == "json":
        for row in result.to_pylist():
            sys.stdout.write(json.dumps(row, default=_json_value) + "\n")
    else:
        console.print(render_result(result, limit))
    return result


def render_views(engine: LakeQueryEngine) -> RichTable:
    table = RichTable(title=f"views over {engine.location.root}", title_justify="left")
    for column in ("view", "files", "version", "columns"):
        table.add_column(column, justify="right" if column in ("files", "version") else "left", overflow="fold")
    for view in engine.views:
        columns = ", ".join(name for name, _ in engine.columns(view) if not name.startswith("_"))
        version = "-" if view.version is None else str(view.version)
        table.add_row(view.name, f"{view.files:,}", version, escape(columns))
    if not engine.views:
        table.caption = "no tables yet: land data with `cdc stream`, then run `cdc batch run`"
    return table


def render_result(result: pa.Table, limit: int) -> RichTable:
    table = RichTable(title_justify="left", caption=_caption(result.num_rows, limit))
    for field in result.schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
        table.add_column(field.name, justify="right" if numeric else "left")
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*(escape(_text(value)) for value in row.values()))
    return table


def _caption(rows: int, limit: int) -> str:
    return f"{rows:,} row(s)" + (f", first {limit:,} shown (--limit, or -o csv for all)" if rows > limit else "")


def _text(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def write_csv(result: pa.Table) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(result.column_names)
    for row in result.to_pylist():
        writer.writerow(["" if value is None else value for value in row.values()])
