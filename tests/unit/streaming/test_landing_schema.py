"""Landing columns derived from Debezium envelope schemas: types, conversions, metadata per connector, errors."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa
import pytest

from common.errors import SchemaError
from schemas.catalog import Column
from schemas.debezium import envelope_schema, schema_for_columns
from streaming.landing_schema import (
    PARTITION_COLUMNS,
    RECORD_KIND,
    LandingColumn,
    column_of,
    landing_schema,
)
from tests.unit.streaming.records import CATALOG, EVERY_TYPE

POSTGRES_METADATA = (
    "_op",
    "_source_ts",
    "_lsn",
    "_tx_id",
    "_snapshot",
    "_schema_id",
    "_kafka_topic",
    "_kafka_partition",
    "_kafka_offset",
    "_kafka_timestamp",
    "_ingested_at",
)
SQLSERVER_METADATA = (
    "_op",
    "_source_ts",
    "_commit_lsn",
    "_change_lsn",
    "_event_serial_no",
    "_tx_id",
    "_snapshot",
    "_schema_id",
    "_kafka_topic",
    "_kafka_partition",
    "_kafka_offset",
    "_kafka_timestamp",
    "_ingested_at",
)


def _value_record(envelope: dict[str, Any]) -> dict[str, Any]:
    before = next(f for f in envelope["fields"] if f["name"] == "before")
    return next(branch for branch in before["type"] if branch != "null")


def test_every_catalog_type_maps_to_its_kind_conversion_and_types() -> None:
    landing = landing_schema(envelope_schema(EVERY_TYPE))

    described = {c.name: (c.kind, c.conversion, str(c.arrow_type), c.spark_type) for c in landing.row}

    assert described == {
        "id": ("long", "plain", "int64", "BIGINT"),
        "small": ("short", "int16", "int16", "SMALLINT"),
        "medium": ("int", "plain", "int32", "INT"),
        "label": ("string", "plain", "string", "STRING"),
        "body": ("string", "plain", "string", "STRING"),
        "flag": ("boolean", "plain", "bool", "BOOLEAN"),
        "ratio": ("double", "plain", "double", "DOUBLE"),
        "price": ("decimal", "decimal", "decimal128(5, 2)", "DECIMAL(5,2)"),
        "born": ("date", "date", "date32[day]", "DATE"),
        "seen_at": ("timestamp_ntz", "micros", "timestamp[us]", "TIMESTAMP_NTZ"),
        "zoned_at": ("timestamp", "zoned", "timestamp[us, tz=UTC]", "TIMESTAMP"),
        "token": ("string", "plain", "string", "STRING"),
        "doc": ("string", "plain", "string", "STRING"),
    }
    assert landing.row_names == tuple(c.name for c in EVERY_TYPE.columns)


def test_decimal_column_keeps_precision_and_scale() -> None:
    landing = landing_schema(envelope_schema(CATALOG.table("orders")))

    total = next(c for c in landing.row if c.name == "total_amount")

    assert (total.precision, total.scale) == (12, 2)
    assert total.arrow_type == pa.decimal128(12, 2)


@pytest.mark.parametrize("table", [t.name for t in CATALOG.tables])
def test_catalog_tables_land_their_columns_then_postgres_metadata_then_partitions(table: str) -> None:
    catalog_table = CATALOG.table(table)

    landing = landing_schema(envelope_schema(catalog_table))

    assert landing.connector == "postgresql"
    assert landing.row_names == tuple(c.name for c in catalog_table.columns)
    assert tuple(c.name for c in landing.metadata) == POSTGRES_METADATA
    assert tuple(c.name for c in landing.partitions) == PARTITION_COLUMNS == ("year", "month", "day", "hour")
    assert landing.arrow_schema().names == [*landing.row_names, *POSTGRES_METADATA, *PARTITION_COLUMNS]


def test_postgres_metadata_types() -> None:
    landing = landing_schema(envelope_schema(CATALOG.table("orders")))

    types = {c.name: c.arrow_type for c in (*landing.metadata, *landing.partitions)}

    utc = pa.timestamp("us", tz="UTC")
    assert types == {
        "_op": pa.string(),
        "_source_ts": utc,
        "_lsn": pa.int64(),
        "_tx_id": pa.string(),
        "_snapshot": pa.bool_(),
        "_schema_id": pa.int32(),
        "_kafka_topic": pa.string(),
        "_kafka_partition": pa.int32(),
        "_kafka_offset": pa.int64(),
        "_kafka_timestamp": utc,
        "_ingested_at": utc,
        "year": pa.int32(),
        "month": pa.int32(),
        "day": pa.int32(),
        "hour": pa.int32(),
    }


def test_sqlserver_envelope_gets_sqlserver_position_columns() -> None:
    landing = landing_schema(envelope_schema(CATALOG.table("orders"), connector="sqlserver"))

    assert landing.connector == "sqlserver"
    assert tuple(c.name for c in landing.metadata) == SQLSERVER_METADATA
    types = {c.name: c.spark_type for c in landing.metadata}
    assert types["_commit_lsn"] == "STRING"
    assert types["_change_lsn"] == "STRING"
    assert types["_event_serial_no"] == "BIGINT"


def test_arrow_schema_with_kind_appends_the_record_kind_last() -> None:
    landing = landing_schema(envelope_schema(CATALOG.table("payment")))

    plain = landing.arrow_schema()
    with_kind = landing.arrow_schema(with_kind=True)

    assert RECORD_KIND == "_record_kind"
    assert with_kind.names == [*plain.names, RECORD_KIND]
    assert with_kind.field(RECORD_KIND).type == pa.string()
    assert RECORD_KIND not in plain.names


def test_spark_ddl_matches_the_arrow_schema_column_for_column() -> None:
    landing = landing_schema(envelope_schema(CATALOG.table("payment")))

    ddl = landing.spark_ddl(with_kind=True)

    assert ddl.startswith(
        "`payment_id` BIGINT, `order_id` BIGINT, `method` STRING, `amount` DECIMAL(12,2), `status` STRING, "
        "`paid_at` TIMESTAMP_NTZ, `_op` STRING, `_source_ts` TIMESTAMP, `_lsn` BIGINT, `_tx_id` STRING, "
        "`_snapshot` BOOLEAN, `_schema_id` INT, "
    )
    assert ddl.endswith("`year` INT, `month` INT, `day` INT, `hour` INT, `_record_kind` STRING")
    names = [part.split("`")[1] for part in ddl.split(", ")]
    assert names == landing.arrow_schema(with_kind=True).names
    assert landing.spark_ddl().endswith("`hour` INT")
    assert RECORD_KIND not in landing.spark_ddl()


def test_a_column_added_at_the_source_appears_in_the_landing_columns() -> None:
    orders = CATALOG.table("orders")
    columns = (*orders.columns, Column(name="coupon", type="varchar(20)", nullable=True))

    landing = landing_schema(schema_for_columns(orders, columns))

    assert landing.row_names[-1] == "coupon"
    assert landing.row[-1] == LandingColumn("coupon", "string")


@pytest.mark.parametrize(
    ("avro", "kind", "conversion", "arrow"),
    [
        ("int", "int", "plain", pa.int32()),
        ("long", "long", "plain", pa.int64()),
        ("float", "float", "plain", pa.float32()),
        ("double", "double", "plain", pa.float64()),
        ("boolean", "boolean", "plain", pa.bool_()),
        ("string", "string", "plain", pa.string()),
        ("bytes", "binary", "plain", pa.binary()),
        (["null", "long"], "long", "plain", pa.int64()),
        (["string", "null"], "string", "plain", pa.string()),
        ({"type": "long"}, "long", "plain", pa.int64()),
        ({"type": "int", "connect.name": "io.debezium.time.Date"}, "date", "date", pa.date32()),
        ({"type": "int", "connect.name": "org.apache.kafka.connect.data.Date"}, "date", "date", pa.date32()),
        ({"type": "long", "connect.name": "io.debezium.time.Timestamp"}, "timestamp_ntz", "millis", pa.timestamp("us")),
        (
            {"type": "long", "connect.name": "org.apache.kafka.connect.data.Timestamp"},
            "timestamp_ntz",
            "millis",
            pa.timestamp("us"),
        ),
        (
            {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"},
            "timestamp_ntz",
            "micros",
            pa.timestamp("us"),
        ),
        (
            {"type": "long", "connect.name": "io.debezium.time.NanoTimestamp"},
            "timestamp_ntz",
            "nanos",
            pa.timestamp("us"),
        ),
        (
            {"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"},
            "timestamp",
            "zoned",
            pa.timestamp("us", tz="UTC"),
        ),
        ({"type": "int", "connect.name": "io.debezium.time.Time"}, "int", "plain", pa.int32()),
        ({"type": "long", "connect.name": "io.debezium.time.MicroTime"}, "long", "plain", pa.int64()),
        ({"type": "long", "connect.name": "io.debezium.time.NanoTime"}, "long", "plain", pa.int64()),
        ({"type": "string", "connect.name": "io.debezium.data.Uuid"}, "string", "plain", pa.string()),
        ({"type": "int", "connect.type": "int16"}, "short", "int16", pa.int16()),
        ({"type": "int", "connect.type": "int8"}, "short", "int16", pa.int16()),
        ({"type": "enum", "name": "Mood", "symbols": ["happy", "sad"]}, "string", "enum", pa.string()),
    ],
)
def test_column_of_maps_avro_and_connect_types(avro: Any, kind: str, conversion: str, arrow: pa.DataType) -> None:
    column = column_of("c", avro)

    assert (column.name, column.kind, column.conversion) == ("c", kind, conversion)
    assert column.arrow_type == arrow


def test_column_of_decimal_defaults_to_precision_38_scale_0() -> None:
    column = column_of("d", {"type": "bytes", "logicalType": "decimal"})

    assert (column.kind, column.conversion, column.precision, column.scale) == ("decimal", "decimal", 38, 0)
    assert column.spark_type == "DECIMAL(38,0)"
    assert column.arrow_type == pa.decimal128(38, 0)


def test_decimal_logical_type_wins_over_connect_name() -> None:
    avro = {"type": "bytes", "logicalType": "decimal", "precision": 7, "scale": 3, "connect.name": "x"}

    assert column_of("d", avro) == LandingColumn("d", "decimal", "decimal", 7, 3)


@pytest.mark.parametrize(
    ("avro", "message"),
    [
        ("null", "field 'c': unsupported Avro type 'null'"),
        ("fixed", "field 'c': unsupported Avro type 'fixed'"),
        ({"type": "array", "items": "int"}, "field 'c': unsupported Avro type"),
        ({"type": "map", "values": "int"}, "field 'c': unsupported Avro type"),
        ({"type": "record", "name": "R", "fields": []}, "field 'c': unsupported Avro type"),
        (["null", "int", "string"], "has more than one non-null branch"),
        (["int", "string"], "has more than one non-null branch"),
        (42, "field 'c': unsupported Avro type 42"),
    ],
)
def test_column_of_rejects_what_cannot_land(avro: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace("[", r"\[")):
        column_of("c", avro)


def test_a_schema_that_is_not_an_envelope_is_refused() -> None:
    schema = envelope_schema(CATALOG.table("orders"))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "op"]

    with pytest.raises(SchemaError, match=r"retail\.orders\.cdc.*is not a Debezium envelope"):
        landing_schema({**schema, "name": "retail.orders.cdc"})


def test_an_envelope_whose_before_is_not_a_record_is_refused() -> None:
    schema = envelope_schema(CATALOG.table("orders"))
    schema["fields"][0] = {"name": "before", "type": ["null", "string"], "default": None}

    with pytest.raises(SchemaError, match="'before' field is not a record"):
        landing_schema(schema)


@pytest.mark.parametrize("name", ["_op", "_lsn", "_kafka_offset", "_ingested_at", "year", "hour"])
def test_source_columns_clashing_with_metadata_or_partitions_are_refused(name: str) -> None:
    schema = envelope_schema(CATALOG.table("orders"))
    value = _value_record(schema)
    value["fields"].append({"name": name, "type": "long"})

    with pytest.raises(SchemaError, match=f"source column\\(s\\) {name} clash"):
        landing_schema(schema)


def test_a_sqlserver_position_name_only_clashes_on_sqlserver() -> None:
    postgres = envelope_schema(CATALOG.table("orders"))
    _value_record(postgres)["fields"].append({"name": "_commit_lsn", "type": "string"})
    sqlserver = envelope_schema(CATALOG.table("orders"), connector="sqlserver")
    _value_record(sqlserver)["fields"].append({"name": "_commit_lsn", "type": "string"})

    assert landing_schema(copy.deepcopy(postgres)).row_names[-1] == "_commit_lsn"
    with pytest.raises(SchemaError, match="_commit_lsn clash"):
        landing_schema(sqlserver)


def test_landing_schema_is_a_pure_function_of_the_schema() -> None:
    schema = envelope_schema(CATALOG.table("customer"))
    before = copy.deepcopy(schema)

    assert landing_schema(schema) == landing_schema(schema)
    assert schema == before
