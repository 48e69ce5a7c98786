"""Kafka records as Parquet files: the streaming source both Spark 3.5 and 4.x have, with the Kafka source's columns.

A :class:`TopicLog` builds the records of one topic the way the capture publishes them (Confluent-framed Debezium
Avro keys and values, a tombstone after a delete) plus whatever raw bytes a test wants, numbers them per
partition like a broker would, and writes them to files whose schema is exactly ``KAFKA_ARROW_SCHEMA``. A
streaming query reads the folder with ``spark.readStream.schema(KAFKA_SPARK_DDL).parquet(folder)``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from fastavro import parse_schema, schemaless_writer

from schemas.catalog import Table
from schemas.debezium import key_schema
from schemas.envelope import Operation, PostgresPosition, build_envelope, key_of, postgres_source
from schemas.framing import frame
from streaming.source.kafka_log import KAFKA_ARROW_SCHEMA

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = dt.date(1970, 1, 1)


def micros(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def avro_body(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


@dataclass(frozen=True)
class Record:
    """One Kafka record of the folder; ``expected`` describes the landing row a valid change must become."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_us: int
    expected: Expected | None = None


@dataclass(frozen=True)
class Expected:
    """What a change event must land as: its row image (Debezium encodings) and its CDC metadata."""

    image: dict[str, Any]
    op: str
    lsn: int
    tx_id: int
    source_ts: dt.datetime
    snapshot: bool
    schema_id: int


@dataclass
class TopicLog:
    """The records of one table's topic, numbered per partition like a broker does."""

    table: Table
    key_schema_id: int
    connector_name: str = "retail"
    _next_offset: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _parsed: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._key_schema = parse_schema(key_schema(self.table), named_schemas={})

    def _record(self, partition: int, key: bytes | None, value: bytes | None, at: dt.datetime, **kw: Any) -> Record:
        offset = self._next_offset[partition]
        self._next_offset[partition] = offset + 1
        # The broker's append time: a little after the source commit.
        return Record(partition, offset, key, value, micros(at) + 2_000, **kw)

    def _key(self, row: dict[str, Any]) -> bytes:
        return frame(self.key_schema_id, avro_body(self._key_schema, key_of(row, self.table.primary_key)))

    def encode(
        self,
        op: Operation,
        *,
        schema: tuple[int, dict[str, Any]],
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        lsn: int,
        tx_id: int,
        at: dt.datetime,
    ) -> tuple[bytes, bytes, Expected]:
        """(key, value, expectation) of a Debezium change event written with ``schema`` = (registry id, envelope)."""
        schema_id, envelope = schema
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            parsed = self._parsed[schema_id] = parse_schema(envelope, named_schemas={})
        snapshot = op == "r"
        source = postgres_source(
            connector_name=self.connector_name,
            database=self.table.database,
            schema=self.table.source_schema,
            table=self.table.name,
            position=PostgresPosition(lsn=lsn, tx_id=tx_id, commit_ts_us=micros(at)),
            snapshot="true" if snapshot else "false",
        )
        event = build_envelope(op, before=before, after=after, source=source, processed_at_us=micros(at) + 1_000)
        image = before if op == "d" else after
        assert image is not None
        expected = Expected(dict(image), op, lsn, tx_id, at, snapshot, schema_id)
        return self._key(image), frame(schema_id, avro_body(parsed, event)), expected

    def change(self, partition: int, op: Operation, **event: Any) -> Record:
        """The next record of ``partition``: a change event (arguments as :meth:`encode`)."""
        key, value, expected = self.encode(op, **event)
        return self._record(partition, key, value, event["at"], expected=expected)

    def tombstone(self, partition: int, row: dict[str, Any], at: dt.datetime) -> Record:
        """The null-value record that follows a delete (log compaction removes the key)."""
        return self._record(partition, self._key(row), None, at)

    def raw(self, partition: int, value: bytes, at: dt.datetime) -> Record:
        """A record with arbitrary value bytes (poison for the decoder)."""
        return self._record(partition, None, value, at)

    def write(self, path: Path, records: Sequence[Record]) -> Path:
        """One Parquet file of records, with exactly the Kafka source's columns (names, order, types)."""
        rows = [
            {
                "key": r.key,
                "value": r.value,
                "topic": self.table.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp_us,
                "timestampType": 1,
                "headers": [{"key": "origin", "value": b"spark_compat"}],
            }
            for r in records
        ]
        data = pa.Table.from_pylist(rows, schema=KAFKA_ARROW_SCHEMA)
        assert data.schema.equals(KAFKA_ARROW_SCHEMA)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path)
        return path


def customer(customer_id: int, **changes: Any) -> dict[str, Any]:
    """A ``customer`` row image in Debezium encodings (dates as epoch days, timestamps as epoch micros)."""
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "email": f"customer{customer_id}@example.com",
        "first_name": f"First{customer_id}",
        "last_name": "Müller",
        "phone": None if customer_id % 2 else f"+1-555-010{customer_id}",
        "birth_date": 7_000 + customer_id,
        "segment": "consumer",
        "address_line1": f"{customer_id} Main Street",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "loyalty_tier": "gold" if customer_id % 3 == 0 else None,
        "created_at": micros(utc(2025, 12, 1, 9)) + customer_id,
        "updated_at": micros(utc(2025, 12, 1, 9)) + customer_id,
    }
    row.update(changes)
    return row


def epoch_value(value: Any) -> Any:
    """A landed value in the Debezium encoding of the event (dates as epoch days, timestamps as epoch micros)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return micros(aware)
    if isinstance(value, dt.date):
        return (value - EPOCH_DATE).days
    return value


def as_utc(value: Any) -> dt.datetime:
    """A landed TIMESTAMP as an aware UTC datetime, however Parquet stored it (INT96 or INT64, with or without tz)."""
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp from INT96 nanoseconds
        value = value.to_pydatetime()
    assert isinstance(value, dt.datetime), value
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def read_landed(folder: Path) -> list[dict[str, Any]]:
    """Every landed row (hive partitions year/month/day/hour as columns); Spark's ``_spark_metadata`` skipped."""
    if not folder.exists():
        return []
    # Files written before a column was added lack it: read every file with the union of their schemas.
    dataset = pads.dataset(folder, format="parquet", partitioning="hive")
    schemas = [fragment.physical_schema for fragment in dataset.get_fragments()]
    partitions = dataset.partitioning.schema if dataset.partitioning is not None else pa.schema([])
    unified = pa.unify_schemas([*schemas, partitions]) if schemas else dataset.schema
    dataset = pads.dataset(folder, schema=unified, format="parquet", partitioning="hive")
    return list(dataset.to_table().to_pylist())


def data_files(folder: Path) -> set[str]:
    """Paths (relative to ``folder``) of the Parquet data files on disk."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    }


def committed_files(folder: Path) -> set[str]:
    """Paths (relative to ``folder``) the file sink's ``_spark_metadata`` log lists as committed."""
    log = folder / "_spark_metadata"
    if not log.exists():
        return set()
    files: set[str] = set()
    for entry in sorted(log.iterdir()):
        if entry.name.startswith("."):
            continue
        lines = entry.read_text().splitlines()
        assert lines and lines[0] == "v1", f"{entry}: unexpected file sink log version {lines[:1]}"
        for line in lines[1:]:
            if not line.strip():
                continue
            status = json.loads(line)
            path = Path(unquote(urlsplit(status["path"]).path))
            if status.get("action", "add") == "add":
                files.add(str(path.relative_to(folder.resolve())))
            else:
                files.discard(str(path.relative_to(folder.resolve())))
    return files


def by_kafka_position(rows: Iterable[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    """Landed rows keyed by (Kafka partition, offset), failing on duplicates."""
    keyed: dict[tuple[int, int], dict[str, Any]] = {}
    for row in rows:
        position = (row["_kafka_partition"], row["_kafka_offset"])
        assert position not in keyed, f"landed twice: {position}"
        keyed[position] = row
    return keyed
