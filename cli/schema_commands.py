"""`cdc schemas generate|register|check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from cli.endpoints import require, resolve_endpoints
from cli.options import Catalog, Home, RegistryUrl
from cli.output import console
from common.errors import ConfigError, SchemaError
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema, key_schema, subject_names
from schemas.gate import BaselineSource, GitBaseline, RegistryBaseline, git_root, run_gate
from schemas.generate import diff_committed, write_all
from schemas.registry import SchemaRegistry

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="Avro schemas from the table catalog: generate, register, gate changes.",
    no_args_is_help=True,
)

AVSC_DIR = Path(__file__).resolve().parents[1] / "schemas" / "avsc"
AvscDir = Annotated[Path, typer.Option("--avsc-dir", help="Folder of .avsc files", file_okay=False)]
TableFilter = Annotated[
    list[str] | None, typer.Option("--table", help="Only this table (repeatable)", show_default=False)
]


@app.command()
def generate(
    catalog: Catalog = None,
    avsc_dir: AvscDir = AVSC_DIR,
    check_only: Annotated[bool, typer.Option("--check", help="Only report stale files; exit 1 if any")] = False,
) -> None:
    """Write each table's `<topic>-key.avsc` and `<topic>-value.avsc` from the catalog."""
    loaded = load_catalog(catalog)
    stale = diff_committed(loaded, avsc_dir)
    if check_only:
        if stale:
            raise SchemaError(f"stale .avsc files in {avsc_dir}: {', '.join(stale)}; run `cdc schemas generate`")
        console.print(f"{len(loaded.tables) * 2} schema files up to date")
        return
    write_all(loaded, avsc_dir)
    console.print(f"wrote {len(loaded.tables) * 2} schema files to {avsc_dir} ({len(stale)} changed)")


@app.command()
def register(
    home: Home = None,
    schema_registry_url: RegistryUrl = None,
    catalog: Catalog = None,
    tables: TableFilter = None,
) -> None:
    """Register every table's Key and Envelope schema under `<topic>-key` / `<topic>-value` (idempotent)."""
    endpoints = resolve_endpoints(home, schema_registry_url=schema_registry_url)
    require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
    loaded = load_catalog(catalog)
    selected = [loaded.table(name) for name in tables] if tables else list(loaded.tables)
    registry = SchemaRegistry(endpoints.registry)
    result = Table(title=f"registered at {registry.url}", title_justify="left")
    for column in ("table", "subject", "id", "version"):
        result.add_column(column)
    try:
        for table in selected:
            key_subject, value_subject = subject_names(table)
            for subject, schema in (
                (key_subject, key_schema(table)),
                (value_subject, envelope_schema(table)),
            ):
                registered = registry.register(subject, schema)
                result.add_row(table.name, subject, str(registered.schema_id), str(registered.version))
    finally:
        registry.close()
    console.print(result)


@app.command()
def check(
    home: Home = None,
    schema_registry_url: RegistryUrl = None,
    catalog: Catalog = None,
    avsc_dir: AvscDir = AVSC_DIR,
    against: Annotated[
        Literal["auto", "registry", "git"],
        typer.Option(help="Baseline: the registered latest version, the last git commit, or registry-if-configured"),
    ] = "auto",
    revision: Annotated[str, typer.Option(help="Git revision for --against git")] = "HEAD",
) -> None:
    """Gate for CI: fail with the subject and field when a changed .avsc is not compatible with its baseline."""
    loaded = load_catalog(catalog)
    stale = diff_committed(loaded, avsc_dir)
    if stale:
        raise SchemaError(f".avsc files disagree with the catalog: {', '.join(stale)}; run `cdc schemas generate`")
    files = sorted(avsc_dir.glob("*.avsc"))
    if not files:
        raise ConfigError(f"no .avsc files in {avsc_dir}")
    endpoints = resolve_endpoints(home, schema_registry_url=schema_registry_url)
    use_registry = against == "registry" or (against == "auto" and endpoints.registry.url is not None)
    registry: SchemaRegistry | None = None
    source: BaselineSource
    if use_registry:
        require(endpoints.registry.url, "schema registry", "SCHEMA_REGISTRY_URL", "--schema-registry-url")
        registry = SchemaRegistry(endpoints.registry)
        source, label = RegistryBaseline(registry), f"registry {registry.url}"
    else:
        root = git_root(avsc_dir)
        if root is None:
            raise ConfigError(f"{avsc_dir} is not inside a git checkout; use --against registry")
        source, label = GitBaseline(root, avsc_dir, revision), f"git {revision}"
    try:
        result = run_gate(files, source)
    finally:
        if registry:
            registry.close()
    for problem in result.problems:
        console.print(f"[red]✗[/] {escape(problem)}", markup=True, highlight=False)
    summary = (
        f"{len(result.checked)} subjects checked against {label}, "
        f"{len(result.new_subjects)} new, {len(result.problems)} incompatibilities"
    )
    if not result.ok:
        raise SchemaError(summary)
    console.print(f"[green]✓[/] {summary}")
