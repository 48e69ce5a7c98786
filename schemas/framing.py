"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro binary body."""

from __future__ import annotations

import struct
from typing import Final

from common.errors import SchemaError

MAGIC_BYTE: Final = 0
HEADER: Final = struct.Struct(">bI")
HEADER_SIZE: Final = HEADER.size  # 5


class FramingError(SchemaError):
    """A message is not in the Confluent wire format (too short, or a wrong magic byte)."""


def header(schema_id: int) -> bytes:
    """The 5-byte prefix for a schema id (computed once per schema by encoders)."""
    if not 0 <= schema_id <= 0xFFFFFFFF:
        raise FramingError(f"schema id {schema_id} does not fit in 4 bytes")
    return HEADER.pack(MAGIC_BYTE, schema_id)


def frame(schema_id: int, payload: bytes) -> bytes:
    """Prefix an Avro body with its schema id."""
    return header(schema_id) + payload


def unframe(message: bytes) -> tuple[int, bytes]:
    """Split a framed message into (schema id, Avro body); FramingError names what is wrong."""
    if len(message) < HEADER_SIZE:
        raise FramingError(f"message of {len(message)} bytes is shorter than the 5-byte Confluent header")
    magic, schema_id = HEADER.unpack_from(message)
    if magic != MAGIC_BYTE:
        raise FramingError(f"unknown magic byte {magic} (expected {MAGIC_BYTE})")
    return schema_id, message[HEADER_SIZE:]
