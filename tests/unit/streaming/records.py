"""Builders for the streaming unit tests: Debezium events encoded as capture writes them, in Kafka-column batches."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import fastavro
import pyarrow as pa

from schemas.catalog import Table, load_catalog, parse_catalog
from schemas.debezium import envelope_schema, subject_names
from schemas.envelope import Operation, PostgresPosition, build_envelope, postgres_source
from schemas.framing import frame
from streaming.decode import DecodePlan
from streaming.landing_schema import landing_schema
from streaming.source.kafka_log import KAFKA_ARROW_SCHEMA
from streaming.writer_schemas import RegistryEndpoint

CATALOG: Final = load_catalog()
REGISTRY: Final = RegistryEndpoint("http://registry.invalid:8081")
READER_ID: Final = 7
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# One table with every catalog column type, so each conversion of the decoder can be exercised.
EVERY_TYPE: Final[Table] = parse_catalog(
    {
        "topic_prefix": "test",
        "database": "testdb",
        "source_schema": "public",
        "connector_name": "test",
        "tables": {
            "every_type": {
                "role": "fact",
                "primary_key": ["id"],
                "columns": [
                    {"name": "id", "type": "int64"},
                    {"name": "small", "type": "int16", "nullable": True},
                    {"name": "medium", "type": "int32", "nullable": True},
                    {"name": "label", "type": "varchar(20)", "nullable": True},
                    {"name": "body", "type": "text", "nullable": True},
                    {"name": "flag", "type": "boolean", "nullable": True},
                    {"name": "ratio", "type": "float64", "nullable": True},
                    {"name": "price", "type": "decimal(5,2)", "nullable": True},
                    {"name": "born", "type": "date", "nullable": True},
                    {"name": "seen_at", "type": "timestamp", "nullable": True},
                    {"name": "zoned_at", "type": "timestamptz", "nullable": True},
                    {"name": "token", "type": "uuid", "nullable": True},
                    {"name": "doc", "type": "json", "nullable": True},
                ],
            }
        },
    },
    Path("test-catalog.toml"),
).table("every_type")


def micros(when: dt.datetime) -> int:
    """Epoch microseconds of an aware datetime (Debezium's MicroTimestamp / source.ts_us)."""
    return (when - EPOCH) // dt.timedelta(microseconds=1)


def days(when: dt.date) -> int:
    """Epoch days of a date (Debezium's io.debezium.time.Date)."""
    return (when - dt.date(1970, 1, 1)).days


def plan_for(
    table: Table,
    reader: dict[str, Any] | None = None,
    reader_id: int = READER_ID,
    primary_key: tuple[str, ...] | None = None,
) -> DecodePlan:
    """The decode plan of ``table`` reading with ``reader`` (default: the catalog's envelope schema)."""
    schema = envelope_schema(table) if reader is None else reader
    return DecodePlan(
        table=table.name,
        subject=subject_names(table)[1],
        primary_key=table.primary_key if primary_key is None else primary_key,
        reader_id=reader_id,
        reader_schema=schema,
        landing=landing_schema(schema),
        registry=REGISTRY,
    )


def source(
    table: Table,
    commit: dt.datetime = dt.datetime(2024, 3, 5, 17, 45, 30, 123456, tzinfo=dt.UTC),
    *,
    lsn: int = 1_000,
    tx_id: int | None = 42,
    snapshot: Any = "false",
) -> dict[str, Any]:
    """A PostgreSQL ``source`` block committed at ``commit``."""
    return postgres_source(
        connector_name="test",
        database="db",
        schema="public",
        table=table.name,
        position=PostgresPosition(lsn=lsn, tx_id=tx_id, commit_ts_us=micros(commit)),
        snapshot=snapshot,
    )


def envelope(
    op: Operation,
    table: Table,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    src: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An envelope record as capture builds it; events ``build_envelope`` refuses (no image) are built as is."""
    block = dict(source(table) if src is None else src)
    processed_at_us = block["ts_us"] or block["ts_ms"] * 1000
    try:
        return build_envelope(op, before=before, after=after, source=block, processed_at_us=processed_at_us)
    except ValueError:  # 'c' without an after image, 'd' without a before image: broken on purpose
        return {
            "before": before,
            "after": after,
            "source": block,
            "transaction": None,
            "op": op,
            "ts_ms": processed_at_us // 1000,
            "ts_us": processed_at_us,
            "ts_ns": processed_at_us * 1000,
        }


def encode(schema: dict[str, Any], record: Mapping[str, Any], schema_id: int = READER_ID) -> bytes:
    """The record as capture publishes it: Avro body with the Confluent framing of ``schema_id``."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema, named_schemas={}), dict(record))
    return frame(schema_id, buffer.getvalue())


def product_row(product_id: int = 1, **changes: Any) -> dict[str, Any]:
    """A ``product`` row image in Debezium encodings."""
    stamp = micros(dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC))
    row = {
        "product_id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Product {product_id}",
        "description": None,
        "category": "toys",
        "subcategory": None,
        "brand": "Acme",
        "unit_price": Decimal("19.99"),
        "cost": Decimal("7.50"),
        "active": True,
        "created_at": stamp,
        "updated_at": stamp,
    }
    row.update(changes)
    return row


def every_type_row(row_id: int = 1, **changes: Any) -> dict[str, Any]:
    """An ``every_type`` row image with all columns null except the key (and ``changes``)."""
    row: dict[str, Any] = {column.name: None for column in EVERY_TYPE.columns}
    row["id"] = row_id
    row.update(changes)
    return row


def kafka_batch(
    values: Sequence[bytes | None],
    *,
    topic: str = "retail.product.cdc",
    partition: int = 3,
    first_offset: int = 100,
    timestamps_us: Sequence[int | None] | None = None,
    keys: Sequence[bytes | None] | None = None,
) -> pa.RecordBatch:
    """A batch with the Kafka source's columns, consecutive offsets from ``first_offset``."""
    count = len(values)
    stamps = list(timestamps_us) if timestamps_us is not None else [1_709_660_730_000_000 + i for i in range(count)]
    return pa.RecordBatch.from_pydict(
        {
            "key": list(keys) if keys is not None else [f"key-{i}".encode() for i in range(count)],
            "value": list(values),
            "topic": [topic] * count,
            "partition": [partition] * count,
            "offset": [first_offset + i for i in range(count)],
            "timestamp": stamps,
            "timestampType": [0] * count,
            "headers": [[] for _ in range(count)],
        },
        schema=KAFKA_ARROW_SCHEMA,
    )
