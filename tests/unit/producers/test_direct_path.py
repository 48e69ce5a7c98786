"""The streaming fast path writes exactly the bytes of the general path (decode, build envelope, encode)."""

from __future__ import annotations

import random
import struct
import tomllib
from pathlib import Path

import pytest

from producers.capture.postgres.direct import DirectCodec, envelope_bytes, split_tuples
from producers.capture.postgres.events import SourceContext, change_events
from producers.capture.postgres.pgoutput import Delete, Insert, Relation, RelationColumn, Update, parse_message
from producers.capture.postgres.relations import RelationMap
from producers.encoding import AvroEncoder, EnvelopeEncoder
from schemas.catalog import parse_catalog
from schemas.debezium import envelope_schema, key_schema
from schemas.envelope import PostgresPosition

CATALOG = parse_catalog(
    tomllib.loads(
        """
topic_prefix = "t"
topic_pattern = "{prefix}.{table}.cdc"
database = "retail"
source_schema = "public"
connector = "postgresql"
connector_name = "retail"
[tables.everything]
role = "fact"
primary_key = ["id", "code"]
columns = [
  { name = "id", type = "int64" }, { name = "code", type = "varchar(8)" }, { name = "small", type = "int16" },
  { name = "medium", type = "int32", nullable = true }, { name = "label", type = "text", nullable = true },
  { name = "flag", type = "boolean" }, { name = "ratio", type = "float64", nullable = true },
  { name = "price", type = "decimal(12,2)" }, { name = "rate", type = "decimal(9,4)", nullable = true },
  { name = "day", type = "date", nullable = true }, { name = "at", type = "timestamp" },
  { name = "zoned", type = "timestamptz", nullable = true }, { name = "ref", type = "uuid", nullable = true },
  { name = "doc", type = "json", nullable = true },
]
"""
    ),
    Path("test.toml"),
)
TABLE = CATALOG.table("everything")
CONTEXT = SourceContext("retail", "retail")
OIDS = {
    "int64": (20, -1),
    "varchar": (1043, 12),
    "int16": (21, -1),
    "int32": (23, -1),
    "text": (25, -1),
    "boolean": (16, -1),
    "float64": (701, -1),
    "decimal(12,2)": (1700, (12 << 16 | 2) + 4),
    "decimal(9,4)": (1700, (9 << 16 | 4) + 4),
    "date": (1082, -1),
    "timestamp": (1114, 6),
    "timestamptz": (1184, 6),
    "uuid": (2950, -1),
    "json": (3802, -1),
}


def _relation() -> Relation:
    columns = []
    for column in TABLE.columns:
        kind = column.type if column.type.startswith("decimal") else column.column_type.kind
        columns.append(RelationColumn(column.name, *OIDS[kind], is_key=column.name in TABLE.primary_key))
    return Relation(1, "public", "everything", "f", tuple(columns))


def _text(kind: str, rng: random.Random) -> str:
    if kind == "decimal(12,2)":
        return f"{rng.choice(['', '-'])}{rng.randint(0, 10**10)}.{rng.randint(0, 99):02d}"
    if kind == "decimal(9,4)":
        return f"{rng.choice(['', '-'])}{rng.randint(0, 10**5)}.{rng.randint(0, 9999):04d}"
    return {
        "int64": str(rng.randint(-(2**63), 2**63 - 1)),
        "varchar": rng.choice(["a", "é€", "", "𝄞x"]),
        "int16": str(rng.randint(-(2**15), 2**15 - 1)),
        "int32": str(rng.randint(-(2**31), 2**31 - 1)),
        "text": "".join(rng.choice("ab é\n\"'") for _ in range(rng.randint(0, 30))),
        "boolean": rng.choice("tf"),
        "float64": repr(rng.uniform(-1e6, 1e6)),
        "date": f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "timestamp": f"{rng.randint(1900, 2100)}-01-02 03:04:05.{rng.randint(0, 999999):06d}",
        "timestamptz": f"2026-11-22 10:00:00.{rng.randint(0, 999999):06d}+0{rng.randint(0, 9)}",
        "uuid": "0b9b5f2e-7f0e-4a5e-9d55-0d1f3a1f2b3c",
        "json": '{"a": [1, 2]}',
    }[kind]


def _row(rng: random.Random) -> tuple[str | None, ...]:
    values = []
    for column in TABLE.columns:
        kind = column.type if column.type.startswith("decimal") else column.column_type.kind
        values.append(None if column.nullable and rng.random() < 0.3 else _text(kind, rng))
    return tuple(values)


def _tuple(values: tuple[str | None, ...]) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        else:
            encoded = value.encode()
            out += b"t" + struct.pack(">i", len(encoded)) + encoded
    return out


@pytest.mark.parametrize("seed", range(5))
def test_direct_bytes_equal_the_general_path(seed: int) -> None:
    rng = random.Random(seed)
    binding = RelationMap([TABLE]).bind(_relation())
    assert binding is not None
    codec = DirectCodec(binding, CONTEXT)
    key_encoder, value_encoder = AvroEncoder(key_schema(TABLE), 3), EnvelopeEncoder(envelope_schema(TABLE), 4)
    for _ in range(200):
        old, new = _row(rng), _row(rng)
        new = old[:2] + new[2:]  # same key: a plain update
        for data, op in (
            (b"I" + struct.pack(">I", 1) + b"N" + _tuple(new), b"c"),
            (b"U" + struct.pack(">I", 1) + b"O" + _tuple(old) + b"N" + _tuple(new), b"u"),
            (b"D" + struct.pack(">I", 1) + b"O" + _tuple(old), b"d"),
        ):
            position = PostgresPosition(
                rng.randint(1, 2**40),
                rng.randint(1, 2**31),
                rng.randint(0, 2**52),
                rng.choice([None, rng.randint(1, 2**40)]),
            )
            message = parse_message(data)
            assert isinstance(message, Insert | Update | Delete)
            (key, envelope), *_ = change_events(CONTEXT, binding, message, position, 1_795_000_000_123_456)
            assert envelope is not None
            _, old_at, _, new_at = split_tuples(data)
            before = after = None
            if old_at is not None:
                old_result = codec.tuple_bytes(data, old_at)
                assert old_result is not None
                before, direct_key, end = old_result
                new_at = end + 1 if new_at == -1 else new_at
            if new_at is not None:
                new_result = codec.tuple_bytes(data, new_at)
                assert new_result is not None
                after, direct_key, _ = new_result
            source = codec.source_bytes(
                lsn=position.lsn,
                tx_id=position.tx_id or 0,
                commit_ts_us=position.commit_ts_us,
                last_commit_lsn=position.last_commit_lsn,
            )
            direct = envelope_bytes(value_encoder.header, before, after, source, op, 1_795_000_000_123_456)
            assert direct == value_encoder.encode(envelope)
            assert key_encoder.header + direct_key == key_encoder.encode(key)


def test_unusual_tuples_fall_back_to_the_general_path() -> None:
    binding = RelationMap([TABLE]).bind(_relation())
    assert binding is not None
    codec = DirectCodec(binding, CONTEXT)
    row = _row(random.Random(1))
    required_null = (row[0], None, *row[2:])  # a key-only old image has nulls in required columns
    assert codec.tuple_bytes(_tuple(required_null), 0) is None
    unchanged_toast = _tuple(row[:-1]) + b"u"  # the last value was not sent (unchanged TOAST)
    unchanged_toast = struct.pack(">h", len(row)) + unchanged_toast[2:]
    assert codec.tuple_bytes(unchanged_toast, 0) is None
