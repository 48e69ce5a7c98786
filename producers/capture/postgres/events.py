"""Turning decoded pgoutput changes into Debezium (key, envelope) pairs. Pure functions.

Debezium's rules kept here: an update that changes the primary key becomes a delete of the old key (plus its
tombstone) and a create of the new one; a delete is followed by a tombstone (a None value); truncates are skipped
(Debezium's default `skipped.operations=t`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from producers.capture.postgres.pgoutput import Delete, Insert, Update
from producers.capture.postgres.relations import TableBinding
from schemas.envelope import PostgresPosition, SnapshotMarker, build_envelope, key_of, postgres_source

Event = tuple[dict[str, Any], dict[str, Any] | None]  # (key record, envelope record or None for a tombstone)

_FILLERS: dict[str, Any] = {
    "int16": 0,
    "int32": 0,
    "int64": 0,
    "float64": 0.0,
    "boolean": False,
    "date": 0,
    "timestamp": 0,
}


@dataclass(frozen=True, slots=True)
class SourceContext:
    """The connector-level facts written into every `source` block."""

    connector_name: str
    database: str


def _source(
    context: SourceContext, binding: TableBinding, position: PostgresPosition, snapshot: SnapshotMarker
) -> dict[str, Any]:
    return postgres_source(
        connector_name=context.connector_name,
        database=context.database,
        schema=binding.table.source_schema,
        table=binding.table.name,
        position=position,
        snapshot=snapshot,
    )


def complete_key_only(binding: TableBinding, row: dict[str, Any]) -> dict[str, Any]:
    """Fill a key-only old image (REPLICA IDENTITY DEFAULT) like Debezium: nulls, or type defaults for required."""
    for column in binding.columns:
        if row.get(column.name) is None and not column.nullable:
            kind = column.column_type.kind
            row[column.name] = Decimal(0) if kind == "decimal" else _FILLERS.get(kind, "")
    return row


def snapshot_event(
    context: SourceContext,
    binding: TableBinding,
    row: dict[str, Any],
    position: PostgresPosition,
    marker: SnapshotMarker,
    processed_at_us: int,
) -> Event:
    """A snapshot read (`op: r`)."""
    source = _source(context, binding, position, marker)
    envelope = build_envelope("r", before=None, after=row, source=source, processed_at_us=processed_at_us)
    return key_of(row, binding.table.primary_key), envelope


def change_events(
    context: SourceContext,
    binding: TableBinding,
    message: Insert | Update | Delete,
    position: PostgresPosition,
    processed_at_us: int,
) -> list[Event]:
    """The events one streamed change produces, in order."""
    key_columns = binding.table.primary_key
    source = _source(context, binding, position, "false")
    if isinstance(message, Insert):
        after = binding.row(message.new)
        return [
            (
                key_of(after, key_columns),
                build_envelope("c", before=None, after=after, source=source, processed_at_us=processed_at_us),
            )
        ]
    if isinstance(message, Delete):
        before = binding.row(message.old)
        if message.old_is_key_only:
            before = complete_key_only(binding, before)
        key = key_of(before, key_columns)
        envelope = build_envelope("d", before=before, after=None, source=source, processed_at_us=processed_at_us)
        return [(key, envelope), (key, None)]
    before_image = binding.row(message.old) if message.old is not None else None
    if before_image is not None and message.old_is_key_only:
        before_image = complete_key_only(binding, before_image)
    after = binding.row(message.new, previous=before_image)
    new_key = key_of(after, key_columns)
    if before_image is not None:
        old_key = key_of(before_image, key_columns)
        if old_key != new_key:
            deleted = build_envelope(
                "d", before=before_image, after=None, source=source, processed_at_us=processed_at_us
            )
            created = build_envelope("c", before=None, after=after, source=source, processed_at_us=processed_at_us)
            return [(old_key, deleted), (old_key, None), (new_key, created)]
    envelope = build_envelope("u", before=before_image, after=after, source=source, processed_at_us=processed_at_us)
    return [(new_key, envelope)]
