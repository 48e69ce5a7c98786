"""Building Debezium change-event values (the `<topic>.Envelope` record) as plain dicts, ready for Avro.

Pure functions. Values inside `before`/`after` must already be in Debezium's encodings (decimal as `Decimal`,
timestamps as epoch micros, dates as epoch days, zoned timestamps as ISO strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Operation = Literal["c", "u", "d", "r", "t"]
SnapshotMarker = Literal["true", "first", "first_in_data_collection", "last_in_data_collection", "last", "false"]

CONNECTOR_VERSION: Final = "retail-cdc-0.1.0"  # source.version: the capturing software, like Debezium's own version


@dataclass(frozen=True, slots=True)
class PostgresPosition:
    """Where a change sits in the WAL: its own LSN, its transaction and the last commit before it."""

    lsn: int
    tx_id: int | None
    commit_ts_us: int
    last_commit_lsn: int | None = None


def postgres_source(
    *,
    connector_name: str,
    database: str,
    schema: str,
    table: str,
    position: PostgresPosition,
    snapshot: SnapshotMarker = "false",
) -> dict[str, Any]:
    """`io.debezium.connector.postgresql.Source` with fields in schema order.

    `sequence` is Debezium's `["<last committed LSN>","<this LSN>"]` JSON string; `xmin` is only filled by
    Debezium when xmin tracking is configured, so it stays null.
    """
    last = position.last_commit_lsn
    previous = "null" if last is None else f'"{last}"'
    return {
        "version": CONNECTOR_VERSION,
        "connector": "postgresql",
        "name": connector_name,
        "ts_ms": position.commit_ts_us // 1000,
        "snapshot": snapshot,
        "db": database,
        "sequence": f'[{previous},"{position.lsn}"]',  # JSON, written by hand: this runs once per event
        "ts_us": position.commit_ts_us,
        "ts_ns": position.commit_ts_us * 1000,
        "schema": schema,
        "table": table,
        "txId": position.tx_id,
        "lsn": position.lsn,
        "xmin": None,
    }


def build_envelope(
    op: Operation,
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    source: Mapping[str, Any],
    processed_at_us: int,
) -> dict[str, Any]:
    """The envelope record: `before`/`after` row images, `source`, `op` and the processing time."""
    if op in ("c", "r") and after is None:
        raise ValueError(f"op '{op}' needs an after image")
    if op == "d" and before is None:
        raise ValueError("op 'd' needs a before image (at least the key)")
    return {
        "before": before,
        "after": after,
        "source": source,
        "transaction": None,
        "op": op,
        "ts_ms": processed_at_us // 1000,
        "ts_us": processed_at_us,
        "ts_ns": processed_at_us * 1000,
    }


def key_of(row: Mapping[str, Any], key_columns: tuple[str, ...]) -> dict[str, Any]:
    """The message key record: the primary-key fields of a row image, in key order."""
    return {name: row[name] for name in key_columns}
