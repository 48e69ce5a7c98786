"""The fast envelope encoder writes exactly the bytes fastavro writes for the whole envelope schema."""

from __future__ import annotations

import io
import random
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from producers.encoding import AvroEncoder, EnvelopeEncoder, zigzag_varint
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema
from schemas.framing import unframe

CATALOG = load_catalog()


def _value(column_kind: str, rng: random.Random) -> Any:
    return {
        "int16": rng.randint(-(2**15), 2**15 - 1),
        "int32": rng.randint(-(2**31), 2**31 - 1),
        "int64": rng.randint(-(2**63), 2**63 - 1),
        "boolean": rng.random() < 0.5,
        "float64": rng.uniform(-1e9, 1e9),
        "date": rng.randint(-30000, 30000),
        "timestamp": rng.randint(-(2**50), 2**50),
        "decimal": Decimal(rng.randint(-(10**10), 10**10)).scaleb(-2),
    }.get(column_kind, "".join(rng.choice("aé€𝄞 z") for _ in range(rng.randint(0, 20))))


def _row(table_name: str, rng: random.Random) -> dict[str, Any]:
    table = CATALOG.table(table_name)
    return {
        c.name: None if c.nullable and rng.random() < 0.3 else _value(c.column_type.kind, rng) for c in table.columns
    }


def _envelope(table_name: str, rng: random.Random) -> dict[str, Any]:
    op = rng.choice("crud")
    before = None if op in "cr" else _row(table_name, rng)
    after = None if op == "d" else _row(table_name, rng)
    maybe = lambda: None if rng.random() < 0.3 else rng.randint(-(2**62), 2**62)  # noqa: E731
    source = {
        "version": "v",
        "connector": "postgresql",
        "name": "retail",
        "ts_ms": rng.randint(0, 2**45),
        "snapshot": rng.choice(["true", "last", "false", None]),
        "db": "retail",
        "sequence": rng.choice([None, '["1","2"]']),
        "ts_us": maybe(),
        "ts_ns": maybe(),
        "schema": "public",
        "table": table_name,
        "txId": maybe(),
        "lsn": maybe(),
        "xmin": maybe(),
    }
    transaction = rng.choice([None, {"id": "tx-1", "total_order": 3, "data_collection_order": 1}])
    return {
        "before": before,
        "after": after,
        "source": source,
        "transaction": transaction,
        "op": op,
        "ts_ms": maybe(),
        "ts_us": maybe(),
        "ts_ns": maybe(),
    }


@pytest.mark.parametrize("table_name", [table.name for table in CATALOG.tables])
def test_envelope_encoder_matches_fastavro_byte_for_byte(table_name: str) -> None:
    rng = random.Random(table_name)
    schema = envelope_schema(CATALOG.table(table_name))
    reference = AvroEncoder(schema, 77)
    fast = EnvelopeEncoder(schema, 77)
    parsed = fastavro.parse_schema(schema)
    for _ in range(300):
        envelope = _envelope(table_name, rng)
        encoded = fast.encode(envelope)
        assert encoded == reference.encode(envelope)
        schema_id, body = unframe(encoded)
        assert schema_id == 77
        assert fastavro.schemaless_reader(io.BytesIO(body), parsed) == envelope


def test_envelope_encoder_refuses_other_schemas() -> None:
    with pytest.raises(ValueError, match="not a Debezium envelope"):
        EnvelopeEncoder({"type": "record", "name": "X", "fields": [{"name": "a", "type": "int"}]}, 1)


@pytest.mark.parametrize("value", [0, -1, 1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1])
def test_zigzag_varint_matches_fastavro(value: int) -> None:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", value)
    assert zigzag_varint(value) == buffer.getvalue()
