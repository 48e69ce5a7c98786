"""Decode Confluent-framed Debezium Avro into landing rows, vectorised per Arrow batch; errors are data.

Pure apart from the registry lookups (cached per executor). For each Kafka record: a null value is a tombstone
(counted, dropped); otherwise the framing is parsed, the writer schema fetched by id, the body decoded with
fastavro into the *latest* reader schema, and the envelope flattened into the table's columns plus CDC metadata.
Whatever cannot be landed becomes a :class:`DeadLetter` with a reason; nothing here raises for one bad record.
The one exception is :class:`ReaderSchemaOutdated`: a writer schema newer than the reader the query started
with. Decoding it with the old reader would drop the new column, so the batch fails and the job restarts the
table's query with the newer reader schema (the batch is then replayed from the checkpoint, nothing lost).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from fastavro import parse_schema, schemaless_reader

from streaming.dead_letters import DeadLetter
from streaming.landing_schema import LandingColumn, LandingSchema
from streaming.writer_schemas import RegistryEndpoint, UnknownSchemaId, latest_version, writer_schema

MAGIC_BYTE: Final = 0
HEADER_SIZE: Final = 5
ROW_OPERATIONS: Final = frozenset({"c", "u", "r", "d"})
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIXED_METADATA: Final = frozenset(
    {"_op", "_source_ts", "_snapshot", "_schema_id", "_kafka_topic", "_kafka_partition", "_kafka_offset",
     "_kafka_timestamp", "_ingested_at"}
)  # fmt: skip
# Spark's DATE/TIMESTAMP range is years 0001..9999.
_MIN_DAYS, _MAX_DAYS = -719_162, 2_932_896
_MIN_MICROS, _MAX_MICROS = -62_135_596_800_000_000, 253_402_300_799_999_999


class ReaderSchemaOutdated(Exception):
    """A record was written with fields the query's reader schema lacks, and the registry has a newer one."""


class RecordError(Exception):
    """A record that cannot be landed; its class name is the dead letter's ``error_class``."""


class BadFraming(RecordError):
    pass


class TruncatedRecord(RecordError):
    pass


class TrailingBytes(RecordError):
    pass


class SchemaMismatch(RecordError):
    pass


class MissingPrimaryKey(RecordError):
    pass


class ValueOutOfRange(RecordError):
    pass


class UnsupportedOperation(RecordError):
    pass


@dataclass(frozen=True)
class DecodePlan:
    """Everything a task needs to decode one table's topic (picklable, sent to executors)."""

    table: str
    subject: str
    primary_key: tuple[str, ...]
    reader_id: int
    reader_schema: dict[str, Any]
    landing: LandingSchema
    registry: RegistryEndpoint


@dataclass
class DecodedBatch:
    """The landing rows of one input batch, plus markers for tombstones and dead letters (for metrics)."""

    rows: pa.RecordBatch
    markers: pa.RecordBatch | None
    dead: list[DeadLetter] = field(default_factory=list)
    tombstones: int = 0


def _check_int16(name: str, value: Any) -> Any:
    if not -32_768 <= value <= 32_767:
        raise ValueOutOfRange(f"column '{name}': {value} does not fit int16")
    return value


def _check_days(name: str, value: Any) -> Any:
    if not _MIN_DAYS <= value <= _MAX_DAYS:
        raise ValueOutOfRange(f"column '{name}': day {value} is outside years 0001..9999")
    return value


def _check_micros(name: str, value: Any) -> Any:
    if not _MIN_MICROS <= value <= _MAX_MICROS:
        raise ValueOutOfRange(f"column '{name}': timestamp {value} µs is outside years 0001..9999")
    return value


def _millis(name: str, value: Any) -> Any:
    return _check_micros(name, value * 1000)


def _nanos(name: str, value: Any) -> Any:
    return _check_micros(name, value // 1000)


def _zoned(name: str, value: Any) -> Any:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueOutOfRange(f"column '{name}': {value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return _check_micros(name, (parsed - _EPOCH) // dt.timedelta(microseconds=1))


def _decimal_check(column: LandingColumn) -> Callable[[str, Any], Any]:
    assert column.precision is not None and column.scale is not None
    bound = Decimal(10) ** (column.precision - column.scale)
    scale = column.scale

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, Decimal) or abs(value) >= bound or -value.as_tuple().exponent > scale:  # type: ignore[operator]
            raise ValueOutOfRange(f"column '{name}': {value} does not fit decimal({column.precision},{scale})")
        return value

    return check


def _converter(column: LandingColumn) -> Callable[[str, Any], Any] | None:
    simple: dict[str, Callable[[str, Any], Any]] = {
        "int16": _check_int16,
        "date": _check_days,
        "micros": _check_micros,
        "millis": _millis,
        "nanos": _nanos,
        "zoned": _zoned,
        "enum": lambda _name, value: str(value),
    }
    if column.conversion == "decimal":
        return _decimal_check(column)
    return simple.get(column.conversion)


@dataclass
class _WriterEntry:
    """How to decode bodies written with one schema id, or why they cannot be."""

    writer: Any = None
    reader: Any = None
    error: RecordError | None = None


class EnvelopeDecoder:
    """Decodes one table's Kafka records; one instance per task (it caches resolved schemas per id)."""

    def __init__(self, plan: DecodePlan, now_us: int) -> None:
        self.plan = plan
        self.now_us = now_us
        self._entries: dict[int, _WriterEntry] = {}
        self._parsed_reader = parse_schema(plan.reader_schema, named_schemas={})
        self._reader_fields = _value_field_names(plan.reader_schema)
        self._columns = [(c.name, _converter(c)) for c in plan.landing.row]
        self._key_positions = [plan.landing.row_names.index(k) for k in plan.primary_key]
        self._postgres = plan.landing.connector == "postgresql"

    def _entry(self, schema_id: int) -> _WriterEntry:
        entry = self._entries.get(schema_id)
        if entry is None:
            entry = self._entries[schema_id] = self._resolve(schema_id)
        return entry

    def _resolve(self, schema_id: int) -> _WriterEntry:
        if schema_id == self.plan.reader_id:
            return _WriterEntry(writer=self._parsed_reader)
        try:
            schema = writer_schema(self.plan.registry, schema_id)
        except UnknownSchemaId as exc:
            return _WriterEntry(error=SchemaMismatch(str(exc)))
        try:
            fields = _value_field_names(schema)
        except (KeyError, TypeError, ValueError, StopIteration):  # no before field, or no record branch in it
            return _WriterEntry(error=SchemaMismatch(f"schema id {schema_id} is not a Debezium envelope"))
        extra = sorted(set(fields) - set(self._reader_fields))
        if extra:
            latest = latest_version(self.plan.registry, self.plan.subject)
            if latest is not None and latest[0] != self.plan.reader_id:
                raise ReaderSchemaOutdated(
                    f"{self.plan.table}: schema id {schema_id} has column(s) {', '.join(extra)} the reader "
                    f"(id {self.plan.reader_id}) lacks; newer reader id {latest[0]} is registered"
                )
            return _WriterEntry(
                error=SchemaMismatch(
                    f"schema id {schema_id} has column(s) {', '.join(extra)} that the latest registered "
                    f"schema of {self.plan.subject} (id {self.plan.reader_id}) does not have"
                )
            )
        return _WriterEntry(writer=parse_schema(schema, named_schemas={}), reader=self._parsed_reader)

    def _decode_body(self, schema_id: int, value: bytes) -> dict[str, Any]:
        entry = self._entry(schema_id)
        if entry.error is not None:
            raise type(entry.error)(str(entry.error))
        stream = io.BytesIO(value)
        stream.seek(HEADER_SIZE)
        try:
            record: dict[str, Any] = schemaless_reader(stream, entry.writer, entry.reader)  # type: ignore[assignment]
        except (EOFError, StopIteration, IndexError) as exc:
            raise TruncatedRecord(f"Avro body ends early ({len(value)} bytes, schema id {schema_id}): {exc}") from None
        except Exception as exc:  # fastavro raises ValueError/UnicodeDecodeError/SchemaResolutionError on corrupt data
            raise SchemaMismatch(f"cannot decode with schema id {schema_id}: {type(exc).__name__}: {exc}") from None
        if stream.tell() != len(value):
            raise TrailingBytes(f"{len(value) - stream.tell()} byte(s) left after the record (schema id {schema_id})")
        return record

    def _flatten(self, record: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        op = record["op"]
        if op not in ROW_OPERATIONS:
            raise UnsupportedOperation(f"op '{op}' carries no row to land")
        image = record["before"] if op == "d" else record["after"]
        if image is None:
            raise MissingPrimaryKey(f"op '{op}' without its {'before' if op == 'd' else 'after'} image")
        row = []
        for name, convert in self._columns:
            value = image.get(name)
            if convert is not None and value is not None:
                value = convert(name, value)
            row.append(value)
        for key_name, position in zip(self.plan.primary_key, self._key_positions, strict=True):
            if row[position] is None:
                raise MissingPrimaryKey(f"primary key column '{key_name}' is null")
        source = record["source"]
        source_us = source.get("ts_us") or source["ts_ms"] * 1000
        snapshot = source.get("snapshot") not in (None, "false")
        transaction = record.get("transaction")
        if self._postgres:
            tx_id = source.get("txId")
            source_position: list[Any] = [source.get("lsn"), None if tx_id is None else str(tx_id)]
        else:
            source_position = [
                source.get("commit_lsn"),
                source.get("change_lsn"),
                source.get("event_serial_no"),
                transaction["id"] if transaction else None,
            ]
        return row, [op, source_us, *source_position, snapshot]

    def decode(self, batch: pa.RecordBatch) -> DecodedBatch:
        values = batch.column("value").to_pylist()
        rows: list[list[Any]] = []
        metadata: list[list[Any]] = []
        kept: list[int] = []
        dead: list[DeadLetter] = []
        marker_kinds: list[str] = []
        tombstones = 0
        for index, value in enumerate(values):
            if value is None:
                tombstones += 1
                marker_kinds.append("tombstone")
                continue
            schema_id: int | None = None
            try:
                schema_id = _framed_schema_id(value)  # set before decoding, so dead letters carry it
                record = self._decode_body(schema_id, value)
                row, meta = self._flatten(record)
            except RecordError as exc:
                dead.append(self._dead_letter(batch, index, schema_id, exc))
                marker_kinds.append("dead")
                continue
            meta.append(schema_id)
            rows.append(row)
            metadata.append(meta)
            kept.append(index)
        return DecodedBatch(self._rows(batch, rows, metadata, kept), self._markers(marker_kinds), dead, tombstones)

    def _dead_letter(self, batch: pa.RecordBatch, index: int, schema_id: int | None, exc: Exception) -> DeadLetter:
        timestamp = batch.column("timestamp")[index]
        return DeadLetter(
            topic=batch.column("topic")[index].as_py(),
            partition=batch.column("partition")[index].as_py(),
            offset=batch.column("offset")[index].as_py(),
            kafka_timestamp_us=None if not timestamp.is_valid else timestamp.cast(pa.int64()).as_py(),
            key=batch.column("key")[index].as_py(),
            value=batch.column("value")[index].as_py(),
            schema_id=schema_id,
            error_class=type(exc).__name__,
            error_message=str(exc),
        )

    def _rows(
        self, batch: pa.RecordBatch, rows: list[list[Any]], metadata: list[list[Any]], kept: list[int]
    ) -> pa.RecordBatch:
        landing = self.plan.landing
        schema = landing.arrow_schema(with_kind=True)
        count = len(rows)
        position_columns = [c for c in landing.metadata if c.name not in _FIXED_METADATA]
        row_columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in landing.row]
        # per record: op, source_us, <position columns...>, snapshot, schema_id
        meta_columns: list[Sequence[Any]] = (
            list(zip(*metadata, strict=True)) if metadata else [() for _ in range(len(position_columns) + 4)]
        )
        arrays: list[pa.Array] = [
            pa.array(values, type=column.arrow_type) for values, column in zip(row_columns, landing.row, strict=True)
        ]
        taken = batch.take(pa.array(kept, type=pa.int32()))
        *head, snapshot, schema_ids = meta_columns
        op, source_us, *position = head
        by_name: dict[str, pa.Array] = {
            "_op": pa.array(op, pa.string()),
            "_source_ts": pa.array(source_us, pa.timestamp("us", tz="UTC")),
            "_snapshot": pa.array(snapshot, pa.bool_()),
            "_schema_id": pa.array(schema_ids, pa.int32()),
            "_kafka_topic": taken.column("topic"),
            "_kafka_partition": taken.column("partition"),
            "_kafka_offset": taken.column("offset"),
            "_kafka_timestamp": taken.column("timestamp"),
            "_ingested_at": pa.array([self.now_us] * count, pa.timestamp("us", tz="UTC")),
        }
        for column, values in zip(position_columns, position, strict=True):
            by_name[column.name] = pa.array(values, column.arrow_type)
        arrays.extend(by_name[c.name].cast(c.arrow_type) for c in landing.metadata)
        source_ts = by_name["_source_ts"]
        for part in (pc.year, pc.month, pc.day, pc.hour):
            arrays.append(part(source_ts).cast(pa.int32()))
        arrays.append(pa.array(["row"] * count, pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _markers(self, kinds: list[str]) -> pa.RecordBatch | None:
        if not kinds:
            return None
        schema = self.plan.landing.arrow_schema(with_kind=True)
        arrays = [pa.nulls(len(kinds), type=f.type) for f in schema][:-1]
        arrays.append(pa.array(kinds, pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _framed_schema_id(value: bytes) -> int:
    """The schema id of a Confluent-framed value; BadFraming when the value is not framed."""
    if len(value) < HEADER_SIZE or value[0] != MAGIC_BYTE:
        what = f"magic byte {value[0]}" if value else "an empty value"
        raise BadFraming(f"not Confluent-framed Avro ({len(value)} bytes, {what})")
    return int.from_bytes(value[1:5], "big")


def _value_field_names(envelope: dict[str, Any]) -> list[str]:
    """Field names of the envelope's row record (its ``before`` branch)."""
    before = next(f for f in envelope["fields"] if f["name"] == "before")["type"]
    record = next(branch for branch in before if branch != "null") if isinstance(before, list) else before
    return [f["name"] for f in record["fields"]]


def decode_partition(
    plan: DecodePlan, batches: Iterator[pa.RecordBatch], on_dead: Callable[[list[DeadLetter], int], object]
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` body: decoded rows and markers per input batch; dead letters handed to ``on_dead``.

    Dead letters are written once the partition is done, in one file per topic partition, so a replay of the
    same offsets writes the same file names.
    """
    now_us = (dt.datetime.now(dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    decoder = EnvelopeDecoder(plan, now_us)
    dead: list[DeadLetter] = []
    for batch in batches:
        decoded = decoder.decode(batch)
        dead.extend(decoded.dead)
        if decoded.rows.num_rows:
            yield decoded.rows
        if decoded.markers is not None:
            yield decoded.markers
    if dead:
        on_dead(dead, now_us)
