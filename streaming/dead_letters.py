"""The dead-letter sink: records the job cannot land, as Parquet under ``dlq/<table>/date=YYYY-MM-DD/``.

Each file holds the failed records of one topic partition in one task, named by their first and last offsets,
so a replayed batch rewrites the same file instead of adding a duplicate. Raw bytes are kept for replay.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from common.lake import LakeLocation, write_parquet_atomically

DEAD_LETTER_SCHEMA: Final = pa.schema(
    [
        ("table", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("schema_id", pa.int32()),
        ("error_class", pa.string()),
        ("error_message", pa.string()),
        ("failed_at", pa.timestamp("us", tz="UTC")),
    ]
)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record that could not be landed, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    kafka_timestamp_us: int | None
    key: bytes | None
    value: bytes | None
    schema_id: int | None
    error_class: str
    error_message: str


def dead_letter_files(table: str, letters: Sequence[DeadLetter], failed_at_us: int) -> dict[str, pa.Table]:
    """Group dead letters into files: relative path -> rows (pure; the names are deterministic)."""
    groups: dict[tuple[str, str, int], list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        moment = failed_at_us if letter.kafka_timestamp_us is None else letter.kafka_timestamp_us
        when = _EPOCH + dt.timedelta(microseconds=moment)
        groups[(when.strftime("%Y-%m-%d"), letter.topic, letter.partition)].append(letter)
    files = {}
    for (day, topic, partition), group in groups.items():
        group.sort(key=lambda letter: letter.offset)
        name = f"dlq/{table}/date={day}/{topic}+{partition}+{group[0].offset}+{group[-1].offset}.parquet"
        files[name] = pa.Table.from_pydict(
            {
                "table": [table] * len(group),
                "topic": [g.topic for g in group],
                "partition": [g.partition for g in group],
                "offset": [g.offset for g in group],
                "kafka_timestamp": [g.kafka_timestamp_us for g in group],
                "key": [g.key for g in group],
                "value": [g.value for g in group],
                "schema_id": [g.schema_id for g in group],
                "error_class": [g.error_class for g in group],
                "error_message": [g.error_message[:2000] for g in group],
                "failed_at": [failed_at_us] * len(group),
            },
            schema=DEAD_LETTER_SCHEMA,
        )
    return files


class DeadLetterSink:
    """Writes dead letters of one table into the lake's ``dlq/`` zone."""

    def __init__(self, location: LakeLocation, table: str) -> None:
        self.location = location
        self.table = table

    def write(self, letters: Sequence[DeadLetter], failed_at_us: int) -> list[str]:
        return [
            write_parquet_atomically(rows, self.location, name)
            for name, rows in dead_letter_files(self.table, letters, failed_at_us).items()
        ]
