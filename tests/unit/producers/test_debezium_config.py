"""Engine properties for the Debezium capture: DSN parsing, catalog-derived settings, option validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.errors import ConfigError
from producers.capture.debezium.config import (
    DebeziumOptions,
    SourceConnection,
    debezium_topic,
    engine_properties,
    include_list,
    log4j_properties,
    parse_source_dsn,
    redacted,
)
from schemas.catalog import load_catalog, parse_catalog

SOURCE = SourceConnection(host="db.local", port=6543, user="cdc", password="s3cret", dbname="retail")


def test_parse_uri_dsn() -> None:
    source = parse_source_dsn("postgresql://cdc:p%40ss@127.0.0.1:51241/retail?sslmode=require")
    assert source == SourceConnection("127.0.0.1", 51241, "cdc", "p@ss", "retail", "require")
    assert "p@ss" not in repr(source)


def test_parse_key_value_dsn_with_defaults() -> None:
    assert parse_source_dsn("dbname=retail user=cdc") == SourceConnection("localhost", 5432, "cdc", "", "retail")


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://cdc:pw@host:5432", "must name dbname"),
        ("postgresql://host/retail", "must name user"),
        ("host=/var/run/postgresql dbname=retail user=cdc", "one TCP host"),
        ("postgresql://cdc:pw@host:99999/retail", "not a TCP port"),
        ("not a dsn", "not a valid libpq DSN"),
    ],
)
def test_bad_dsns_are_config_errors_without_the_password(dsn: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_source_dsn(dsn)
    assert ":pw@" not in str(caught.value)


def test_engine_properties_pin_the_event_shape(tmp_path: Path) -> None:
    catalog = load_catalog()
    properties = engine_properties(catalog, SOURCE, tmp_path, DebeziumOptions())
    assert properties["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert properties["plugin.name"] == "pgoutput"
    assert properties["topic.prefix"] == catalog.connector_name  # Debezium writes it to source.name
    assert (properties["slot.name"], properties["publication.name"]) == ("cdc_debezium", "cdc_debezium_pub")
    assert properties["decimal.handling.mode"] == "precise"
    assert properties["time.precision.mode"] == "adaptive"
    assert properties["tombstones.on.delete"] == "true"
    assert properties["snapshot.mode"] == "initial"
    assert properties["key.converter.schemas.enable"] == properties["value.converter.schemas.enable"] == "true"
    assert properties["offset.storage"] == "org.apache.kafka.connect.storage.FileOffsetBackingStore"
    assert properties["offset.storage.file.filename"] == str(tmp_path / "offsets.dat")
    assert int(properties["offset.flush.interval.ms"]) <= 1000
    assert (properties["database.hostname"], properties["database.port"]) == ("db.local", "6543")
    assert (properties["database.user"], properties["database.password"]) == ("cdc", "s3cret")
    assert properties["database.dbname"] == "retail"
    assert "database.sslmode" not in properties
    assert all(isinstance(value, str) for value in properties.values())


def test_include_list_is_anchored_regexes_of_catalog_tables() -> None:
    catalog = load_catalog()
    patterns = include_list(catalog).split(",")
    assert patterns[0] == r"public\.customer"
    assert len(patterns) == len(catalog.tables)
    for table in catalog.tables:
        assert any(re.fullmatch(pattern, table.qualified_name) for pattern in patterns)
    assert not any(re.fullmatch(pattern, "publicXcustomer") for pattern in patterns)


def test_options_override_names_and_extra_properties(tmp_path: Path) -> None:
    options = DebeziumOptions(slot_name="dbz_a", publication_name="dbz_a_pub", extra={"snapshot.fetch.size": "500"})
    source = SourceConnection("h", 1, "u", "p", "d", sslmode="verify-full")
    properties = engine_properties(load_catalog(), source, tmp_path, options)
    assert (properties["slot.name"], properties["publication.name"]) == ("dbz_a", "dbz_a_pub")
    assert properties["snapshot.fetch.size"] == "500"
    assert properties["database.sslmode"] == "verify-full"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slot_name": "Bad-Name"}, "slot name"),
        ({"publication_name": ""}, "publication name"),
        ({"slot_name": "same", "publication_name": "same"}, "different names"),
        ({"max_batch_size": 10, "max_queue_size": 10}, "queue size"),
        ({"poll_interval_ms": 0}, "poll interval"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DebeziumOptions(**kwargs)  # type: ignore[arg-type]


def test_sqlserver_catalog_is_refused_with_a_pointer_to_the_docs(tmp_path: Path) -> None:
    raw = {
        "topic_prefix": "retail",
        "database": "retail",
        "source_schema": "dbo",
        "connector": "sqlserver",
        "connector_name": "retail",
        "tables": {"t": {"role": "fact", "primary_key": ["id"], "columns": [{"name": "id", "type": "int64"}]}},
    }
    catalog = parse_catalog(raw, Path("x.toml"))
    with pytest.raises(ConfigError, match="sqlserver-capture"):
        engine_properties(catalog, SOURCE, tmp_path)
    assert debezium_topic(catalog, catalog.tables[0]) == "retail.retail.dbo.t"


def test_debezium_topic_for_postgres() -> None:
    catalog = load_catalog()
    assert debezium_topic(catalog, catalog.table("orders")) == "retail.public.orders"


def test_redacted_hides_the_password(tmp_path: Path) -> None:
    properties = redacted(engine_properties(load_catalog(), SOURCE, tmp_path))
    assert properties["database.password"] == "***"
    assert "s3cret" not in str(properties)


def test_log4j_configuration_is_stderr_only() -> None:
    text = log4j_properties("WARN")
    assert "rootLogger.level = WARN" in text
    assert "SYSTEM_ERR" in text
    assert "RollingFile" not in text
    assert "fileName" not in text
