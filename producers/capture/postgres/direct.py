"""Streaming fast path: pgoutput tuple bytes straight to Avro bytes, no Python row dicts in between.

Same output, byte for byte, as decoding the tuple (`relations.TableBinding.row`), building the envelope
(`events.change_events`) and encoding it (`producers.encoding.EnvelopeEncoder`); tests check that on random rows.
Text columns need no work at all: pgoutput sends UTF-8 text and an Avro string is its length plus those bytes.
Anything unusual (an unchanged TOAST value, a key-only old image, a primary key change) returns None, and the
caller takes the general path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import date
from typing import Final

from producers.capture.postgres.events import SourceContext
from producers.capture.postgres.relations import TEXT_KINDS, TableBinding
from producers.capture.values import _timestamp_micros, _zoned_timestamp
from producers.encoding import length_prefix, zigzag_varint
from schemas.catalog import Column
from schemas.envelope import CONNECTOR_VERSION

ColumnEncoder = Callable[[bytes], bytes]

_NULL: Final = b"\x00"
_SOME: Final = b"\x02"  # second union branch
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_DOUBLE: Final = struct.Struct("<d")


def _avro_string(data: bytes) -> bytes:
    return length_prefix(len(data)) + data


def _encode_long(raw: bytes) -> bytes:
    return zigzag_varint(int(raw))


def _encode_boolean(raw: bytes) -> bytes:
    if raw == b"t":
        return b"\x01"
    if raw == b"f":
        return b"\x00"
    raise ValueError(f"not a boolean: {raw!r}")


def _encode_double(raw: bytes) -> bytes:
    return _DOUBLE.pack(float(raw))


def _encode_date(raw: bytes) -> bytes:
    return zigzag_varint(date.fromisoformat(raw.decode()).toordinal() - _EPOCH_ORDINAL)


def _memoised(encode: ColumnEncoder, size: int = 4096) -> ColumnEncoder:
    """Remember recent encodings: before and after images repeat most timestamps and dates."""
    cache: dict[bytes, bytes] = {}

    def encode_cached(raw: bytes) -> bytes:
        hit = cache.get(raw)
        if hit is None:
            if len(cache) >= size:
                cache.clear()
            hit = cache[raw] = encode(raw)
        return hit

    return encode_cached


def _encode_timestamp(raw: bytes) -> bytes:
    return zigzag_varint(_timestamp_micros(raw.decode()))


def _encode_timestamptz(raw: bytes) -> bytes:
    return _avro_string(_zoned_timestamp(raw.decode()).encode())


def _decimal_encoder(scale: int) -> ColumnEncoder:
    def encode(raw: bytes) -> bytes:
        whole, _, fraction = raw.partition(b".")
        if len(fraction) > scale or not raw[-1:].isdigit():  # NaN, Infinity or more digits than the scale
            raise ValueError(f"{raw!r} does not fit scale {scale}")
        unscaled = int(whole + fraction + b"0" * (scale - len(fraction)))  # "-0.50" -> int(b"-050") == -50
        size = (unscaled.bit_length() + 8) // 8  # minimal two's complement, as fastavro writes it
        return _avro_string(unscaled.to_bytes(size, "big", signed=True))

    return encode


_ENCODERS: Final[dict[str, Callable[[], ColumnEncoder]]] = {
    "int16": lambda: _encode_long,
    "int32": lambda: _encode_long,
    "int64": lambda: _encode_long,
    "boolean": lambda: _encode_boolean,
    "float64": lambda: _encode_double,
    "date": lambda: _memoised(_encode_date),
    "timestamp": lambda: _memoised(_encode_timestamp),
    "timestamptz": lambda: _memoised(_encode_timestamptz),
}


def column_encoder(column: Column) -> ColumnEncoder | None:
    """Text bytes → Avro bytes of a non-null value; None means "the bytes are the string" (text kinds)."""
    kind = column.column_type.kind
    if kind in TEXT_KINDS:
        return None
    if kind == "decimal":
        assert column.column_type.scale is not None
        return _decimal_encoder(column.column_type.scale)
    return _ENCODERS[kind]()


class DirectCodec:
    """Per table version: encodes pgoutput tuples to Avro row and key bytes."""

    def __init__(self, binding: TableBinding, context: SourceContext) -> None:
        self.binding = binding
        columns = binding.columns
        self._encoders = tuple(column_encoder(column) for column in columns)
        self._nullable = tuple(column.nullable for column in columns)
        names = [column.name for column in columns]
        self._key_indexes = tuple(names.index(name) for name in binding.table.primary_key)
        constants = (CONNECTOR_VERSION, "postgresql", context.connector_name)
        self._source_prefix = b"".join(_avro_string(text.encode()) for text in constants)
        self._database = _avro_string(context.database.encode())
        table = binding.table
        self._schema_table = _avro_string(table.source_schema.encode()) + _avro_string(table.name.encode())
        self._transaction: tuple[int, int] | None = None
        self._commit_ms = self._commit_us_ns = self._tx_id = b""

    def tuple_bytes(self, data: bytes, offset: int) -> tuple[bytes, bytes, int] | None:
        """(row bytes, key bytes, offset after the tuple), or None when the general path must handle it."""
        count = (data[offset] << 8) | data[offset + 1]
        if count != len(self._encoders):
            return None
        offset += 2
        parts: list[bytes] = []
        append = parts.append
        for index in range(count):
            kind = data[offset]
            if kind == 0x74:  # 't'
                start = offset + 5
                offset = start + int.from_bytes(data[offset + 1 : start], "big")
                raw = data[start:offset]
                encoder = self._encoders[index]
                encoded = length_prefix(offset - start) + raw if encoder is None else encoder(raw)
                append(_SOME + encoded if self._nullable[index] else encoded)
            elif kind == 0x6E and self._nullable[index]:  # 'n' on a nullable column
                append(_NULL)
                offset += 1
            else:
                return None  # unchanged TOAST, a null in a required column (key-only image), binary format
        key = b"".join(parts[i] for i in self._key_indexes)
        return b"".join(parts), key, offset

    def source_bytes(self, *, lsn: int, tx_id: int, commit_ts_us: int, last_commit_lsn: int | None) -> bytes:
        """`source` exactly as `schemas.envelope.postgres_source` + the Avro writer produce it (streaming)."""
        transaction = (commit_ts_us, tx_id)
        if transaction != self._transaction:  # the commit time and id are the same for a whole transaction
            self._transaction = transaction
            self._commit_ms = self._source_prefix + zigzag_varint(commit_ts_us // 1000) + b"\x00\x0afalse"
            self._commit_us_ns = b"".join(
                (_SOME, zigzag_varint(commit_ts_us), _SOME, zigzag_varint(commit_ts_us * 1000), self._schema_table)
            )
            self._tx_id = _SOME + zigzag_varint(tx_id)
        previous = "null" if last_commit_lsn is None else f'"{last_commit_lsn}"'
        sequence = f'[{previous},"{lsn}"]'.encode()
        return b"".join(
            (
                self._commit_ms,  # version, connector, name, ts_ms, snapshot "false" (first union branch)
                self._database,
                _SOME,
                length_prefix(len(sequence)),
                sequence,
                self._commit_us_ns,  # ts_us, ts_ns, schema, table
                self._tx_id,
                _SOME,
                zigzag_varint(lsn),
                _NULL,  # xmin
            )
        )


_TAILS: dict[tuple[bytes, int], bytes] = {}


def tail_bytes(op: bytes, processed_at_us: int) -> bytes:
    """transaction (null), op and the three processing times (cached: callers pass millisecond-grained times)."""
    cached = _TAILS.get((op, processed_at_us))
    if cached is None:
        if len(_TAILS) > 64:
            _TAILS.clear()
        cached = _TAILS[(op, processed_at_us)] = b"".join(
            (
                _NULL,
                b"\x02",  # op is one character: its length as a zig-zag varint
                op,
                _SOME + zigzag_varint(processed_at_us // 1000),
                _SOME + zigzag_varint(processed_at_us),
                _SOME + zigzag_varint(processed_at_us * 1000),
            )
        )
    return cached


def envelope_bytes(
    header: bytes, before: bytes | None, after: bytes | None, source: bytes, op: bytes, processed_at_us: int
) -> bytes:
    return b"".join(
        (
            header,
            _NULL if before is None else _SOME + before,
            _NULL if after is None else _SOME + after,
            source,
            tail_bytes(op, processed_at_us),
        )
    )


def split_tuples(data: bytes) -> tuple[int, int | None, bool, int | None]:
    """For an I/U/D message: (relation id, offset of the old tuple or None, old is key-only, offset of the new)."""
    relation_id = int.from_bytes(data[1:5], "big")
    kind = data[0]
    marker = data[5]
    if kind == 0x49:  # Insert: 'N'
        return relation_id, None, False, 6
    if kind == 0x44:  # Delete: 'K' or 'O'
        return relation_id, 6, marker == 0x4B, None
    if marker == 0x4E:  # Update without old tuple
        return relation_id, None, False, 6
    return relation_id, 6, marker == 0x4B, -1  # new tuple follows the old one
