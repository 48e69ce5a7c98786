"""The generated per-table SQL: committed files up to date with the catalog, and what the generator derives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import ConfigError
from redshift import generate
from redshift.backfill import BACKFILL_METADATA, backfill_columns, copy_manifest
from schemas import debezium
from schemas.catalog import Column, load_catalog
from streaming.landing_schema import landing_schema


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


def test_committed_sql_is_up_to_date_with_the_catalog(catalog) -> None:  # type: ignore[no-untyped-def]
    problems = generate.stale_files(catalog)
    assert problems == [], "run `python -m redshift.generate`: " + ", ".join(f"{n} ({r})" for n, r in problems)


def test_check_mode_reports_stale_files_and_writing_fixes_them(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1
    assert "stale:" in capsys.readouterr().out
    assert generate.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "copy" / "gone.sql").write_text("-- a table removed from the catalog\n")
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1
    assert "copy/gone.sql: not in the catalog" in capsys.readouterr().out
    assert generate.main(["--out", str(tmp_path)]) == 0
    assert generate.main(["--check", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "copy" / "gone.sql").exists()
    (tmp_path / generate.DIMENSIONS_FILE).write_text("edited by hand\n")
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1
    assert f"{generate.DIMENSIONS_FILE}: differs from the catalog" in capsys.readouterr().out


def test_one_change_feed_per_table_and_one_procedure_per_dimension_and_fact_source(catalog) -> None:  # type: ignore[no-untyped-def]
    files = generate.render_all(catalog)
    feeds = files[generate.CHANGE_FEEDS_FILE]
    for table in catalog.tables:
        assert f"CREATE MATERIALIZED VIEW staging.mv_{table.name}\n" in feeds
        assert f'FROM msk_cdc."{table.topic}.json";' in feeds
        assert f"CREATE OR REPLACE VIEW staging.{table.name}_changes AS" in feeds
        assert f"CREATE TABLE IF NOT EXISTS staging.{table.name}_backfill (" in feeds
        assert f"copy/{table.name}.sql" in files
    dimensions = files[generate.DIMENSIONS_FILE]
    assert "CREATE OR REPLACE PROCEDURE staging.load_dim_customer()" in dimensions
    assert "CREATE OR REPLACE PROCEDURE staging.load_dim_product()" in dimensions
    facts = files[generate.FACT_SOURCES_FILE]
    for name in ("orders", "order_item", "payment", "shipment"):
        assert f"CREATE OR REPLACE PROCEDURE staging.apply_{name}_changes()" in facts


def test_type2_attributes_open_versions_and_type1_attributes_come_from_the_latest_change(catalog) -> None:  # type: ignore[no-untyped-def]
    sql = generate.render_dimension(catalog.table("customer"))
    version_rule = sql.split("CREATE TEMP TABLE tmp_dim_customer_versions AS", 1)[1].split(";", 1)[0]
    for column in catalog.table("customer").scd_columns(2):
        assert f"(t.{column.name} <> t.previous_{column.name}\n" in version_rule
    for column in catalog.table("customer").scd_columns(1):
        assert f"previous_{column.name}" not in sql
        assert f"l.{column.name} AS " in sql
    # the source's own updated_at does not collide with the dimension's load time
    assert "l.updated_at AS source_updated_at" in sql
    assert "  source_updated_at TIMESTAMP,\n" in sql and "  updated_at TIMESTAMP NOT NULL,\n" in sql


@pytest.mark.parametrize(
    ("catalog_type", "warehouse"),
    [
        ("int16", "SMALLINT"),
        ("int32", "INTEGER"),
        ("int64", "BIGINT"),
        ("varchar(320)", "VARCHAR(320)"),
        ("string", "VARCHAR(65535)"),
        ("text", "VARCHAR(65535)"),
        ("decimal(12,2)", "DECIMAL(12, 2)"),
        ("timestamp", "TIMESTAMP"),
        ("timestamptz", "TIMESTAMPTZ"),
        ("date", "DATE"),
        ("boolean", "BOOLEAN"),
        ("float64", "DOUBLE PRECISION"),
        ("uuid", "VARCHAR(36)"),
        ("json", "VARCHAR(65535)"),
    ],
)
def test_warehouse_types(catalog_type: str, warehouse: str) -> None:
    assert generate.warehouse_type(Column(name="c", type=catalog_type)) == warehouse


def test_reserved_words_are_quoted() -> None:
    assert generate.sql_name("order") == '"order"'
    assert generate.sql_name("snapshot") == '"snapshot"'
    assert generate.sql_name("email") == "email"


def test_value_extraction_per_dialect() -> None:
    price = Column(name="unit_price", type="decimal(12,2)")
    assert (
        generate.redshift_value(price, "c.image") == "CAST(CAST(c.image.unit_price AS VARCHAR(64)) AS DECIMAL(12, 2))"
    )
    assert generate.postgres_value(price, "c.image") == "CAST(c.image ->> 'unit_price' AS DECIMAL(12, 2))"
    day = Column(name="birth_date", type="date")
    assert generate.redshift_value(day, "c.image") == "CAST(CAST(c.image.birth_date AS VARCHAR(10)) AS DATE)"


def test_sqlserver_tables_are_refused_with_a_clear_message(catalog) -> None:  # type: ignore[no-untyped-def]
    table = catalog.table("customer").model_copy(update={"connector": "sqlserver"})
    with pytest.raises(ConfigError, match="connector is not supported yet"):
        generate.render_change_feed(table)


def test_backfill_table_has_exactly_the_landing_file_columns(catalog) -> None:  # type: ignore[no-untyped-def]
    """COPY ... FORMAT AS PARQUET maps by position: the backfill table must match the landing files column by column."""
    for table in catalog.tables:
        landing = landing_schema(debezium.envelope_schema(table))
        file_columns = [column.name for column in (*landing.row, *landing.metadata)]
        assert list(backfill_columns(table)) == file_columns
        kinds = {column.name: column.kind for column in landing.metadata}
        for name, sql_type in BACKFILL_METADATA:
            expected = {"string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN"}
            assert sql_type.startswith(expected.get(kinds[name], "TIMESTAMP")), name


def test_copy_manifest_lists_committed_files_with_their_sizes() -> None:
    manifest = json.loads(copy_manifest([("s3a://lake/landing/customer/year=2026/a.parquet", 123)]))
    assert manifest == {
        "entries": [
            {
                "url": "s3://lake/landing/customer/year=2026/a.parquet",
                "mandatory": True,
                "meta": {"content_length": 123},
            }
        ]
    }
    with pytest.raises(ConfigError):
        copy_manifest([("/local/file.parquet", 1)])
