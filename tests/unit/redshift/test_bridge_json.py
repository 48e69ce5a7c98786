"""The JSON bridge's pure core: every catalog type's JSON form, envelopes, keys, tombstones, dead letters."""

from __future__ import annotations

import datetime as dt
import json
import random
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from common.errors import ServiceUnavailableError
from producers.encoding import AvroEncoder, EnvelopeEncoder
from redshift.bridge.decoding import WriterSchemas, decode, to_json
from redshift.bridge.json_encoding import JsonEncoder, JsonEncodingError, envelope_json, key_json
from redshift.bridge.records import SourceRecord, bridge_record
from schemas.avro_types import TYPE_NAMES
from schemas.catalog import Catalog, Table, load_catalog, parse_catalog
from schemas.debezium import envelope_schema, key_schema
from schemas.envelope import Operation, PostgresPosition, build_envelope, postgres_source
from schemas.framing import frame

pytestmark = pytest.mark.unit

ALL_TYPES = """
topic_prefix = "lab"
database = "lab"
source_schema = "public"
connector_name = "lab"

[tables.every_type]
role = "reference"
primary_key = ["id", "small"]
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
EPOCH = dt.datetime(1970, 1, 1)
DEBEZIUM_DATE = {"type": "int", "connect.name": "io.debezium.time.Date"}
Row = dict[str, Any]
KEY_ID, VALUE_ID = 11, 12
SOURCE_TOPIC = "lab.every_type.cdc"


@pytest.fixture(scope="module")
def table() -> Table:
    return parse_catalog(tomllib.loads(ALL_TYPES), Path("all-types.toml")).table("every_type")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def micros(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def days(value: dt.date) -> int:
    return (value - dt.date(1970, 1, 1)).days


def row(**changes: Any) -> dict[str, Any]:
    """A row of every_type in Debezium's encodings (what capture hands to Avro)."""
    values: dict[str, Any] = {
        "id": 42,
        "small": -7,
        "medium": None,
        "short_text": 'héllo "quoted" \\ ✓',
        "code": "AB-1",
        "long_text": None,
        "flag": True,
        "ratio": 0.25,
        "amount": Decimal("1234.5000"),
        "day": days(dt.date(2026, 11, 22)),
        "at": micros(dt.datetime(2026, 11, 22, 10, 30, 0, 120000)),
        "at_tz": "2026-11-22T10:30:00.123456Z",
        "ref": "3f1c1a6e-2b4f-4a53-9a0e-2c8b9c6d7e8f",
        "doc": '{"a": [1, 2]}',
    }
    values.update(changes)
    return values


def source(table: str = "every_type", lsn: int = 1000) -> dict[str, Any]:
    position = PostgresPosition(lsn=lsn, tx_id=77, commit_ts_us=1_795_000_000_123_456, last_commit_lsn=900)
    return postgres_source(connector_name="lab", database="lab", schema="public", table=table, position=position)


def envelope(op: Operation = "u", before: Row | None = None, after: Row | None = None) -> Row:
    return build_envelope(op, before=before, after=after, source=source(), processed_at_us=1_795_000_000_200_000)


def after_json(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    encoded = envelope_json(envelope("c", after=values), envelope_schema(table))
    assert encoded is not None
    return dict(json.loads(encoded)["after"])


# -- every catalog type ------------------------------------------------------------------------------------


def test_the_fixture_table_covers_every_catalog_type(table: Table) -> None:
    kinds = {column.column_type.kind for column in table.columns}
    assert kinds == {name.partition("(")[0] for name in TYPE_NAMES}


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("id", 9_007_199_254_740_993, 9_007_199_254_740_993),  # int64 beyond double precision stays exact
        ("small", -32768, -32768),  # int16 as a number
        ("medium", 2_147_483_647, 2_147_483_647),
        ("medium", None, None),
        ("short_text", "tab\tnew\nline", "tab\tnew\nline"),
        ("code", "", ""),
        ("long_text", "x" * 5000, "x" * 5000),
        ("flag", False, False),
        ("ratio", -1.5e-300, -1.5e-300),
        ("ratio", float("nan"), "NaN"),
        ("ratio", float("inf"), "Infinity"),
        ("ratio", float("-inf"), "-Infinity"),
        ("amount", Decimal("12.5"), "12.5000"),  # padded to the column's scale
        ("amount", Decimal("-0.0001"), "-0.0001"),
        ("amount", Decimal("0"), "0.0000"),
        ("amount", Decimal("99999999999999.9999"), "99999999999999.9999"),
        ("day", 0, "1970-01-01"),
        ("day", -1, "1969-12-31"),
        ("day", days(dt.date(9999, 12, 31)), "9999-12-31"),
        ("day", days(dt.date(1, 1, 1)), "0001-01-01"),
        ("at", 0, "1970-01-01T00:00:00.000000"),  # always six fraction digits, no zone
        ("at", -1, "1969-12-31T23:59:59.999999"),
        ("at", micros(dt.datetime(2026, 2, 28, 23, 59, 59, 7)), "2026-02-28T23:59:59.000007"),
        ("at_tz", "2026-11-22T10:30:00Z", "2026-11-22T10:30:00Z"),  # as captured
        ("at_tz", "2026-11-22T11:30:00.5+01:00", "2026-11-22T11:30:00.5+01:00"),
        ("ref", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
        ("doc", '{"nested": {"k": [true, null]}}', '{"nested": {"k": [true, null]}}'),  # JSON text stays a string
    ],
)
def test_each_type_has_its_contract_form(table: Table, column: str, value: Any, expected: Any) -> None:
    assert after_json(table, row(**{column: value}))[column] == expected


def test_a_whole_row_is_exact_compact_json_in_column_order(table: Table) -> None:
    encoded = JsonEncoder(envelope_schema(table)).to_json(envelope("c", after=row()))
    after = json.dumps(encoded["after"], separators=(",", ":"), ensure_ascii=False)
    assert after == (
        '{"id":42,"small":-7,"medium":null,"short_text":"héllo \\"quoted\\" \\\\ ✓","code":"AB-1","long_text":null,'
        '"flag":true,"ratio":0.25,"amount":"1234.5000","day":"2026-11-22","at":"2026-11-22T10:30:00.120000",'
        '"at_tz":"2026-11-22T10:30:00.123456Z","ref":"3f1c1a6e-2b4f-4a53-9a0e-2c8b9c6d7e8f","doc":"{\\"a\\": [1, 2]}"}'
    )


def test_decimals_from_connect_bytes_and_out_of_scale_values(table: Table) -> None:
    schema = envelope_schema(table)
    unscaled = (-12345).to_bytes(4, "big", signed=True)  # Connect's unscaled big-endian two's complement
    assert after_json(table, row(amount=unscaled))["amount"] == "-1.2345"
    with pytest.raises(JsonEncodingError, match="scale 4"):
        JsonEncoder(schema).encode(envelope("c", after=row(amount=Decimal("1.23456"))))
    with pytest.raises(JsonEncodingError):
        JsonEncoder(schema).encode(envelope("c", after=row(amount=1.5)))


def test_dates_and_timestamps_outside_years_1_to_9999_are_errors(table: Table) -> None:
    encoder = JsonEncoder(envelope_schema(table))
    with pytest.raises(JsonEncodingError):
        encoder.encode(envelope("c", after=row(day=days(dt.date(9999, 12, 31)) + 1)))
    with pytest.raises(JsonEncodingError):
        encoder.encode(envelope("c", after=row(at=micros(dt.datetime(9999, 12, 31, 23, 59, 59, 999999)) + 1)))


def test_other_debezium_and_avro_temporal_types() -> None:
    schema = {
        "type": "record",
        "name": "Times",
        "fields": [
            {"name": "millis", "type": {"type": "long", "connect.name": "io.debezium.time.Timestamp"}},
            {"name": "nanos", "type": {"type": "long", "connect.name": "io.debezium.time.NanoTimestamp"}},
            {"name": "avro_date", "type": {"type": "int", "logicalType": "date"}},
            {"name": "avro_ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "blob", "type": "bytes"},
            {
                "name": "tags",
                "type": {"type": "array", "items": {"type": "int", "connect.name": "io.debezium.time.Date"}},
            },
            {"name": "attrs", "type": {"type": "map", "values": "double"}},
            {"name": "either", "type": ["null", "string", "long"]},
        ],
    }
    record = {
        "millis": 1_500,
        "nanos": -1,
        "avro_date": dt.date(2026, 1, 2),  # what fastavro returns for Avro's own logical types
        "avro_ts": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "blob": b"\x00\xff",
        "tags": [0, 1],
        "attrs": {"x": float("nan")},
        "either": 5,
    }
    assert json.loads(JsonEncoder(schema).encode(record)) == {
        "millis": "1970-01-01T00:00:01.500000",
        "nanos": "1969-12-31T23:59:59.999999999",
        "avro_date": "2026-01-02",
        "avro_ts": "2026-01-02T03:04:05+00:00",
        "blob": "AP8=",
        "tags": ["1970-01-01", "1970-01-02"],
        "attrs": {"x": "NaN"},
        "either": 5,
    }


# -- envelopes, keys, determinism ---------------------------------------------------------------------------


def test_the_envelope_keeps_every_field_in_schema_order_without_a_schema(table: Table) -> None:
    value = json.loads(envelope_json(envelope("u", before=row(flag=False), after=row()), envelope_schema(table)) or b"")
    assert list(value) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
    assert "schema" not in value and "payload" not in value
    assert value["op"] == "u" and value["transaction"] is None
    assert value["before"]["flag"] is False and value["after"]["flag"] is True
    assert value["ts_ms"] == 1_795_000_000_200 and value["ts_us"] == 1_795_000_000_200_000
    # source is copied as is, in its schema's field order (lsn, txId, ts_us, sequence, snapshot ...)
    assert value["source"] == source()
    assert list(value["source"]) == [field["name"] for field in envelope_schema(table)["fields"][2]["type"]["fields"]]


def test_deletes_carry_the_before_image(table: Table) -> None:
    value = json.loads(envelope_json(envelope("d", before=row(), after=None), envelope_schema(table)) or b"")
    assert value["after"] is None and value["before"]["amount"] == "1234.5000" and value["op"] == "d"


def test_keys_are_compact_json_in_key_order(catalog: Catalog, table: Table) -> None:
    assert key_json({"customer_id": 42}, key_schema(catalog.table("customer"))) == b'{"customer_id":42}'
    assert key_json({"line_no": 2, "order_id": 7}, key_schema(catalog.table("order_item"))) == (
        b'{"order_id":7,"line_no":2}'
    )
    assert key_json({"id": 1, "small": -1}, key_schema(table)) == b'{"id":1,"small":-1}'


def test_the_same_event_always_gives_the_same_bytes(table: Table) -> None:
    schema = envelope_schema(table)
    first = envelope_json(envelope("u", before=row(), after=row(code="X")), schema)
    shuffled_items = list(row(code="X").items())
    random.Random(3).shuffle(shuffled_items)
    again = envelope_json(envelope("u", before=dict(reversed(list(row().items()))), after=dict(shuffled_items)), schema)
    assert first == again
    assert first == JsonEncoder(schema).encode(envelope("u", before=row(), after=row(code="X")))
    assert first is not None
    assert json.dumps(json.loads(first), separators=(",", ":"), ensure_ascii=False).encode() == first  # compact UTF-8


def test_a_tombstone_stays_a_tombstone(table: Table) -> None:
    assert envelope_json(None, envelope_schema(table)) is None


@pytest.mark.parametrize("name", ["customer", "product", "orders", "order_item", "payment", "shipment"])
def test_every_catalog_table_round_trips_through_avro(catalog: Catalog, name: str) -> None:
    table = catalog.table(name)
    schema = envelope_schema(table)
    values = {}
    for column in table.columns:
        kind = column.column_type.kind
        values[column.name] = {
            "int32": 3,
            "int64": 123456789012,
            "decimal": Decimal("12.30"),
            "boolean": True,
            "timestamp": micros(dt.datetime(2026, 11, 22, 1, 2, 3, 4)),
            "date": days(dt.date(1990, 5, 17)),
        }.get(kind, "text")
    event = envelope("c", after=values)
    framed = EnvelopeEncoder(schema, VALUE_ID).encode(event)
    schemas = WriterSchemas({VALUE_ID: json.dumps(schema)}.get)
    assert to_json(framed, schemas) == envelope_json(event, schema)
    decoded = json.loads(to_json(framed, schemas))["after"]
    for column in table.columns:
        if column.column_type.kind == "decimal":
            assert decoded[column.name] == "12.30"
        elif column.column_type.kind == "timestamp":
            assert decoded[column.name] == "2026-11-22T01:02:03.000004"
        elif column.column_type.kind == "date":
            assert decoded[column.name] == "1990-05-17"


# -- records: JSON twin, tombstone, dead letters -------------------------------------------------------------


def framed_pair(table: Table, event: dict[str, Any] | None) -> tuple[bytes, bytes | None]:
    key = AvroEncoder(key_schema(table), KEY_ID).encode({"id": 42, "small": -7})
    value = None if event is None else EnvelopeEncoder(envelope_schema(table), VALUE_ID).encode(event)
    return key, value


def registry_of(table: Table) -> dict[int, str]:
    return {KEY_ID: json.dumps(key_schema(table)), VALUE_ID: json.dumps(envelope_schema(table))}


def test_an_event_becomes_its_json_twin_on_the_same_partition_with_headers(table: Table) -> None:
    key, value = framed_pair(table, envelope("c", after=row()))
    record = SourceRecord(SOURCE_TOPIC, 2, 314, key, value, [("trace", b"abc"), ("cdc.source.offset", b"999")])
    output = bridge_record(record, WriterSchemas(registry_of(table).get))
    assert (output.topic, output.partition, output.kind, output.source_topic) == (
        "lab.every_type.cdc.json",
        2,
        "event",
        SOURCE_TOPIC,
    )
    assert output.key == b'{"id":42,"small":-7}'
    assert output.value == envelope_json(envelope("c", after=row()), envelope_schema(table))
    assert output.headers == [
        ("trace", b"abc"),  # the source's own headers travel along; stale bridge headers are replaced
        ("cdc.source.topic", SOURCE_TOPIC.encode()),
        ("cdc.source.partition", b"2"),
        ("cdc.source.offset", b"314"),
    ]


def test_a_tombstone_keeps_its_key_as_json(table: Table) -> None:
    key, _ = framed_pair(table, None)
    output = bridge_record(SourceRecord(SOURCE_TOPIC, 0, 5, key, None), WriterSchemas(registry_of(table).get))
    assert (output.kind, output.value, output.key, output.topic) == (
        "tombstone",
        None,
        b'{"id":42,"small":-7}',
        "lab.every_type.cdc.json",
    )


def _poison(table: Table) -> dict[str, tuple[bytes, str]]:
    _, good = framed_pair(table, envelope("c", after=row()))
    assert good is not None
    _, far_future = framed_pair(table, envelope("c", after=row(day=days(dt.date(9999, 12, 31)) + 1)))
    assert far_future is not None
    return {
        "bad magic": (b"\x01" + good[1:], "BadFraming"),
        "too short": (b"\x00\x00\x01", "BadFraming"),
        "unknown id": (frame(4242, good[5:]), "UnknownSchemaId"),
        "truncated": (good[: len(good) // 2], "TruncatedRecord"),
        "trailing bytes": (good + b"\x00\x00", "TrailingBytes"),
        "corrupt": (good[:5] + b"\x02" + b"\xff" * 40, "CorruptRecord"),
        "not an Avro record": (frame(KEY_ID + 100, good[5:]), "UnsupportedSchema"),
        "unencodable": (far_future, "UnencodableValue"),
    }


@pytest.mark.parametrize("case", ["bad magic", "too short", "unknown id", "truncated", "trailing bytes", "corrupt",
                                  "not an Avro record", "unencodable"])  # fmt: skip
def test_undecodable_records_become_dead_letters_with_their_raw_bytes(table: Table, case: str) -> None:
    value, error_class = _poison(table)[case]
    key, _ = framed_pair(table, None)
    registry = {**registry_of(table), KEY_ID + 100: '{"type": "string"}'}
    output = bridge_record(SourceRecord(SOURCE_TOPIC, 1, 77, key, value), WriterSchemas(registry.get))
    assert (output.kind, output.topic, output.partition, output.error_class) == (
        "dead_letter",
        "lab.every_type.cdc.json.dlq",
        1,
        error_class,
    )
    assert (output.key, output.value) == (key, value)
    headers = dict(output.headers)
    assert headers["cdc.error.class"] == error_class.encode()
    assert headers["cdc.error.message"]
    assert headers["cdc.source.offset"] == b"77"


def test_a_bad_key_also_dead_letters_the_record(table: Table) -> None:
    _, value = framed_pair(table, envelope("c", after=row()))
    output = bridge_record(SourceRecord(SOURCE_TOPIC, 0, 1, b"\x07junk", value), WriterSchemas(registry_of(table).get))
    assert output.kind == "dead_letter" and output.error_class == "BadFraming" and output.value == value


def test_unknown_ids_are_asked_again_only_after_a_while(table: Table) -> None:
    calls: list[int] = []
    now = [0.0]

    def lookup(schema_id: int) -> str | None:
        calls.append(schema_id)
        return None

    schemas = WriterSchemas(lookup, retry_unknown_s=30, clock=lambda: now[0])
    value, _ = _poison(table)["unknown id"]
    for _ in range(3):
        assert bridge_record(SourceRecord(SOURCE_TOPIC, 0, 1, None, value), schemas).error_class == "UnknownSchemaId"
    now[0] = 31.0
    bridge_record(SourceRecord(SOURCE_TOPIC, 0, 1, None, value), schemas)
    assert calls == [4242, 4242]


def test_known_schemas_are_fetched_once(table: Table) -> None:
    calls: list[int] = []
    registry = registry_of(table)

    def lookup(schema_id: int) -> str | None:
        calls.append(schema_id)
        return registry.get(schema_id)

    schemas = WriterSchemas(lookup)
    key, value = framed_pair(table, envelope("c", after=row()))
    for offset in range(5):
        bridge_record(SourceRecord(SOURCE_TOPIC, 0, offset, key, value), schemas)
    assert sorted(calls) == [KEY_ID, VALUE_ID]
    writer, decoded = decode(value or b"", schemas)
    assert writer.schema_id == VALUE_ID and decoded["after"]["amount"] == Decimal("1234.5000")


def test_a_registry_outage_is_not_a_dead_letter(table: Table) -> None:
    def lookup(schema_id: int) -> str | None:
        raise ServiceUnavailableError("registry down")

    key, value = framed_pair(table, envelope("c", after=row()))
    with pytest.raises(ServiceUnavailableError):
        bridge_record(SourceRecord(SOURCE_TOPIC, 0, 1, key, value), WriterSchemas(lookup))
