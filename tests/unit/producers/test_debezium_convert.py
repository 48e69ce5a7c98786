"""Conversion of real Debezium 3.6.3 engine events (JsonConverter, schemas on) to our keys and envelopes.

The fixtures were recorded from the embedded engine running the PostgreSQL connector against the local stack
(catalog tables, REPLICA IDENTITY FULL); only the topic prefix and database name were renamed to ``retail``.
"""

from __future__ import annotations

import base64
import io
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import pytest

from producers.capture.debezium.convert import (
    CapturedChange,
    EventConversionError,
    EventConverter,
    SkippedEvent,
    decimal_from_base64,
    row_columns,
    split_document,
)
from schemas.catalog import Catalog, Column, load_catalog
from schemas.debezium import envelope_schema, key_schema, source_schema

FIXTURES = Path(__file__).with_name("fixtures")


@cache
def catalog() -> Catalog:
    return load_catalog()


def converter() -> EventConverter:
    return EventConverter(catalog())


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"debezium_{name}.json").read_text())


def compact(document: Any) -> str:
    """JSON as Kafka Connect's JsonConverter writes it: no spaces, schema before payload."""
    return json.dumps(document, separators=(",", ":"))


def event_texts(document: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """The fixture as the engine hands it over: destination plus key and value JSON text."""
    key = None if document["key"] is None else compact(document["key"])
    value = None if document["value"] is None else compact(document["value"])
    return document["destination"], key, value


def convert(name: str) -> CapturedChange:
    result = converter().convert(*event_texts(fixture(name)))
    assert isinstance(result, CapturedChange), result
    return result


def avro_round_trip(schema: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    parsed = fastavro.parse_schema(schema)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    buffer.seek(0)
    result: dict[str, Any] = fastavro.schemaless_reader(buffer, parsed, parsed)
    return result


SOURCE_NAMES = [field["name"] for field in source_schema("postgresql")["fields"]]


def test_snapshot_read_keeps_dates_timestamps_and_nulls() -> None:
    change = convert("customer_read")
    assert change.table.name == "customer"
    assert change.key == {"customer_id": 1}
    envelope = change.envelope
    assert envelope is not None
    assert envelope["op"] == "r"
    assert envelope["before"] is None
    after = envelope["after"]
    assert after["birth_date"] == 7441  # 1990-05-17 as days since the epoch (io.debezium.time.Date)
    assert after["created_at"] == 1704164645123456  # 2024-01-02 03:04:05.123456 as MicroTimestamp
    assert after["phone"] is None
    assert after["loyalty_tier"] is None
    assert envelope["source"]["snapshot"] == "first"
    assert change.columns is None


def test_decimals_become_decimal_with_the_field_scale() -> None:
    after = convert("product_read").envelope["after"]  # type: ignore[index]
    assert after["unit_price"] == Decimal("-12345.67")
    assert after["cost"] == Decimal("0.01")
    assert after["description"] is None
    assert after["active"] is True


def test_source_block_has_exactly_the_registered_fields_in_order() -> None:
    raw = fixture("orders_create")["value"]["payload"]["source"]
    assert "origin" in raw  # Debezium 3.6 sends origin/origin_lsn, which our registered Source does not have
    source = convert("orders_create").envelope["source"]  # type: ignore[index]
    assert list(source) == SOURCE_NAMES
    for name in SOURCE_NAMES:
        assert source[name] == raw[name]
    assert source["connector"] == "postgresql"
    assert source["version"] == "3.6.3.Final"
    assert source["snapshot"] == "false"
    assert isinstance(source["lsn"], int)
    assert isinstance(source["txId"], int)
    assert json.loads(source["sequence"])[1] == str(source["lsn"])


def test_envelope_times_come_from_the_event() -> None:
    payload = fixture("orders_create")["value"]["payload"]
    envelope = convert("orders_create").envelope
    assert envelope is not None
    assert list(envelope) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
    assert (envelope["ts_ms"], envelope["ts_us"], envelope["ts_ns"]) == (
        payload["ts_ms"],
        payload["ts_us"],
        payload["ts_ns"],
    )
    assert envelope["transaction"] is None


def test_update_carries_before_and_after() -> None:
    change = convert("orders_update")
    envelope = change.envelope
    assert envelope is not None
    assert envelope["op"] == "u"
    assert envelope["before"]["status"] == "new"
    assert envelope["after"]["status"] == "paid"
    assert envelope["before"]["total_amount"] == Decimal("99.99")
    assert envelope["after"]["total_amount"] == Decimal("100.01")
    assert envelope["after"]["order_ts"] == 1709528767500000
    assert change.lsn == envelope["source"]["lsn"]


def test_nullable_columns_set_and_cleared() -> None:
    envelope = convert("customer_update").envelope
    assert envelope is not None
    assert (envelope["before"]["phone"], envelope["after"]["phone"]) == (None, "+47 1")
    assert (envelope["before"]["birth_date"], envelope["after"]["birth_date"]) == (7441, None)


def test_delete_has_the_full_before_image() -> None:
    change = convert("orders_delete")
    envelope = change.envelope
    assert envelope is not None
    assert envelope["op"] == "d"
    assert envelope["after"] is None
    assert envelope["before"]["order_id"] == 5
    assert envelope["before"]["discount_amount"] == Decimal("0.00")
    assert change.key == {"order_id": 5}


def test_tombstone_is_routed_by_debeziums_topic_name() -> None:
    change = convert("orders_tombstone")
    assert change.table.name == "orders"
    assert change.table.topic == "retail.orders.cdc"
    assert change.envelope is None
    assert change.key == {"order_id": 5}
    assert change.lsn is None


def test_heartbeats_are_skipped() -> None:
    result = converter().convert(*event_texts(fixture("heartbeat")))
    assert result == SkippedEvent("__debezium-heartbeat.retail", "heartbeat")


def test_tables_outside_the_catalog_are_skipped() -> None:
    document = fixture("orders_create")
    document["destination"] = "retail.public.audit_log"
    document["value"]["payload"]["source"]["table"] = "audit_log"
    result = converter().convert(*event_texts(document))
    assert isinstance(result, SkippedEvent)
    assert result.reason == "table outside the catalog"
    tombstone = fixture("orders_tombstone")
    tombstone["destination"] = "retail.public.audit_log"
    assert isinstance(converter().convert(*event_texts(tombstone)), SkippedEvent)


@pytest.mark.parametrize(
    "name",
    ["customer_read", "product_read", "orders_create", "orders_update", "orders_delete", "customer_update"],
)
def test_every_converted_envelope_fits_the_registered_schemas(name: str) -> None:
    change = convert(name)
    assert change.envelope is not None
    assert avro_round_trip(envelope_schema(change.table), change.envelope) == change.envelope
    assert avro_round_trip(key_schema(change.table), change.key) == change.key


def test_decimal_bytes_are_the_ones_debezium_sent() -> None:
    """fastavro writes the same unscaled two's-complement bytes the AvroConverter would."""
    decimal_type = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}
    for text in ("7Sl5", "AQ==", "Jw8=", "AA=="):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, fastavro.parse_schema(decimal_type), decimal_from_base64(text, 2))
        assert buffer.getvalue()[1:] == base64.b64decode(text)  # after the zig-zag length byte


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [("AA==", 2, Decimal("0.00")), ("7Sl5", 2, Decimal("-12345.67")), ("AQ==", 2, Decimal("0.01")), ("/w==", 0, -1)],
)
def test_decimal_from_base64(text: str, scale: int, expected: Decimal) -> None:
    assert decimal_from_base64(text, scale) == expected


def test_invalid_base64_is_a_conversion_error() -> None:
    with pytest.raises(EventConversionError, match="base64"):
        decimal_from_base64("not base64!", 2)


def test_events_without_schemas_are_refused() -> None:
    document = fixture("orders_create")
    document["value"] = document["value"]["payload"]  # what JsonConverter writes with schemas.enable=false
    with pytest.raises(EventConversionError, match=r"schemas\.enable=true"):
        converter().convert(*event_texts(document))


def test_change_without_key_is_refused() -> None:
    document = fixture("orders_create")
    document["key"] = None
    with pytest.raises(EventConversionError, match="without a key"):
        converter().convert(*event_texts(document))


def test_added_source_column_is_typed_from_its_connect_schema() -> None:
    document = fixture("product_read")
    row = next(field for field in document["value"]["schema"]["fields"] if field["field"] == "after")
    row["fields"].append({"type": "string", "optional": True, "field": "colour"})
    row["fields"].append(
        {
            "type": "bytes",
            "optional": True,
            "name": "org.apache.kafka.connect.data.Decimal",
            "version": 1,
            "parameters": {"scale": "3", "connect.decimal.precision": "10"},
            "field": "weight_kg",
        }
    )
    document["value"]["payload"]["after"]["colour"] = "red"
    document["value"]["payload"]["after"]["weight_kg"] = base64.b64encode((1500).to_bytes(2, "big")).decode()
    change = converter().convert(*event_texts(document))
    assert isinstance(change, CapturedChange)
    assert change.columns is not None
    assert change.columns[-2:] == (
        Column(name="colour", type="string", nullable=True),
        Column(name="weight_kg", type="decimal(10,3)", nullable=True),
    )
    assert change.columns[:-2] == change.table.columns
    assert change.envelope["after"]["weight_kg"] == Decimal("1.500")  # type: ignore[index]


def test_row_columns_is_none_when_the_source_matches_the_catalog() -> None:
    table = catalog().table("orders")
    row = next(field for field in fixture("orders_create")["value"]["schema"]["fields"] if field["field"] == "after")
    assert row_columns(table, row) is None


def test_unsupported_new_column_type_is_a_conversion_error() -> None:
    table = catalog().table("orders")
    row = {"fields": [*({"field": c.name} for c in table.columns), {"type": "map", "field": "tags"}]}
    with pytest.raises(EventConversionError, match="tags"):
        row_columns(table, row)


def test_split_document_cuts_compact_converter_output() -> None:
    value = fixture("orders_create")["value"]
    parts = split_document(compact(value))
    assert parts == (compact(value["schema"]), compact(value["payload"]))
    assert split_document(json.dumps(value)) is None  # not the converter's compact form


def test_marker_text_inside_strings_cannot_confuse_the_split() -> None:
    """JSON escapes quotes inside strings, so a string can never hold the unescaped ',"payload":' marker."""
    document = fixture("orders_create")
    row = next(field for field in document["value"]["schema"]["fields"] if field["field"] == "after")
    row["fields"][3]["default"] = 'x,"payload":{'
    result = converter().convert(*event_texts(document))
    assert isinstance(result, CapturedChange)
    assert result.envelope == convert("orders_create").envelope


def test_a_schema_with_a_payload_key_falls_back_to_a_full_parse() -> None:
    document = fixture("orders_create")
    document["value"]["schema"]["parameters"] = {"a": "1", "payload": "2"}  # the first marker is inside the schema
    schema_text, _ = split_document(compact(document["value"])) or ("", "")
    with pytest.raises(ValueError):
        json.loads(schema_text)
    result = converter().convert(*event_texts(document))
    assert isinstance(result, CapturedChange)
    assert result.envelope == convert("orders_create").envelope


def test_spaced_json_converts_the_same() -> None:
    document = fixture("orders_update")
    spaced = (document["destination"], json.dumps(document["key"]), json.dumps(document["value"]))
    assert converter().convert(*spaced) == convert("orders_update")


def test_payload_text_containing_the_marker_is_kept_intact() -> None:
    document = fixture("orders_create")
    document["value"]["payload"]["after"]["status"] = 'odd,"payload":"text'
    result = converter().convert(*event_texts(document))
    assert isinstance(result, CapturedChange)
    assert result.envelope["after"]["status"] == 'odd,"payload":"text'  # type: ignore[index]


def test_events_of_one_schema_share_one_column_tuple() -> None:
    """The publisher's schema cache looks columns up by identity, so evolved rows must reuse one tuple."""
    document = fixture("orders_create")
    row = next(field for field in document["value"]["schema"]["fields"] if field["field"] == "after")
    row["fields"].append({"type": "string", "optional": True, "field": "note"})
    shared = converter()
    first, second = shared.convert(*event_texts(document)), shared.convert(*event_texts(document))
    assert isinstance(first, CapturedChange) and isinstance(second, CapturedChange)
    assert first.columns is not None and first.columns is second.columns
