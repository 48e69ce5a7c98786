"""Pure capture logic: value encodings, relation binding and schema changes, events, delivery tracking, framing."""

from __future__ import annotations

import io
from decimal import Decimal

import fastavro
import pytest

from producers.acks import PositionTracker
from producers.capture.postgres.events import SourceContext, change_events, snapshot_event
from producers.capture.postgres.pgoutput import UNCHANGED, Delete, Insert, Relation, RelationColumn, Update
from producers.capture.postgres.relations import UNAVAILABLE_VALUE, RelationMap, SchemaChangeRefused
from producers.capture.values import UnsupportedColumnType, catalog_type_for, decoder_for
from producers.encoding import AvroEncoder
from schemas.avro_types import parse_type
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema, schema_for_columns
from schemas.envelope import PostgresPosition
from schemas.framing import FramingError, frame, header, unframe

CATALOG = load_catalog()
PRODUCT = CATALOG.table("product")
CONTEXT = SourceContext("retail", "retail")
POSITION = PostgresPosition(lsn=1000, tx_id=42, commit_ts_us=1_700_000_000_123_456, last_commit_lsn=900)
OIDS = {
    "int64": (20, -1),
    "varchar": (1043, 204),
    "text": (25, -1),
    "decimal(12,2)": (1700, (12 << 16 | 2) + 4),
    "boolean": (16, -1),
    "timestamp": (1114, 6),
}


def _relation(table_columns: list[tuple[str, str]], relation_id: int = 1) -> Relation:
    columns = tuple(RelationColumn(name, *OIDS[kind], is_key=name == "product_id") for name, kind in table_columns)
    return Relation(relation_id, "public", "product", "f", columns)


PRODUCT_COLUMNS = [
    ("product_id", "int64"),
    ("sku", "varchar"),
    ("name", "varchar"),
    ("description", "text"),
    ("category", "varchar"),
    ("subcategory", "varchar"),
    ("brand", "varchar"),
    ("unit_price", "decimal(12,2)"),
    ("cost", "decimal(12,2)"),
    ("active", "boolean"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
]
ROW = (
    "7",
    "SKU-7",
    "Kettle",
    None,
    "Home",
    None,
    "Acme",
    "19.9",
    None,
    "t",
    "2026-11-22 10:00:00.5",
    "2026-11-22 10:00:00.5",
)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("int64", "-9223372036854775808", -9223372036854775808),
        ("decimal(12,2)", "19.9", Decimal("19.90")),
        ("boolean", "f", False),
        ("float64", "1.5", 1.5),
        ("date", "1969-12-31", -1),
        ("timestamp", "2026-11-22 10:00:00.5", 1_795_341_600_500_000),
        ("timestamptz", "2026-11-22 10:00:00+02", "2026-11-22T08:00:00Z"),
        ("uuid", "0b9b5f2e-7f0e-4a5e-9d55-0d1f3a1f2b3c", "0b9b5f2e-7f0e-4a5e-9d55-0d1f3a1f2b3c"),
    ],
)
def test_text_values_become_debezium_encodings(kind: str, text: str, value: object) -> None:
    assert decoder_for(parse_type(kind))(text) == value


def test_catalog_types_from_source_oids() -> None:
    assert str(catalog_type_for(1043, 44)) == "varchar(40)"
    assert str(catalog_type_for(1700, (10 << 16 | 3) + 4)) == "decimal(10,3)"
    with pytest.raises(UnsupportedColumnType, match="numeric without precision"):
        catalog_type_for(1700, -1)
    with pytest.raises(UnsupportedColumnType, match="oid 600"):
        catalog_type_for(600, -1)


def test_binding_decodes_rows_and_encodes_to_the_registered_schema() -> None:
    binding = RelationMap([PRODUCT]).bind(_relation(PRODUCT_COLUMNS))
    assert binding is not None and not binding.schema_changed
    key, envelope = snapshot_event(CONTEXT, binding, binding.row(ROW), POSITION, "first", 1_700_000_001_000_000)
    assert key == {"product_id": 7}
    assert envelope["after"]["unit_price"] == Decimal("19.90")
    assert envelope["source"]["snapshot"] == "first" and envelope["op"] == "r"
    assert envelope["source"]["sequence"] == '["900","1000"]'
    assert envelope["source"]["ts_ms"] == 1_700_000_000_123
    encoded = AvroEncoder(envelope_schema(PRODUCT), 5).encode(envelope)
    schema_id, body = unframe(encoded)
    assert schema_id == 5
    decoded = fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(envelope_schema(PRODUCT)))
    assert decoded["after"] == envelope["after"]


def test_update_delete_and_primary_key_change() -> None:
    binding = RelationMap([PRODUCT]).bind(_relation(PRODUCT_COLUMNS))
    assert binding is not None
    changed = tuple("21.00" if i == 7 else v for i, v in enumerate(ROW))
    events = change_events(CONTEXT, binding, Update(1, ROW, False, changed), POSITION, 1)
    assert [(k, e["op"] if e else None) for k, e in events] == [({"product_id": 7}, "u")]
    assert events[0][1] is not None and events[0][1]["before"]["unit_price"] == Decimal("19.90")

    deleted = change_events(CONTEXT, binding, Delete(1, ROW, False), POSITION, 1)
    assert [(k, e["op"] if e else None) for k, e in deleted] == [({"product_id": 7}, "d"), ({"product_id": 7}, None)]

    moved = tuple("8" if i == 0 else v for i, v in enumerate(ROW))
    events = change_events(CONTEXT, binding, Update(1, ROW, False, moved), POSITION, 1)
    assert [(k, e["op"] if e else None) for k, e in events] == [
        ({"product_id": 7}, "d"),
        ({"product_id": 7}, None),
        ({"product_id": 8}, "c"),
    ]


def test_unchanged_toast_values_come_from_the_before_image_or_the_placeholder() -> None:
    binding = RelationMap([PRODUCT]).bind(_relation(PRODUCT_COLUMNS))
    assert binding is not None
    with_description = tuple("long text" if i == 3 else v for i, v in enumerate(ROW))
    new = tuple(UNCHANGED if i == 3 else v for i, v in enumerate(ROW))
    (event,) = change_events(CONTEXT, binding, Update(1, with_description, False, new), POSITION, 1)
    assert event[1] is not None and event[1]["after"]["description"] == "long text"
    (event,) = change_events(CONTEXT, binding, Insert(1, new), POSITION, 1)
    assert event[1] is not None and event[1]["after"]["description"] == UNAVAILABLE_VALUE


def test_added_nullable_column_gives_a_backward_compatible_schema() -> None:
    relations = RelationMap([PRODUCT])
    binding = relations.bind(_relation([*PRODUCT_COLUMNS, ("weight_note", "text")]))
    assert binding is not None and binding.schema_changed
    assert binding.columns[-1].name == "weight_note" and binding.columns[-1].nullable
    schema = schema_for_columns(PRODUCT, binding.columns)
    assert schema["fields"][0]["type"][1]["fields"][-1]["name"] == "weight_note"


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([c for c in PRODUCT_COLUMNS if c[0] != "sku"], "required column 'sku' was dropped"),
        (
            [("product_id", "int64"), *[(n, "boolean" if n == "sku" else k) for n, k in PRODUCT_COLUMNS[1:]]],
            "column 'sku': type changed at the source from varchar\\(64\\) to boolean",
        ),
    ],
)
def test_incompatible_source_changes_are_refused(columns: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(SchemaChangeRefused, match=message):
        RelationMap([PRODUCT]).bind(_relation(columns))


def test_unknown_tables_are_not_bound() -> None:
    relation = Relation(9, "public", "audit_log", "d", (RelationColumn("id", 20, -1, True),))
    assert RelationMap([PRODUCT]).bind(relation) is None


def test_position_tracker_only_advances_over_fully_confirmed_sealed_positions() -> None:
    tracker = PositionTracker()
    for position in (10, 10, 20, 30):
        tracker.add(position)
    tracker.seal(10)
    tracker.seal(20)
    tracker.ack(20)
    assert tracker.safe is None  # 10 is not confirmed yet
    tracker.ack(10)
    assert tracker.safe is None  # one more event at 10
    tracker.ack(10)
    assert tracker.safe == 20
    tracker.ack(30)
    assert tracker.safe == 20  # 30 not sealed: its transaction may have more events
    tracker.seal(30)
    assert tracker.safe == 30 and tracker.in_flight == 0
    tracker.seal(40)  # a transaction without events for captured tables
    assert tracker.safe == 40
    with pytest.raises(ValueError, match="behind"):
        tracker.add(5)
    with pytest.raises(ValueError, match="nothing in flight"):
        tracker.ack(99)


def test_confluent_framing() -> None:
    assert header(1) == b"\x00\x00\x00\x00\x01"
    assert unframe(frame(258, b"avro")) == (258, b"avro")
    with pytest.raises(FramingError, match="shorter than the 5-byte"):
        unframe(b"\x00\x01")
    with pytest.raises(FramingError, match="magic byte 1"):
        unframe(b"\x01\x00\x00\x00\x01xx")
