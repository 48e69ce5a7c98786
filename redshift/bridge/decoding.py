"""Confluent-framed Avro in, decoded records out; what cannot be decoded is data (a :class:`DecodeError`).

The writer schema of each record is fetched by its id from the registry once and cached together with its
fastavro form and its :class:`~redshift.bridge.json_encoding.JsonEncoder`. Bad framing, an unknown schema id, a
truncated or corrupt body and bytes left over after the record all become a :class:`DecodeError` whose class
name is the dead letter's ``cdc.error.class``. A registry that does not answer is an outage, not bad data: it
raises :class:`~common.errors.ServiceUnavailableError` and the bridge stops without committing the batch.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader

from common.errors import ServiceUnavailableError
from common.settings import SchemaRegistrySettings
from redshift.bridge.json_encoding import JsonEncoder, JsonEncodingError
from schemas.framing import FramingError, unframe

SCHEMA_NOT_FOUND: Final = 40403
SUBJECT_NOT_FOUND: Final = 40401

SchemaLookup = Callable[[int], str | None]
"""Schema id -> the registered schema text, None when the registry has no such id (raises on an outage)."""


class DecodeError(Exception):
    """A record the bridge cannot turn into JSON; it goes to the dead-letter topic with this class's name."""

    @property
    def error_class(self) -> str:
        return type(self).__name__


class BadFraming(DecodeError):
    """Not in the Confluent wire format: shorter than the 5-byte header, or a magic byte other than 0."""


class UnknownSchemaId(DecodeError):
    """The registry has no schema under the record's id."""


class UnsupportedSchema(DecodeError):
    """The id names a schema that is not an Avro record (e.g. a JSON Schema or Protobuf registration)."""


class TruncatedRecord(DecodeError):
    """The Avro body ends before the record does."""


class CorruptRecord(DecodeError):
    """The Avro body does not decode with its writer schema (bad union index, invalid UTF-8, ...)."""


class TrailingBytes(DecodeError):
    """Bytes left over after the record: the body is not what its schema id says."""


class UnencodableValue(DecodeError):
    """The record decodes but a value has no JSON form under the contract (e.g. a date beyond year 9999)."""


@dataclass(frozen=True)
class WriterSchema:
    """One registered schema, ready to decode (fastavro) and to encode as JSON."""

    schema_id: int
    schema: dict[str, Any]
    parsed: Any
    json: JsonEncoder


class WriterSchemas:
    """Writer schemas by id, each fetched once; unknown ids are asked again after `retry_unknown_s`
    (a registry replica may lag behind the one the producer registered with)."""

    def __init__(
        self,
        lookup: SchemaLookup,
        *,
        retry_unknown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._retry_unknown_s = retry_unknown_s
        self._clock = clock
        self._found: dict[int, WriterSchema] = {}
        self._failed: dict[int, tuple[float, DecodeError]] = {}

    def get(self, schema_id: int) -> WriterSchema:
        """The schema registered under `schema_id`, or a DecodeError saying why it cannot be used."""
        found = self._found.get(schema_id)
        if found is not None:
            return found
        failed = self._failed.get(schema_id)
        if failed is not None and self._clock() - failed[0] < self._retry_unknown_s:
            raise failed[1]
        try:
            entry = self._load(schema_id)
        except DecodeError as exc:
            self._failed[schema_id] = (self._clock(), exc)
            raise
        self._failed.pop(schema_id, None)
        self._found[schema_id] = entry
        return entry

    def _load(self, schema_id: int) -> WriterSchema:
        text = self._lookup(schema_id)
        if text is None:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        try:
            schema = json.loads(text)
        except ValueError:
            raise UnsupportedSchema(f"schema id {schema_id} is not JSON") from None
        if not isinstance(schema, dict) or schema.get("type") != "record":
            raise UnsupportedSchema(f"schema id {schema_id} is not an Avro record schema")
        try:
            return WriterSchema(schema_id, schema, parse_schema(schema, named_schemas={}), JsonEncoder(schema))
        except (ValueError, TypeError, KeyError) as exc:  # fastavro's SchemaParseException, JsonEncodingError, ...
            raise UnsupportedSchema(f"schema id {schema_id}: {type(exc).__name__}: {exc}") from None


def decode(message: bytes, schemas: WriterSchemas) -> tuple[WriterSchema, Any]:
    """(writer schema, decoded record) of one framed message; DecodeError when it cannot be decoded."""
    try:
        schema_id, body = unframe(message)
    except FramingError as exc:
        raise BadFraming(str(exc)) from None
    writer = schemas.get(schema_id)
    buffer = io.BytesIO(body)
    try:
        record = schemaless_reader(buffer, writer.parsed, None)
    except EOFError:
        raise TruncatedRecord(
            f"the Avro body ({len(body)} bytes) ends inside the record (schema id {schema_id})"
        ) from None
    except Exception as exc:  # fastavro raises whatever the bytes provoke (IndexError, UnicodeDecodeError, ...)
        raise CorruptRecord(
            f"the Avro body does not decode with schema id {schema_id}: {type(exc).__name__}: {exc}"
        ) from None
    if buffer.tell() != len(body):
        raise TrailingBytes(f"{len(body) - buffer.tell()} bytes left after the record (schema id {schema_id})")
    return writer, record


def to_json(message: bytes, schemas: WriterSchemas) -> bytes:
    """Decode one framed message and encode it as JSON (errors as DecodeError)."""
    writer, record = decode(message, schemas)
    try:
        return writer.json.encode(record)
    except JsonEncodingError as exc:
        raise UnencodableValue(f"schema id {writer.schema_id}: {exc}") from None


def registry_lookup(settings: SchemaRegistrySettings) -> tuple[SchemaLookup, Callable[[], None]]:
    """A lookup against a Confluent-compatible registry (the client retries transport errors) and its `close`."""
    if not settings.url:
        raise ServiceUnavailableError("no schema registry URL configured (SCHEMA_REGISTRY_URL)")
    url = settings.url
    client = SchemaRegistryClient({**settings.client_config(), "max.retries": 3})

    def lookup(schema_id: int) -> str | None:
        try:
            schema = client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 or exc.error_code in (SCHEMA_NOT_FOUND, SUBJECT_NOT_FOUND):
                return None
            raise ServiceUnavailableError(
                f"schema registry at {url} answered {exc.http_status_code} for schema id {schema_id}: "
                f"{exc.error_message}"
            ) from None
        except Exception as exc:  # the client surfaces its HTTP library's transport errors directly
            raise ServiceUnavailableError(
                f"schema registry at {url} unreachable while reading schema id {schema_id}: {type(exc).__name__}: {exc}"
            ) from None
        if schema.schema_type not in (None, "AVRO"):
            return json.dumps({"type": str(schema.schema_type)})  # not Avro: UnsupportedSchema downstream
        return str(schema.schema_str)

    return lookup, client.close
