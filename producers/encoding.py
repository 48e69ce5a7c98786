"""Fast Confluent-framed Avro encoding: the schema is parsed once and the 5-byte header computed once."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fastavro

from schemas.framing import header


class AvroEncoder:
    """Encode records of one writer schema (registered under `schema_id`) to framed bytes."""

    __slots__ = ("_buffer", "_header", "_parsed", "schema_id")

    def __init__(self, schema: Mapping[str, Any], schema_id: int) -> None:
        self._parsed = fastavro.parse_schema(dict(schema))
        self._header = header(schema_id)
        self._buffer = io.BytesIO()
        self.schema_id = schema_id

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        buffer.write(self._header)
        fastavro.schemaless_writer(buffer, self._parsed, record)
        return buffer.getvalue()
