"""Poison records go to dlq/ with a reason while the valid records around them land, and the job keeps going."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import pyarrow.dataset as ds
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.topics import ensure_topics
from schemas.catalog import Catalog, Table
from schemas.debezium import envelope_schema, key_schema, subject_names
from schemas.envelope import PostgresPosition, build_envelope, postgres_source
from schemas.framing import frame
from schemas.registry import SchemaRegistry
from tests.support.landing import land, landed
from tests.support.sourcedb import catalog_copy


def _customer(customer_id: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id, "email": f"c{customer_id}@example.com", "first_name": "Ada", "last_name": "L",
        "phone": None, "birth_date": 3000, "segment": "consumer", "address_line1": "1 Main St", "city": "X",
        "state": "IL", "postal_code": "62701", "country": "US", "loyalty_tier": None,
        "created_at": 1_790_000_000_000_000, "updated_at": 1_790_000_000_000_000,
    }  # fmt: skip


def _envelope(table: Table, op: str, row: dict[str, Any] | None, lsn: int) -> dict[str, Any]:
    source = postgres_source(
        connector_name="retail", database="retail", schema="public", table=table.name,
        position=PostgresPosition(lsn=lsn, tx_id=lsn // 10, commit_ts_us=1_795_000_000_000_000 + lsn),
    )  # fmt: skip
    envelope = build_envelope(
        "c", before=None, after=row or {}, source=source, processed_at_us=1_795_000_000_000_000 + lsn
    )
    envelope["op"], envelope["after"] = op, row
    return envelope


def _encode(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema, named_schemas={}), record)
    return buffer.getvalue()


@pytest.fixture
def poisoned(stack_endpoints: dict[str, str], tmp_path: Path) -> tuple[Catalog, dict[int, str]]:
    """A customer topic of valid events with poison records between them: offset -> expected error class."""
    catalog, _ = catalog_copy(tmp_path)
    table = catalog.table("customer")
    kafka = KafkaSettings(bootstrap_servers=stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"])
    ensure_topics(kafka.librdkafka_config(), [table.topic], partitions=1, replication=1)
    registry = SchemaRegistry(SchemaRegistrySettings(url=stack_endpoints["SCHEMA_REGISTRY_URL"]))
    key_subject, value_subject = subject_names(table)
    key_id = registry.register(key_subject, key_schema(table)).schema_id
    value = envelope_schema(table)
    value_id = registry.register(value_subject, value).schema_id
    registry.close()

    def valid(customer_id: int) -> tuple[bytes, bytes]:
        key = frame(key_id, _encode(key_schema(table), {"customer_id": customer_id}))
        return key, frame(value_id, _encode(value, _envelope(table, "c", _customer(customer_id), customer_id * 100)))

    good = valid(1)[1]
    out_of_range = _customer(7) | {"birth_date": 5_000_000}  # year 15659: beyond what Parquet/Spark dates hold
    poison: list[tuple[str, bytes | None]] = [
        ("BadFraming", b'{"customer_id": 2}'),  # JSON where Avro was expected
        ("BadFraming", b"\x01" + good[1:]),  # wrong magic byte
        ("SchemaMismatch", frame(987_654, good[5:])),  # unknown schema id
        ("TruncatedRecord", good[:-30]),
        ("TrailingBytes", good + b"\x00\x01"),
        ("MissingPrimaryKey", frame(value_id, _encode(value, _envelope(table, "c", None, 600)))),
        ("ValueOutOfRange", frame(value_id, _encode(value, _envelope(table, "c", out_of_range, 700)))),
        ("UnsupportedOperation", frame(value_id, _encode(value, _envelope(table, "t", None, 800)))),
    ]
    producer = Producer(kafka.librdkafka_config())
    expected: dict[int, str] = {}
    offset = 0
    for index, (error_class, payload) in enumerate(poison):
        for customer_id in (10 * index + 1, 10 * index + 2):  # valid records on both sides of each poison
            producer.produce(table.topic, value=valid(customer_id)[1], key=valid(customer_id)[0], partition=0)
            offset += 1
        producer.produce(table.topic, value=payload, key=b"k", partition=0)
        expected[offset] = error_class
        offset += 1
    producer.produce(table.topic, value=valid(999)[1], key=valid(999)[0], partition=0)
    assert producer.flush(30) == 0
    return catalog, expected


def test_poison_records_go_to_the_dead_letter_sink_and_the_stream_goes_on(
    poisoned: tuple[Catalog, dict[int, str]], stack_endpoints: dict[str, str], spark: SparkSession, tmp_path: Path
) -> None:
    catalog, expected = poisoned
    lake = LakeLocation(str(tmp_path / "lake"))
    (progress,) = land(spark, stack_endpoints, catalog, lake, tables=["customer"])

    valid_count = 2 * len(expected) + 1
    rows = landed(lake, "customer")
    assert rows.num_rows == progress.rows == valid_count
    assert sorted(rows.column("customer_id").to_pylist()) == sorted(
        [10 * i + j for i in range(len(expected)) for j in (1, 2)] + [999]
    )
    assert progress.dead_letters == len(expected)

    dead = ds.dataset(Path(lake.path("dlq", "customer")), format="parquet", partitioning="hive").to_table()
    by_offset = {row["offset"]: row for row in dead.to_pylist()}
    assert {offset: row["error_class"] for offset, row in by_offset.items()} == expected
    for row in by_offset.values():
        assert row["topic"] == catalog.table("customer").topic and row["partition"] == 0
        assert row["value"] and row["error_message"] and row["table"] == "customer"
    assert "987654" in by_offset[next(o for o, c in expected.items() if c == "SchemaMismatch")]["error_message"]

    # A crash after the files were written but before the batch committed: Spark replays the batch from the
    # offsets log, and the dead letters land in the same files again instead of next to themselves.
    files_before = sorted(p.name for p in Path(lake.path("dlq")).rglob("*.parquet"))
    for log in (
        Path(lake.path("checkpoints", "landing", "customer", "commits")),
        Path(lake.path("landing", "customer", "_spark_metadata")),
    ):
        for name in ("0", ".0.crc"):
            (log / name).unlink()
    assert land(spark, stack_endpoints, catalog, lake, tables=["customer"])[0].dead_letters == len(expected)
    assert sorted(p.name for p in Path(lake.path("dlq")).rglob("*.parquet")) == files_before
    replayed = ds.dataset(Path(lake.path("dlq", "customer")), format="parquet", partitioning="hive").to_table()
    assert sorted(replayed.column("offset").to_pylist()) == sorted(expected)
