"""EnvelopeDecoder: Kafka-column batches of Confluent-framed Debezium Avro -> landing rows, dead letters, counts.

The registry is faked (``streaming.decode.writer_schema`` / ``latest_version`` monkeypatched): no network.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from schemas.catalog import Column
from schemas.debezium import envelope_schema, schema_for_columns
from streaming import decode as decode_module
from streaming.dead_letters import DeadLetter
from streaming.decode import (
    DecodedBatch,
    DecodePlan,
    EnvelopeDecoder,
    ReaderSchemaOutdated,
    decode_partition,
)
from streaming.landing_schema import RECORD_KIND
from streaming.writer_schemas import RegistryEndpoint, UnknownSchemaId
from tests.unit.streaming.records import (
    CATALOG,
    EPOCH,
    EVERY_TYPE,
    READER_ID,
    REGISTRY,
    days,
    encode,
    envelope,
    every_type_row,
    kafka_batch,
    micros,
    plan_for,
    product_row,
    source,
)

PRODUCT = CATALOG.table("product")
NOW_US = micros(dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC))
UTC = dt.UTC


class FakeRegistry:
    """Stands in for the registry lookups of ``streaming.writer_schemas``; records what was asked."""

    def __init__(self) -> None:
        self.schemas: dict[int, dict[str, Any]] = {}
        self.latest: tuple[int, dict[str, Any]] | None = None
        self.fetched: list[int] = []
        self.latest_asked: list[str] = []

    def writer_schema(self, endpoint: RegistryEndpoint, schema_id: int) -> dict[str, Any]:
        assert endpoint == REGISTRY
        self.fetched.append(schema_id)
        if schema_id not in self.schemas:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        return self.schemas[schema_id]

    def latest_version(self, endpoint: RegistryEndpoint, subject: str) -> tuple[int, dict[str, Any]] | None:
        assert endpoint == REGISTRY
        self.latest_asked.append(subject)
        return self.latest


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    fake = FakeRegistry()
    monkeypatch.setattr(decode_module, "writer_schema", fake.writer_schema)
    monkeypatch.setattr(decode_module, "latest_version", fake.latest_version)
    return fake


def decode(plan: DecodePlan, values: Sequence[bytes | None], **batch: Any) -> DecodedBatch:
    batch.setdefault("topic", "retail.product.cdc" if plan.table == "product" else f"test.{plan.table}.cdc")
    return EnvelopeDecoder(plan, NOW_US).decode(kafka_batch(values, **batch))


def product_event(op: Any = "c", product_id: int = 1, **changes: Any) -> dict[str, Any]:
    row = product_row(product_id, **changes)
    if op == "d":
        return envelope("d", PRODUCT, before=row)
    if op == "u":
        return envelope("u", PRODUCT, before=product_row(product_id), after=row)
    return envelope(op, PRODUCT, after=row)


def with_value_field(schema: dict[str, Any], name: str, avro: Any) -> dict[str, Any]:
    """A copy of an envelope schema whose ``Value`` field ``name`` has type ``avro``."""
    copied = copy.deepcopy(schema)
    value = copied["fields"][0]["type"][1]
    for field in value["fields"]:
        if field["name"] == name:
            field["type"] = avro
            if isinstance(avro, list) and avro[0] == "null":
                field["default"] = None
            break
    else:
        raise AssertionError(f"no field {name}")
    return copied


def decimal_type(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


def data_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_") and k not in ("year", "month", "day", "hour")}


# ── landing rows ────────────────────────────────────────────────────────────────────────────────────────


def test_create_lands_the_after_image_with_every_metadata_column() -> None:
    plan = plan_for(PRODUCT)
    commit = dt.datetime(2024, 3, 5, 17, 45, 30, 123456, tzinfo=UTC)
    record = envelope("c", PRODUCT, after=product_row(1), src=source(PRODUCT, commit, lsn=987_654, tx_id=4242))
    kafka_ts = micros(dt.datetime(2024, 3, 5, 17, 45, 31, tzinfo=UTC))

    decoded = decode(
        plan, [encode(plan.reader_schema, record)], partition=3, first_offset=100, timestamps_us=[kafka_ts]
    )

    assert decoded.rows.schema == plan.landing.arrow_schema(with_kind=True)
    assert decoded.dead == []
    assert decoded.tombstones == 0
    assert decoded.markers is None
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 678901)  # TIMESTAMP_NTZ: naive, as the source wrote it
    assert decoded.rows.to_pylist() == [
        {
            "product_id": 1,
            "sku": "SKU-1",
            "name": "Product 1",
            "description": None,
            "category": "toys",
            "subcategory": None,
            "brand": "Acme",
            "unit_price": Decimal("19.99"),
            "cost": Decimal("7.50"),
            "active": True,
            "created_at": stamp,
            "updated_at": stamp,
            "_op": "c",
            "_source_ts": commit,
            "_lsn": 987_654,
            "_tx_id": "4242",
            "_snapshot": False,
            "_schema_id": READER_ID,
            "_kafka_topic": "retail.product.cdc",
            "_kafka_partition": 3,
            "_kafka_offset": 100,
            "_kafka_timestamp": dt.datetime(2024, 3, 5, 17, 45, 31, tzinfo=UTC),
            "_ingested_at": dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
            "year": 2024,
            "month": 3,
            "day": 5,
            "hour": 17,
            RECORD_KIND: "row",
        }
    ]


def test_update_lands_the_after_image() -> None:
    plan = plan_for(PRODUCT)

    decoded = decode(plan, [encode(plan.reader_schema, product_event("u", 5, name="Renamed", active=False))])

    (row,) = decoded.rows.to_pylist()
    assert (row["product_id"], row["name"], row["active"], row["_op"]) == (5, "Renamed", False, "u")


def test_delete_lands_the_before_image_with_op_d() -> None:
    plan = plan_for(PRODUCT)
    record = product_event("d", 9, name="Gone", unit_price=Decimal("0.01"))
    assert record["after"] is None

    decoded = decode(plan, [encode(plan.reader_schema, record)])

    (row,) = decoded.rows.to_pylist()
    assert row["_op"] == "d"
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 678901)
    expected = product_row(9, name="Gone", unit_price=Decimal("0.01")) | {"created_at": stamp, "updated_at": stamp}
    assert data_columns(row) == expected
    assert decoded.dead == []


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [("true", True), ("first", True), ("last", True), ("incremental", True), ("false", False), (None, False)],
)
def test_snapshot_flag(snapshot: Any, expected: bool) -> None:
    plan = plan_for(PRODUCT)
    record = envelope("r", PRODUCT, after=product_row(), src=source(PRODUCT, snapshot=snapshot))

    (row,) = decode(plan, [encode(plan.reader_schema, record)]).rows.to_pylist()

    assert (row["_op"], row["_snapshot"]) == ("r", expected)


def test_null_transaction_id_and_lsn_stay_null() -> None:
    plan = plan_for(PRODUCT)
    block = source(PRODUCT, tx_id=None)
    block["lsn"] = None

    (row,) = decode(plan, [encode(plan.reader_schema, product_event(src=None) | {"source": block})]).rows.to_pylist()

    assert (row["_lsn"], row["_tx_id"]) == (None, None)


def test_source_time_falls_back_to_ts_ms_without_ts_us() -> None:
    plan = plan_for(PRODUCT)
    block = source(PRODUCT, dt.datetime(2023, 7, 8, 9, 10, 11, 999999, tzinfo=UTC))
    block["ts_us"] = None

    (row,) = decode(plan, [encode(plan.reader_schema, product_event() | {"source": block})]).rows.to_pylist()

    assert row["_source_ts"] == dt.datetime(2023, 7, 8, 9, 10, 11, 999000, tzinfo=UTC)


def test_partition_columns_are_the_utc_source_time_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        plan = plan_for(PRODUCT)
        commits = [
            dt.datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            dt.datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
            dt.datetime(2024, 2, 29, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # 18:30 UTC
            dt.datetime(1999, 6, 15, 4, 0, tzinfo=UTC),
        ]
        values = [
            encode(plan.reader_schema, envelope("c", PRODUCT, after=product_row(i), src=source(PRODUCT, when)))
            for i, when in enumerate(commits)
        ]

        rows = decode(plan, values).rows.to_pylist()

        assert [(r["year"], r["month"], r["day"], r["hour"]) for r in rows] == [
            (2024, 12, 31, 23),
            (2025, 1, 1, 0),
            (2024, 2, 29, 18),
            (1999, 6, 15, 4),
        ]
        assert [r["_source_ts"] for r in rows] == [when.astimezone(UTC) for when in commits]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_rows_keep_input_order_and_kafka_coordinates() -> None:
    plan = plan_for(PRODUCT)
    values = [encode(plan.reader_schema, product_event("c", i)) for i in (3, 1, 2)]
    keys = [b"k3", None, b"k2"]
    stamps = [1_000_000, None, 3_000_000]

    decoded = decode(plan, values, partition=7, first_offset=40, keys=keys, timestamps_us=stamps)

    rows = decoded.rows.to_pylist()
    assert [r["product_id"] for r in rows] == [3, 1, 2]
    assert [r["_kafka_offset"] for r in rows] == [40, 41, 42]
    assert {r["_kafka_partition"] for r in rows} == {7}
    assert [r["_kafka_timestamp"] for r in rows] == [
        dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        None,
        dt.datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC),
    ]
    assert {r["_ingested_at"] for r in rows} == {EPOCH + dt.timedelta(microseconds=NOW_US)}


def test_composite_primary_key_table() -> None:
    order_item = CATALOG.table("order_item")
    plan = plan_for(order_item)
    row = {
        "order_id": 10,
        "line_no": 2,
        "product_id": 3,
        "quantity": 4,
        "unit_price": Decimal("1.00"),
        "discount": Decimal("0.00"),
    }

    decoded = decode(plan, [encode(plan.reader_schema, envelope("c", order_item, after=row))])

    assert data_columns(decoded.rows.to_pylist()[0]) == row


def test_sqlserver_envelopes_land_their_position_columns() -> None:
    orders = CATALOG.table("orders")
    schema = envelope_schema(orders, connector="sqlserver")
    plan = plan_for(orders, reader=schema)
    commit_us = micros(dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    block = {
        "version": "3.0",
        "connector": "sqlserver",
        "name": "retail",
        "ts_ms": commit_us // 1000,
        "snapshot": "false",
        "db": "retail",
        "sequence": None,
        "ts_us": commit_us,
        "ts_ns": commit_us * 1000,
        "schema": "dbo",
        "table": "orders",
        "change_lsn": "00000027:00000758:0005",
        "commit_lsn": "00000027:00000758:0003",
        "event_serial_no": 2,
    }
    row = {
        "order_id": 1,
        "customer_id": 2,
        "order_ts": commit_us,
        "status": "new",
        "channel": "web",
        "currency": "EUR",
        "total_amount": Decimal("10.00"),
        "discount_amount": Decimal("0.00"),
        "updated_at": commit_us,
    }
    in_tx = envelope("c", orders, after=row, src=block) | {
        "transaction": {"id": "tx-77", "total_order": 1, "data_collection_order": 1}
    }
    no_tx = envelope("u", orders, before=row, after=row, src=block)

    decoded = decode(plan, [encode(schema, in_tx), encode(schema, no_tx)], topic="retail.orders.cdc")

    assert decoded.rows.schema == plan.landing.arrow_schema(with_kind=True)
    first, second = decoded.rows.to_pylist()
    assert (first["_commit_lsn"], first["_change_lsn"], first["_event_serial_no"], first["_tx_id"]) == (
        "00000027:00000758:0003",
        "00000027:00000758:0005",
        2,
        "tx-77",
    )
    assert "_lsn" not in first
    assert second["_tx_id"] is None
    assert first["_source_ts"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


# ── tombstones and markers ──────────────────────────────────────────────────────────────────────────────


def test_tombstones_are_counted_and_not_landed() -> None:
    plan = plan_for(PRODUCT)
    values = [
        encode(plan.reader_schema, product_event("d", 1)),
        None,
        encode(plan.reader_schema, product_event()),
        None,
    ]

    decoded = decode(plan, values)

    assert decoded.tombstones == 2
    assert decoded.dead == []
    assert [r["_kafka_offset"] for r in decoded.rows.to_pylist()] == [100, 102]
    assert decoded.markers is not None
    assert decoded.markers.schema == plan.landing.arrow_schema(with_kind=True)
    assert decoded.markers.column(RECORD_KIND).to_pylist() == ["tombstone", "tombstone"]
    assert all(decoded.markers.column(name).null_count == 2 for name in decoded.markers.schema.names[:-1])


def test_markers_list_tombstones_and_dead_letters_in_input_order() -> None:
    plan = plan_for(PRODUCT)

    decoded = decode(plan, [b"junk", None, encode(plan.reader_schema, product_event()), b"", None])

    assert decoded.markers is not None
    assert decoded.markers.column(RECORD_KIND).to_pylist() == ["dead", "tombstone", "dead", "tombstone"]
    assert decoded.rows.num_rows == 1
    assert decoded.tombstones == 2
    assert len(decoded.dead) == 2


def test_empty_and_all_dead_batches_still_have_the_landing_schema() -> None:
    plan = plan_for(PRODUCT)

    empty = decode(plan, [])
    all_dead = decode(plan, [b"x", b"\x00\x00"])

    for decoded in (empty, all_dead):
        assert decoded.rows.num_rows == 0
        assert decoded.rows.schema == plan.landing.arrow_schema(with_kind=True)
    assert empty.markers is None
    assert [d.error_class for d in all_dead.dead] == ["BadFraming", "BadFraming"]


# ── dead letters ────────────────────────────────────────────────────────────────────────────────────────


def _good(plan: DecodePlan) -> bytes:
    return encode(plan.reader_schema, product_event("c", 50))


def _widened_price(plan: DecodePlan, price: Decimal) -> bytes:
    # Avro decimal bytes carry no precision: a value too wide for decimal(12,2) encodes with a wider schema.
    wide = with_value_field(plan.reader_schema, "unit_price", decimal_type(20, 2))
    return encode(wide, product_event("c", 50, unit_price=price))


POISON: dict[str, tuple[Callable[[DecodePlan], bytes], str, int | None, str]] = {
    "wrong magic byte": (lambda p: b"\x01" + _good(p)[1:], "BadFraming", None, "magic byte 1"),
    "shorter than the header": (lambda p: b"\x00\x00\x07", "BadFraming", None, "(3 bytes, magic byte 0)"),
    "empty value": (lambda p: b"", "BadFraming", None, "an empty value"),
    "plain JSON": (lambda p: b'{"op": "c"}', "BadFraming", None, "magic byte 123"),
    "unknown schema id": (
        lambda p: encode(p.reader_schema, product_event(), schema_id=99),
        "SchemaMismatch",
        99,
        "schema id 99 is not in the registry",
    ),
    "truncated body": (lambda p: _good(p)[:-4], "TruncatedRecord", READER_ID, "Avro body ends early"),
    "header only": (lambda p: _good(p)[:5], "TruncatedRecord", READER_ID, "(5 bytes, schema id 7)"),
    "trailing bytes": (lambda p: _good(p) + b"\x00\x02", "TrailingBytes", READER_ID, "2 byte(s) left after the record"),
    "create without after": (
        lambda p: encode(p.reader_schema, envelope("c", PRODUCT, after=None)),
        "MissingPrimaryKey",
        READER_ID,
        "op 'c' without its after image",
    ),
    "update without after": (
        lambda p: encode(p.reader_schema, envelope("u", PRODUCT, before=product_row(), after=None)),
        "MissingPrimaryKey",
        READER_ID,
        "op 'u' without its after image",
    ),
    "delete without before": (
        lambda p: encode(p.reader_schema, envelope("d", PRODUCT, before=None, after=product_row())),
        "MissingPrimaryKey",
        READER_ID,
        "op 'd' without its before image",
    ),
    "truncate": (
        lambda p: encode(p.reader_schema, envelope("t", PRODUCT)),
        "UnsupportedOperation",
        READER_ID,
        "op 't' carries no row to land",
    ),
    "message": (
        lambda p: encode(p.reader_schema, envelope("m", PRODUCT)),  # type: ignore[arg-type]
        "UnsupportedOperation",
        READER_ID,
        "op 'm'",
    ),
    "decimal too wide": (
        lambda p: _widened_price(p, Decimal("10000000000.00")),
        "ValueOutOfRange",
        READER_ID,
        "column 'unit_price'",
    ),
    "timestamp out of range": (
        lambda p: encode(p.reader_schema, product_event(updated_at=253_402_300_800_000_000)),
        "ValueOutOfRange",
        READER_ID,
        "column 'updated_at': timestamp 253402300800000000 µs is outside years 0001..9999",
    ),
}


@pytest.mark.parametrize("case", list(POISON))
def test_poison_record_becomes_a_dead_letter_and_its_neighbours_still_land(case: str) -> None:
    build, error_class, schema_id, message = POISON[case]
    plan = plan_for(PRODUCT)
    poison = build(plan)
    values = [
        encode(plan.reader_schema, product_event("c", 1)),
        poison,
        encode(plan.reader_schema, product_event("u", 2)),
    ]
    stamps = [1_000, 2_000, 3_000]

    decoded = decode(plan, values, partition=4, first_offset=500, timestamps_us=stamps)

    rows = decoded.rows.to_pylist()
    assert [(r["product_id"], r["_op"], r["_kafka_offset"]) for r in rows] == [(1, "c", 500), (2, "u", 502)]
    assert decoded.rows.schema == plan.landing.arrow_schema(with_kind=True)
    assert decoded.tombstones == 0
    assert decoded.markers is not None
    assert decoded.markers.column(RECORD_KIND).to_pylist() == ["dead"]
    (letter,) = decoded.dead
    assert letter == DeadLetter(
        topic="retail.product.cdc",
        partition=4,
        offset=501,
        kafka_timestamp_us=2_000,
        key=b"key-1",
        value=poison,
        schema_id=schema_id,
        error_class=error_class,
        error_message=letter.error_message,
    )
    assert message in letter.error_message


def test_dead_letter_without_kafka_timestamp_or_key() -> None:
    plan = plan_for(PRODUCT)

    decoded = decode(plan, [b"\x05garbage"], keys=[None], timestamps_us=[None])

    (letter,) = decoded.dead
    assert (letter.kafka_timestamp_us, letter.key, letter.value) == (None, None, b"\x05garbage")


def test_every_record_of_a_batch_can_fail_differently() -> None:
    plan = plan_for(PRODUCT)
    values = [build(plan) for build, *_ in POISON.values()]

    decoded = decode(plan, values)

    assert decoded.rows.num_rows == 0
    assert [d.error_class for d in decoded.dead] == [error_class for _, error_class, *_ in POISON.values()]
    assert [d.offset for d in decoded.dead] == list(range(100, 100 + len(POISON)))


def test_null_primary_key_is_a_dead_letter() -> None:
    reader = with_value_field(envelope_schema(EVERY_TYPE), "id", ["null", "long"])
    plan = plan_for(EVERY_TYPE, reader=reader)
    null_key = every_type_row(0) | {"id": None}

    decoded = decode(
        plan,
        [
            encode(reader, envelope("c", EVERY_TYPE, after=every_type_row(1))),
            encode(reader, envelope("c", EVERY_TYPE, after=null_key)),
            encode(reader, envelope("d", EVERY_TYPE, before=null_key)),
        ],
    )

    assert [r["id"] for r in decoded.rows.to_pylist()] == [1]
    assert [(d.offset, d.error_class, d.error_message) for d in decoded.dead] == [
        (101, "MissingPrimaryKey", "primary key column 'id' is null"),
        (102, "MissingPrimaryKey", "primary key column 'id' is null"),
    ]


# ── conversions ─────────────────────────────────────────────────────────────────────────────────────────


def _every_type(**values: Any) -> DecodedBatch:
    plan = plan_for(EVERY_TYPE)
    return decode(plan, [encode(plan.reader_schema, envelope("c", EVERY_TYPE, after=every_type_row(1, **values)))])


def test_every_type_converts_to_its_landing_value() -> None:
    seen = dt.datetime(2024, 2, 29, 23, 59, 58, 123456)
    decoded = _every_type(
        small=-32_768,
        medium=2_147_483_647,
        label="häagen",
        body="x" * 1_000,
        flag=False,
        ratio=-0.25,
        price=Decimal("-999.99"),
        born=days(dt.date(1969, 12, 31)),
        seen_at=micros(seen.replace(tzinfo=UTC)),
        zoned_at="2024-01-01T10:00:00.5+02:00",
        token="6f1c1f1e-8a51-4b5e-9a55-0e6f6d1d9a11",
        doc='{"a": [1, 2]}',
    )

    assert decoded.dead == []
    assert decoded.rows.schema == plan_for(EVERY_TYPE).landing.arrow_schema(with_kind=True)
    assert data_columns(decoded.rows.to_pylist()[0]) == {
        "id": 1,
        "small": -32_768,
        "medium": 2_147_483_647,
        "label": "häagen",
        "body": "x" * 1_000,
        "flag": False,
        "ratio": -0.25,
        "price": Decimal("-999.99"),
        "born": dt.date(1969, 12, 31),
        "seen_at": seen,
        "zoned_at": dt.datetime(2024, 1, 1, 8, 0, 0, 500000, tzinfo=UTC),
        "token": "6f1c1f1e-8a51-4b5e-9a55-0e6f6d1d9a11",
        "doc": '{"a": [1, 2]}',
    }


def test_null_values_skip_conversion_and_land_as_null() -> None:
    decoded = _every_type()

    row = data_columns(decoded.rows.to_pylist()[0])
    assert row == {"id": 1, **{c.name: None for c in EVERY_TYPE.columns if c.name != "id"}}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"small": 32_767}, {"small": 32_767}),
        ({"small": -32_768}, {"small": -32_768}),
        ({"price": Decimal("999.99")}, {"price": Decimal("999.99")}),
        ({"price": Decimal("0.01")}, {"price": Decimal("0.01")}),
        ({"born": -719_162}, {"born": dt.date(1, 1, 1)}),
        ({"born": 2_932_896}, {"born": dt.date(9999, 12, 31)}),
        ({"seen_at": -62_135_596_800_000_000}, {"seen_at": dt.datetime(1, 1, 1)}),
        ({"seen_at": 253_402_300_799_999_999}, {"seen_at": dt.datetime(9999, 12, 31, 23, 59, 59, 999999)}),
        ({"seen_at": -1}, {"seen_at": dt.datetime(1969, 12, 31, 23, 59, 59, 999999)}),
        ({"zoned_at": "0001-01-01T00:00:00Z"}, {"zoned_at": dt.datetime(1, 1, 1, tzinfo=UTC)}),
        ({"zoned_at": "2024-03-10T02:30:00"}, {"zoned_at": dt.datetime(2024, 3, 10, 2, 30, tzinfo=UTC)}),
        (
            {"zoned_at": "9999-12-31T23:59:59.999999Z"},
            {"zoned_at": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        ),
    ],
)
def test_boundary_values_land(values: dict[str, Any], expected: dict[str, Any]) -> None:
    decoded = _every_type(**values)

    assert decoded.dead == []
    row = decoded.rows.to_pylist()[0]
    assert {name: row[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"small": 32_768}, "column 'small': 32768 does not fit int16"),
        ({"small": -32_769}, "column 'small': -32769 does not fit int16"),
        ({"born": 2_932_897}, "column 'born': day 2932897 is outside years 0001..9999"),
        ({"born": -719_163}, "column 'born': day -719163 is outside years 0001..9999"),
        ({"seen_at": 253_402_300_800_000_000}, "column 'seen_at': timestamp 253402300800000000 µs is outside"),
        ({"seen_at": -62_135_596_800_000_001}, "column 'seen_at': timestamp -62135596800000001 µs is outside"),
        ({"zoned_at": "yesterday"}, "column 'zoned_at': 'yesterday' is not an ISO-8601 timestamp"),
        ({"zoned_at": "0001-01-01T00:00:00+01:00"}, "column 'zoned_at': timestamp -62135600400000000 µs is outside"),
        ({"zoned_at": "9999-12-31T23:59:59-01:00"}, "column 'zoned_at': timestamp 253402304399000000 µs is outside"),
    ],
)
def test_out_of_range_values_are_dead_letters(values: dict[str, Any], message: str) -> None:
    decoded = _every_type(**values)

    assert decoded.rows.num_rows == 0
    (letter,) = decoded.dead
    assert letter.error_class == "ValueOutOfRange"
    assert letter.schema_id == READER_ID
    assert message in letter.error_message


@pytest.mark.parametrize("price", [Decimal("1000.00"), Decimal("-1000.00"), Decimal("123456.78")])
def test_decimal_beyond_the_declared_precision_is_out_of_range(price: Decimal) -> None:
    plan = plan_for(EVERY_TYPE)
    wide = with_value_field(plan.reader_schema, "price", ["null", decimal_type(20, 2)])

    decoded = decode(plan, [encode(wide, envelope("c", EVERY_TYPE, after=every_type_row(1, price=price)))])

    (letter,) = decoded.dead
    assert letter.error_class == "ValueOutOfRange"
    assert "does not fit decimal(5,2)" in letter.error_message


def test_decimal_with_a_finer_scale_than_the_column_is_out_of_range(registry: FakeRegistry) -> None:
    plan = plan_for(EVERY_TYPE)
    finer = with_value_field(plan.reader_schema, "price", ["null", decimal_type(5, 3)])
    registry.schemas[8] = finer

    decoded = decode(
        plan, [encode(finer, envelope("c", EVERY_TYPE, after=every_type_row(1, price=Decimal("1.234"))), 8)]
    )

    (letter,) = decoded.dead
    assert (letter.error_class, letter.schema_id) == ("ValueOutOfRange", 8)
    assert "1.234 does not fit decimal(5,2)" in letter.error_message


@pytest.mark.parametrize(
    ("connect_name", "value", "expected"),
    [
        ("io.debezium.time.Timestamp", 1_709_660_730_123, dt.datetime(2024, 3, 5, 17, 45, 30, 123000)),
        ("org.apache.kafka.connect.data.Timestamp", -1, dt.datetime(1969, 12, 31, 23, 59, 59, 999000)),
        ("io.debezium.time.NanoTimestamp", 1_709_660_730_123_456_789, dt.datetime(2024, 3, 5, 17, 45, 30, 123456)),
        ("io.debezium.time.NanoTimestamp", -1, dt.datetime(1969, 12, 31, 23, 59, 59, 999999)),  # floors
    ],
)
def test_milli_and_nano_timestamps_become_microseconds(connect_name: str, value: int, expected: dt.datetime) -> None:
    reader = with_value_field(
        envelope_schema(EVERY_TYPE), "seen_at", ["null", {"type": "long", "connect.name": connect_name}]
    )
    plan = plan_for(EVERY_TYPE, reader=reader)

    decoded = decode(plan, [encode(reader, envelope("c", EVERY_TYPE, after=every_type_row(1, seen_at=value)))])

    assert decoded.dead == []
    assert decoded.rows.to_pylist()[0]["seen_at"] == expected


def test_millisecond_timestamp_out_of_range() -> None:
    reader = with_value_field(
        envelope_schema(EVERY_TYPE), "seen_at", ["null", {"type": "long", "connect.name": "io.debezium.time.Timestamp"}]
    )
    plan = plan_for(EVERY_TYPE, reader=reader)

    decoded = decode(
        plan, [encode(reader, envelope("c", EVERY_TYPE, after=every_type_row(1, seen_at=253_402_300_800_000)))]
    )

    assert [d.error_class for d in decoded.dead] == ["ValueOutOfRange"]


def test_enum_values_land_as_strings() -> None:
    reader = with_value_field(
        envelope_schema(EVERY_TYPE), "label", ["null", {"type": "enum", "name": "Mood", "symbols": ["happy", "sad"]}]
    )
    plan = plan_for(EVERY_TYPE, reader=reader)

    decoded = decode(plan, [encode(reader, envelope("c", EVERY_TYPE, after=every_type_row(1, label="sad")))])

    assert decoded.rows.to_pylist()[0]["label"] == "sad"
    assert decoded.rows.schema.field("label").type == pa.string()


# ── writer schemas other than the reader ────────────────────────────────────────────────────────────────


def test_records_of_the_reader_id_never_ask_the_registry(registry: FakeRegistry) -> None:
    plan = plan_for(PRODUCT)

    decode(plan, [encode(plan.reader_schema, product_event("c", i)) for i in range(5)])

    assert registry.fetched == []
    assert registry.latest_asked == []


def test_older_writer_lands_null_in_the_column_the_reader_added(registry: FakeRegistry) -> None:
    columns = (*PRODUCT.columns, Column(name="color", type="varchar(20)", nullable=True))
    reader = schema_for_columns(PRODUCT, columns)
    plan = plan_for(PRODUCT, reader=reader)
    registry.schemas[5] = envelope_schema(PRODUCT)
    old = encode(registry.schemas[5], product_event("c", 1), schema_id=5)
    new = encode(reader, envelope("c", PRODUCT, after=product_row(2) | {"color": "red"}))

    decoded = decode(plan, [old, new])

    assert decoded.dead == []
    rows = decoded.rows.to_pylist()
    assert [(r["product_id"], r["color"], r["_schema_id"]) for r in rows] == [(1, None, 5), (2, "red", READER_ID)]
    assert rows[0]["unit_price"] == Decimal("19.99")
    assert decoded.rows.schema == plan.landing.arrow_schema(with_kind=True)
    assert registry.latest_asked == []


def _newer_writer(registry: FakeRegistry, writer_id: int = 8) -> tuple[DecodePlan, bytes]:
    plan = plan_for(PRODUCT)
    columns = (*PRODUCT.columns, Column(name="coupon", type="varchar(20)", nullable=True))
    registry.schemas[writer_id] = schema_for_columns(PRODUCT, columns)
    value = encode(
        registry.schemas[writer_id],
        envelope("c", PRODUCT, after=product_row(3) | {"coupon": "SPRING"}),
        schema_id=writer_id,
    )
    return plan, value


def test_newer_writer_with_a_newer_registered_reader_fails_the_batch(registry: FakeRegistry) -> None:
    plan, newer = _newer_writer(registry)
    registry.latest = (9, registry.schemas[8])

    with pytest.raises(ReaderSchemaOutdated) as caught:
        decode(plan, [encode(plan.reader_schema, product_event()), newer])

    message = str(caught.value)
    assert "product: schema id 8 has column(s) coupon the reader (id 7) lacks" in message
    assert "newer reader id 9 is registered" in message
    assert registry.latest_asked == ["retail.product.cdc-value"]


@pytest.mark.parametrize("latest_id", [READER_ID, None])
def test_newer_writer_without_a_newer_reader_is_a_schema_mismatch(
    registry: FakeRegistry, latest_id: int | None
) -> None:
    plan, newer = _newer_writer(registry)
    registry.latest = None if latest_id is None else (latest_id, plan.reader_schema)
    good = encode(plan.reader_schema, product_event("c", 1))

    decoded = decode(plan, [good, newer, good, newer])

    assert [r["_kafka_offset"] for r in decoded.rows.to_pylist()] == [100, 102]
    assert [(d.offset, d.error_class, d.schema_id) for d in decoded.dead] == [
        (101, "SchemaMismatch", 8),
        (103, "SchemaMismatch", 8),
    ]
    assert "schema id 8 has column(s) coupon" in decoded.dead[0].error_message
    assert "retail.product.cdc-value (id 7)" in decoded.dead[0].error_message
    assert registry.fetched == [8]  # resolved once, the verdict cached
    assert registry.latest_asked == ["retail.product.cdc-value"]


def test_writer_schemas_are_fetched_once_per_decoder(registry: FakeRegistry) -> None:
    plan = plan_for(PRODUCT)
    registry.schemas[5] = envelope_schema(PRODUCT)
    old = encode(registry.schemas[5], product_event(), schema_id=5)
    unknown = encode(plan.reader_schema, product_event(), schema_id=99)
    decoder = EnvelopeDecoder(plan, NOW_US)

    first = decoder.decode(kafka_batch([old, unknown, old, unknown, old]))
    second = decoder.decode(kafka_batch([unknown, old]))

    assert registry.fetched == [5, 99]
    assert first.rows.num_rows == 3
    assert second.rows.num_rows == 1
    assert [d.error_class for d in (*first.dead, *second.dead)] == ["SchemaMismatch"] * 3
    assert {d.schema_id for d in (*first.dead, *second.dead)} == {99}


@pytest.mark.parametrize(
    "writer",
    [
        {"type": "string"},
        {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]},
        {"type": "record", "name": "Other", "fields": [{"name": "before", "type": "string"}]},
        {"type": "record", "name": "Other", "fields": [{"name": "before", "type": ["null"]}]},
    ],
)
def test_writer_schema_that_is_not_an_envelope_is_a_schema_mismatch(
    registry: FakeRegistry, writer: dict[str, Any]
) -> None:
    plan = plan_for(PRODUCT)
    registry.schemas[6] = writer

    decoded = decode(plan, [b"\x00\x00\x00\x00\x06\x02", _good(plan)])

    (letter,) = decoded.dead
    assert (letter.error_class, letter.schema_id) == ("SchemaMismatch", 6)
    assert "schema id 6 is not a Debezium envelope" in letter.error_message
    assert decoded.rows.num_rows == 1


def test_writer_lacking_a_required_reader_column_is_a_schema_mismatch(registry: FakeRegistry) -> None:
    plan = plan_for(PRODUCT)
    columns = tuple(c for c in PRODUCT.columns if c.name != "sku")
    registry.schemas[4] = schema_for_columns(PRODUCT, columns)
    row = {k: v for k, v in product_row().items() if k != "sku"}

    decoded = decode(plan, [encode(registry.schemas[4], envelope("c", PRODUCT, after=row), schema_id=4), _good(plan)])

    (letter,) = decoded.dead
    assert (letter.error_class, letter.schema_id) == ("SchemaMismatch", 4)
    assert letter.error_message.startswith("cannot decode with schema id 4")
    assert decoded.rows.num_rows == 1


# ── decode_partition (the mapInArrow body) ──────────────────────────────────────────────────────────────


def test_decode_partition_yields_rows_and_markers_and_hands_over_dead_letters_once() -> None:
    plan = plan_for(PRODUCT)
    good = _good(plan)
    batches = [
        kafka_batch([good, b"bad"], first_offset=0),
        kafka_batch([None, None], first_offset=2),
        kafka_batch([good, b"\x00"], first_offset=4),
    ]
    handed: list[tuple[list[DeadLetter], int]] = []
    before_us = micros(dt.datetime.now(UTC))

    out = list(decode_partition(plan, iter(batches), lambda letters, now: handed.append((letters, now))))

    kinds = [batch.column(RECORD_KIND).to_pylist() for batch in out]
    assert kinds == [["row"], ["dead"], ["tombstone", "tombstone"], ["row"], ["dead"]]
    assert all(batch.schema == plan.landing.arrow_schema(with_kind=True) for batch in out)
    assert len(handed) == 1
    letters, now_us = handed[0]
    assert [(d.offset, d.error_class) for d in letters] == [(1, "BadFraming"), (5, "BadFraming")]
    assert before_us <= now_us <= micros(dt.datetime.now(UTC))
    assert {r["_ingested_at"] for b in out[::3] for r in b.to_pylist()} == {EPOCH + dt.timedelta(microseconds=now_us)}


def test_decode_partition_without_dead_letters_does_not_call_the_sink() -> None:
    plan = plan_for(PRODUCT)
    calls: list[Any] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield kafka_batch([_good(plan)])
        yield kafka_batch([])

    out = list(decode_partition(plan, batches(), lambda *args: calls.append(args)))

    assert calls == []
    assert [b.num_rows for b in out] == [1]  # empty row batches are not yielded, nor absent markers
