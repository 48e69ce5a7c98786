"""One Avro CDC record in, the record the bridge writes out: its JSON twin, or a dead letter. Pure but for the
registry lookups behind :class:`~redshift.bridge.decoding.WriterSchemas`.

The output goes to the same partition number as the source record, with the source's headers plus
``cdc.source.topic``/``cdc.source.partition``/``cdc.source.offset`` (which also let a restarted bridge recognise
what it already wrote). A dead letter keeps the raw key and value bytes and adds ``cdc.error.class`` and
``cdc.error.message``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from redshift.bridge.decoding import DecodeError, WriterSchemas, to_json
from redshift.bridge.topics import (
    BRIDGE_HEADERS,
    ERROR_CLASS_HEADER,
    ERROR_MESSAGE_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
    dead_letter_topic,
    json_topic,
)

Header = tuple[str, str | bytes | None]
OutputKind = Literal["event", "tombstone", "dead_letter"]

MAX_ERROR_MESSAGE: Final = 1000  # characters of the reason kept in a dead letter's header


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A consumed Kafka record of an Avro CDC topic (value None: a tombstone)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header] = ()


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """What the bridge produces for one source record."""

    source_topic: str
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]
    kind: OutputKind
    error_class: str | None = None


def headers_of(raw: Mapping[str, str | bytes | None] | Sequence[Header] | None) -> list[Header]:
    """A Kafka message's headers as a list of (name, value) pairs, whichever shape the client handed over."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return list(raw.items())
    return list(raw)


def source_headers(record: SourceRecord) -> list[Header]:
    """The source record's own headers (minus any bridge headers it carried) plus its coordinates."""
    kept = [(name, value) for name, value in record.headers if name not in BRIDGE_HEADERS]
    kept.append((SOURCE_TOPIC_HEADER, record.topic.encode()))
    kept.append((SOURCE_PARTITION_HEADER, str(record.partition).encode()))
    kept.append((SOURCE_OFFSET_HEADER, str(record.offset).encode()))
    return kept


def bridge_record(record: SourceRecord, schemas: WriterSchemas) -> OutputRecord:
    """The JSON record (or the tombstone, or the dead letter) for one source record; never raises for bad data."""
    headers = source_headers(record)
    try:
        key = None if record.key is None else to_json(record.key, schemas)
        value = None if record.value is None else to_json(record.value, schemas)
    except DecodeError as exc:
        message = str(exc)[:MAX_ERROR_MESSAGE]
        headers.append((ERROR_CLASS_HEADER, exc.error_class.encode()))
        headers.append((ERROR_MESSAGE_HEADER, message.encode("utf-8", "replace")))
        return OutputRecord(
            record.topic,
            dead_letter_topic(record.topic),
            record.partition,
            record.key,
            record.value,
            headers,
            "dead_letter",
            exc.error_class,
        )
    kind: OutputKind = "tombstone" if value is None else "event"
    return OutputRecord(record.topic, json_topic(record.topic), record.partition, key, value, headers, kind)
