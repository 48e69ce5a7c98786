"""Decode plans for the catalog's tables: each table's latest registered envelope schema and landing columns."""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import ConfigError, SchemaError
from schemas.catalog import Catalog, Table
from schemas.debezium import subject_names
from streaming.decode import DecodePlan
from streaming.landing_schema import landing_schema
from streaming.writer_schemas import RegistryEndpoint, latest_version


def select_tables(catalog: Catalog, names: Sequence[str] | None) -> list[Table]:
    """The catalog tables named (all when none are); an unknown name is one ConfigError line."""
    tables = list(catalog.tables)
    if not names:
        return tables
    known = {table.name: table for table in tables}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"unknown table(s) {', '.join(unknown)} (catalog has: {', '.join(known)})")
    return [known[name] for name in dict.fromkeys(names)]


def decode_plan(table: Table, registry: RegistryEndpoint) -> DecodePlan:
    """The plan of one table, reading with the latest value schema registered for its topic."""
    _, subject = subject_names(table)
    latest = latest_version(registry, subject)
    if latest is None:
        raise SchemaError(
            f"no schema registered under '{subject}' at {registry.url}: run `cdc schemas register` "
            "(or start the capture, which registers its schemas)"
        )
    schema_id, schema = latest
    landing = landing_schema(schema)
    missing = [key for key in table.primary_key if key not in landing.row_names]
    if missing:
        raise SchemaError(f"{subject} (id {schema_id}) lacks primary-key column(s) {', '.join(missing)}")
    return DecodePlan(
        table=table.name,
        subject=subject,
        primary_key=table.primary_key,
        reader_id=schema_id,
        reader_schema=schema,
        landing=landing,
        registry=registry,
    )
