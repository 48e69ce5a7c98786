"""Key/Envelope schemas match Debezium + Confluent AvroConverter output, parse, round-trip, stay committed."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from common.errors import SchemaError
from schemas import debezium, generate
from schemas.avro_types import parse_type
from schemas.catalog import Catalog, Column, Table, load_catalog

pytestmark = pytest.mark.unit

EPOCH = datetime(1970, 1, 1)

ALL_TYPES = """
topic_prefix = "lab"
database = "lab"
source_schema = "public"
connector_name = "lab"

[tables.every_type]
role = "reference"
primary_key = ["id"]
columns = [
  { name = "id", type = "int64" },
  { name = "small", type = "int16" },
  { name = "medium", type = "int32", nullable = true },
  { name = "short_text", type = "string" },
  { name = "code", type = "varchar(8)" },
  { name = "long_text", type = "text", nullable = true },
  { name = "flag", type = "boolean" },
  { name = "ratio", type = "float64" },
  { name = "amount", type = "decimal(18,4)" },
  { name = "day", type = "date" },
  { name = "at", type = "timestamp" },
  { name = "at_tz", type = "timestamptz", nullable = true },
  { name = "ref", type = "uuid" },
  { name = "doc", type = "json", nullable = true },
]
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def every_type(tmp_path_factory: pytest.TempPathFactory) -> Table:
    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    path.write_text(ALL_TYPES, encoding="utf-8")
    return load_catalog(path).table("every_type")


def fields_of(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in schema["fields"]}


def micros(moment: datetime) -> int:
    """io.debezium.time.MicroTimestamp: microseconds since the epoch, wall clock, no zone shift."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def days(day: date) -> int:
    """io.debezium.time.Date: days since the epoch."""
    return (day - EPOCH.date()).days


def all_schemas(catalog: Catalog) -> list[dict[str, Any]]:
    schemas: list[dict[str, Any]] = []
    for table in catalog.tables:
        schemas += [debezium.key_schema(table), debezium.value_schema(table), debezium.envelope_schema(table)]
        schemas.append(debezium.envelope_schema(table, connector="sqlserver"))
    return schemas


def roundtrip(schema: dict[str, Any], record: dict[str, Any]) -> Any:
    parsed = fastavro.parse_schema(schema)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, parsed, parsed)


def source_block(table: Table, **overrides: Any) -> dict[str, Any]:
    block = {
        "version": "3.0.0.Final",
        "connector": "postgresql",
        "name": "retail",
        "ts_ms": 1_700_000_000_123,
        "snapshot": "false",
        "db": "retail",
        "sequence": '["24023119","24023128"]',
        "ts_us": 1_700_000_000_123_456,
        "ts_ns": 1_700_000_000_123_456_000,
        "schema": table.source_schema,
        "table": table.name,
        "txId": 555,
        "lsn": 24023128,
        "xmin": None,
    }
    return {**block, **overrides}


# ── names, namespaces and subjects ──────────────────────────────────────────────────────────────────────


def test_record_names_use_the_topic_as_namespace(catalog: Catalog) -> None:
    customer = catalog.table("customer")
    key, value, envelope = (
        debezium.key_schema(customer),
        debezium.value_schema(customer),
        debezium.envelope_schema(customer),
    )
    assert (key["name"], key["namespace"], key["connect.name"]) == (
        "Key",
        "retail.customer.cdc",
        "retail.customer.cdc.Key",
    )
    assert (value["name"], value["namespace"]) == ("Value", "retail.customer.cdc")
    assert value["connect.name"] == "retail.customer.cdc.Value"
    assert (envelope["name"], envelope["namespace"]) == ("Envelope", "retail.customer.cdc")
    assert envelope["connect.name"] == "retail.customer.cdc.Envelope"
    assert envelope["connect.version"] == 2
    assert avro.schema.parse(json.dumps(key)).fullname == "retail.customer.cdc.Key"
    assert avro.schema.parse(json.dumps(envelope)).fullname == "retail.customer.cdc.Envelope"


def test_subjects_follow_topic_name_strategy(catalog: Catalog) -> None:
    assert debezium.subject_names(catalog.table("order_item")) == (
        "retail.order_item.cdc-key",
        "retail.order_item.cdc-value",
    )


def test_key_has_exactly_the_primary_key_in_key_order(catalog: Catalog) -> None:
    for table in catalog.tables:
        key = debezium.key_schema(table)
        assert [item["name"] for item in key["fields"]] == list(table.primary_key)
        assert all(not isinstance(item["type"], list) for item in key["fields"])  # key columns are NOT NULL
    assert debezium.key_schema(catalog.table("order_item"))["fields"] == [
        {"name": "order_id", "type": "long"},
        {"name": "line_no", "type": "int"},
    ]


def test_value_has_every_column_in_source_order(catalog: Catalog) -> None:
    for table in catalog.tables:
        assert [item["name"] for item in debezium.value_schema(table)["fields"]] == [c.name for c in table.columns]


# ── envelope and source block ───────────────────────────────────────────────────────────────────────────


def test_envelope_field_order_and_types(catalog: Catalog) -> None:
    envelope = debezium.envelope_schema(catalog.table("payment"))
    fields = envelope["fields"]
    assert [item["name"] for item in fields] == [
        "before",
        "after",
        "source",
        "transaction",
        "op",
        "ts_ms",
        "ts_us",
        "ts_ns",
    ]
    before, after, source, transaction, op, *timestamps = fields
    assert before["type"][0] == "null" and before["default"] is None
    value = before["type"][1]
    assert value["name"] == "Value" and "namespace" not in value  # inherits retail.payment.cdc
    assert value["connect.name"] == "retail.payment.cdc.Value"
    assert after == {"name": "after", "type": ["null", "Value"], "default": None}
    assert source["type"] == debezium.source_schema("postgresql")
    assert transaction == {
        "name": "transaction",
        "type": ["null", debezium.transaction_schema()],
        "default": None,
    }
    assert op == {"name": "op", "type": "string"}
    for name, item in zip(("ts_ms", "ts_us", "ts_ns"), timestamps, strict=True):
        assert item == {"name": name, "type": ["null", "long"], "default": None}


def test_transaction_block() -> None:
    assert debezium.transaction_schema() == {
        "type": "record",
        "name": "block",
        "namespace": "event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"},
        ],
        "connect.version": 1,
        "connect.name": "event.block",
    }


COMMON_SOURCE = [
    ("version", "string"),
    ("connector", "string"),
    ("name", "string"),
    ("ts_ms", "long"),
    ("snapshot", "enum"),
    ("db", "string"),
    ("sequence", ["null", "string"]),
    ("ts_us", ["null", "long"]),
    ("ts_ns", ["null", "long"]),
]


def _shape(item: dict[str, Any]) -> tuple[str, Any]:
    return item["name"], "enum" if item["name"] == "snapshot" else item["type"]


def test_postgresql_source_block() -> None:
    source = debezium.source_schema("postgresql")
    assert (source["name"], source["namespace"]) == ("Source", "io.debezium.connector.postgresql")
    assert source["connect.name"] == "io.debezium.connector.postgresql.Source"
    assert source["connect.version"] == 1
    assert [_shape(item) for item in source["fields"]] == [
        *COMMON_SOURCE,
        ("schema", "string"),
        ("table", "string"),
        ("txId", ["null", "long"]),
        ("lsn", ["null", "long"]),
        ("xmin", ["null", "long"]),
    ]
    assert all(item["default"] is None for item in source["fields"] if item["type"][0] == "null")


def test_sqlserver_source_block() -> None:
    source = debezium.source_schema("sqlserver")
    assert source["connect.name"] == "io.debezium.connector.sqlserver.Source"
    assert source["namespace"] == "io.debezium.connector.sqlserver"
    assert [_shape(item) for item in source["fields"]] == [
        *COMMON_SOURCE,
        ("schema", "string"),
        ("table", "string"),
        ("change_lsn", ["null", "string"]),
        ("commit_lsn", ["null", "string"]),
        ("event_serial_no", ["null", "long"]),
    ]


def test_unknown_connector_is_refused() -> None:
    with pytest.raises(SchemaError, match="unknown connector 'mysql'"):
        debezium.source_schema("mysql")  # type: ignore[arg-type]


ALLOWED_SNAPSHOT = "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"


def test_snapshot_is_an_optional_enum_defaulting_to_false() -> None:
    assert debezium.snapshot_field() == {
        "name": "snapshot",
        "type": [
            {
                "type": "string",
                "connect.version": 1,
                "connect.parameters": {"allowed": ALLOWED_SNAPSHOT},
                "connect.default": "false",
                "connect.name": "io.debezium.data.Enum",
            },
            "null",
        ],
        "default": "false",
    }


# ── column encodings ────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("type_name", "avro_type", "postgres"),
    [
        ("int16", {"type": "int", "connect.type": "int16"}, "smallint"),
        ("int32", "int", "integer"),
        ("int64", "long", "bigint"),
        ("string", "string", "varchar"),
        ("varchar(8)", "string", "varchar(8)"),
        ("text", "string", "text"),
        ("boolean", "boolean", "boolean"),
        ("float64", "double", "double precision"),
        (
            "decimal(12,2)",
            {
                "type": "bytes",
                "scale": 2,
                "precision": 12,
                "connect.version": 1,
                "connect.parameters": {"scale": "2", "connect.decimal.precision": "12"},
                "connect.name": "org.apache.kafka.connect.data.Decimal",
                "logicalType": "decimal",
            },
            "numeric(12,2)",
        ),
        ("date", {"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"}, "date"),
        (
            "timestamp",
            {"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestamp"},
            "timestamp(6)",
        ),
        (
            "timestamptz",
            {"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTimestamp"},
            "timestamptz(6)",
        ),
        ("uuid", {"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Uuid"}, "uuid"),
        ("json", {"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Json"}, "jsonb"),
    ],
)
def test_encoding_per_type(type_name: str, avro_type: Any, postgres: str) -> None:
    column = Column(name="c", type=type_name)
    assert column.avro_type == avro_type
    assert column.postgres_type == postgres
    assert column.avro_field() == {"name": "c", "type": avro_type}
    nullable = Column(name="c", type=type_name, nullable=True)
    assert nullable.avro_field() == {"name": "c", "type": ["null", avro_type], "default": None}


def test_every_type_table_uses_the_same_encodings(every_type: Table) -> None:
    value = fields_of(debezium.value_schema(every_type))
    for column in every_type.columns:
        assert value[column.name] == column.avro_field()
        expected = ["null", column.avro_type] if column.nullable else column.avro_type
        assert value[column.name]["type"] == expected


def test_nullable_columns_are_unions_with_null_default(catalog: Catalog) -> None:
    value = fields_of(debezium.value_schema(catalog.table("shipment")))
    assert value["tracking_no"] == {"name": "tracking_no", "type": ["null", "string"], "default": None}
    assert value["shipped_at"]["type"][0] == "null" and value["shipped_at"]["default"] is None
    assert value["carrier"] == {"name": "carrier", "type": "string"}


def test_parse_type_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown type 'money'"):
        parse_type("money")


# ── parsing and round trips ─────────────────────────────────────────────────────────────────────────────


def test_every_schema_parses_with_fastavro_and_apache_avro(catalog: Catalog, every_type: Table) -> None:
    schemas = [*all_schemas(catalog), debezium.envelope_schema(every_type), debezium.key_schema(every_type)]
    for schema in schemas:
        fastavro.parse_schema(schema)
        parsed = avro.schema.parse(json.dumps(schema))
        assert parsed.fullname == schema["connect.name"]


def test_after_refers_to_the_value_record_defined_in_before(catalog: Catalog) -> None:
    parsed = avro.schema.parse(json.dumps(debezium.envelope_schema(catalog.table("orders"))))
    before, after = parsed.fields_dict["before"].type.schemas[1], parsed.fields_dict["after"].type.schemas[1]
    assert before.fullname == after.fullname == "retail.orders.cdc.Value"


def test_product_envelope_round_trips_with_decimals(catalog: Catalog) -> None:
    product = catalog.table("product")
    row = {
        "product_id": 9_000_000_001,
        "sku": "SKU-1",
        "name": "Kettle",
        "description": None,
        "category": "kitchen",
        "subcategory": "appliances",
        "brand": None,
        "unit_price": Decimal("49.99"),
        "cost": Decimal("-0.01"),
        "active": True,
        "created_at": micros(datetime(2024, 1, 2, 3, 4, 5, 678901)),
        "updated_at": micros(datetime(2024, 1, 2, 3, 4, 5, 678902)),
    }
    event = {
        "before": {**row, "unit_price": Decimal("59.99")},
        "after": row,
        "source": source_block(product),
        "transaction": {"id": "555:24023128", "total_order": 3, "data_collection_order": 1},
        "op": "u",
        "ts_ms": 1_700_000_000_456,
        "ts_us": None,
        "ts_ns": None,
    }
    decoded = roundtrip(debezium.envelope_schema(product), event)
    assert decoded == event
    assert isinstance(decoded["after"]["unit_price"], Decimal)
    assert decoded["after"]["created_at"] == 1_704_164_645_678_901


def test_customer_delete_round_trips_with_dates_and_nulls(catalog: Catalog) -> None:
    customer = catalog.table("customer")
    row = {
        "customer_id": 42,
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": None,
        "birth_date": days(date(1815, 12, 10)),
        "segment": "consumer",
        "address_line1": "1 St James's Square",
        "city": "London",
        "state": "LDN",
        "postal_code": "SW1Y 4JU",
        "country": "GB",
        "loyalty_tier": None,
        "created_at": micros(datetime(2020, 5, 1)),
        "updated_at": micros(datetime(2024, 5, 1)),
    }
    event = {
        "before": row,
        "after": None,
        "source": source_block(customer, snapshot=None, sequence=None, txId=None),
        "transaction": None,
        "op": "d",
        "ts_ms": None,
        "ts_us": None,
        "ts_ns": None,
    }
    decoded = roundtrip(debezium.envelope_schema(customer), event)
    assert decoded == event
    assert decoded["before"]["birth_date"] == -56_270  # before the epoch: negative days
    key = {"customer_id": 42}
    assert roundtrip(debezium.key_schema(customer), key) == key


def test_snapshot_default_is_false_for_readers_of_older_data(catalog: Catalog) -> None:
    """A reader resolving a writer without `snapshot` gets the Connect default "false"."""
    source = debezium.source_schema()
    writer = {**source, "fields": [item for item in source["fields"] if item["name"] != "snapshot"]}
    record = {k: v for k, v in source_block(catalog.table("orders")).items() if k != "snapshot"}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), record)
    buffer.seek(0)
    decoded: Any = fastavro.schemaless_reader(buffer, fastavro.parse_schema(writer), fastavro.parse_schema(source))
    assert decoded["snapshot"] == "false"


def test_every_type_round_trips(every_type: Table) -> None:
    row = {
        "id": 1,
        "small": -32768,
        "medium": None,
        "short_text": "é",
        "code": "ABC",
        "long_text": "x" * 1000,
        "flag": False,
        "ratio": 0.25,
        "amount": Decimal("12345678901234.5678"),
        "day": days(date(2024, 2, 29)),
        "at": micros(datetime(2024, 2, 29, 23, 59, 59, 999999)),
        "at_tz": "2024-02-29T23:59:59.999999Z",
        "ref": "2f1b6c1e-8f7a-4c55-9c59-3f0e7a1d2b3c",
        "doc": '{"a": [1, 2]}',
    }
    event = {
        "before": None,
        "after": row,
        "source": source_block(every_type, snapshot="first"),
        "transaction": None,
        "op": "r",
        "ts_ms": 1,
        "ts_us": 1000,
        "ts_ns": 1_000_000,
    }
    assert roundtrip(debezium.envelope_schema(every_type), event) == event


# ── schema evolution support ────────────────────────────────────────────────────────────────────────────


def _compatibility(reader: dict[str, Any], writer: dict[str, Any]) -> SchemaCompatibilityType:
    checker = ReaderWriterCompatibilityChecker()
    result = checker.get_compatibility(avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer)))
    return result.compatibility


def test_added_nullable_column_gives_a_backward_compatible_envelope(catalog: Catalog) -> None:
    customer = catalog.table("customer")
    old = debezium.envelope_schema(customer)
    added = Column(name="marketing_opt_in", type="boolean", nullable=True)
    new = debezium.schema_for_columns(customer, [*customer.columns, added])
    assert fields_of(new["fields"][0]["type"][1])["marketing_opt_in"] == {
        "name": "marketing_opt_in",
        "type": ["null", "boolean"],
        "default": None,
    }
    assert _compatibility(reader=new, writer=old) is SchemaCompatibilityType.compatible
    required = debezium.schema_for_columns(customer, [*customer.columns, Column(name="tier2", type="string")])
    assert _compatibility(reader=required, writer=old) is SchemaCompatibilityType.incompatible


def test_schema_for_columns_keeps_the_key(catalog: Catalog) -> None:
    order_item = catalog.table("order_item")
    with pytest.raises(SchemaError, match="key column 'line_no' must stay as declared"):
        debezium.schema_for_columns(order_item, [c for c in order_item.columns if c.name != "line_no"])
    changed = [Column(name="line_no", type="int64") if c.name == "line_no" else c for c in order_item.columns]
    with pytest.raises(SchemaError, match="key column 'line_no'"):
        debezium.schema_for_columns(order_item, changed)
    assert debezium.schema_for_columns(order_item, order_item.columns) == debezium.envelope_schema(order_item)


# ── committed .avsc files ───────────────────────────────────────────────────────────────────────────────


def test_committed_avsc_files_match_the_catalog(catalog: Catalog) -> None:
    stale = generate.diff_committed(catalog, generate.DEFAULT_DIRECTORY)
    assert stale == [], f"run `python -m schemas.generate`; stale: {stale}"
    expected = generate.render_all(catalog)
    assert sorted(expected) == sorted(path.name for path in generate.DEFAULT_DIRECTORY.glob("*.avsc"))


def test_render_all_names_and_format(catalog: Catalog) -> None:
    files = generate.render_all(catalog)
    assert len(files) == 2 * len(catalog.tables)
    text = files["retail.customer.cdc-key.avsc"]
    assert text.endswith("}\n") and text.startswith('{\n  "type": "record",\n  "name": "Key",')
    assert json.loads(files["retail.customer.cdc-value.avsc"]) == debezium.envelope_schema(catalog.table("customer"))
    assert generate.render_all(catalog) == files  # deterministic


def test_write_check_and_cleanup(tmp_path: Path, catalog: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(generate.diff_committed(catalog, tmp_path)) == 2 * len(catalog.tables)  # all missing
    assert len(generate.write_all(catalog, tmp_path)) == 2 * len(catalog.tables)
    assert generate.diff_committed(catalog, tmp_path) == []
    assert generate.write_all(catalog, tmp_path) == []  # unchanged files are not rewritten

    (tmp_path / "retail.orders.cdc-value.avsc").write_text("{}\n", encoding="utf-8")
    (tmp_path / "retail.gone.cdc-key.avsc").write_text("{}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("kept\n", encoding="utf-8")
    assert generate.diff_committed(catalog, tmp_path) == [
        "retail.orders.cdc-value.avsc",
        "retail.gone.cdc-key.avsc",
    ]
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "retail.orders.cdc-value.avsc: differs from the catalog" in out[0]
    assert "retail.gone.cdc-key.avsc: not in the catalog" in out[1]

    assert generate.main(["--out", str(tmp_path)]) == 0
    assert generate.main(["--check", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "retail.gone.cdc-key.avsc").exists()
    assert (tmp_path / "notes.txt").exists()


def test_cli_reports_a_bad_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("topic_prefix = 1\n", encoding="utf-8")
    assert generate.main(["--check", "--catalog", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.toml: invalid catalog" in capsys.readouterr().err
