"""The local stand-in of a Redshift streaming MV refresh (ADR 0010 decision 2).

For each catalog table, the JSON bridge topic ``<topic>.json`` is appended to the PostgreSQL *table*
``staging.mv_<table>`` with exactly the MV's columns. The table is its own offset store: a refresh starts each
partition at ``max(kafka_offset) + 1`` read from the table, inside the same transaction that COPYs the new rows
and commits them. A crash before the commit leaves nothing (the next refresh reads the same records again); after
it, the offsets have moved with the rows. So refreshes are append-only and idempotent on restart, like Redshift's.

Reading follows the local broker's rules (ARCHITECTURE §3): ``read_committed``, partitions assigned (no group),
read to partition EOF rather than trusting watermarks, consumers always closed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql

from common.errors import ConfigError, ServiceUnavailableError
from common.logging import get_logger
from redshift.runner import STAGING, utc_now
from schemas.catalog import Catalog, Table

log = get_logger(__name__)

JSON_TOPIC_SUFFIX: Final = ".json"
MV_COLUMNS: Final = (
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp_type",
    "kafka_timestamp",
    "kafka_key",
    "payload",
    "refresh_time",
)
CONSUMER_GROUP: Final = "cdc-warehouse-refresh"  # required by librdkafka; never joined or committed (assign only)

_EPOCH: Final = datetime(1970, 1, 1)  # MV timestamps are naive UTC, like Redshift's TIMESTAMP
_TIMESTAMP_TYPES: Final = {0: "U", 1: "C", 2: "L"}  # librdkafka: not available, create time, log append time
_PARTITION_EOF: Final = -191  # KafkaError._PARTITION_EOF
_OFFSET_BEGINNING: Final = -2

MvRow = tuple[int, int, str, datetime | None, str | None, str | None, datetime]


def mv_row(
    partition: int,
    offset: int,
    timestamp: tuple[int, int],
    key: bytes | None,
    value: bytes | None,
    refresh_time: datetime,
) -> tuple[MvRow, bool]:
    """The MV columns of one record, and whether its value was unreadable (pure).

    ``payload`` is the value's JSON text, NULL for a tombstone — and, as Redshift's
    ``CASE WHEN CAN_JSON_PARSE(kafka_value) THEN JSON_PARSE(kafka_value) END``, NULL for a value that is not JSON
    (here also for JSON that PostgreSQL's jsonb refuses: a ``\\u0000`` escape).
    """
    kind, milliseconds = timestamp
    timestamp_type = _TIMESTAMP_TYPES.get(kind, "U")
    kafka_timestamp = None if timestamp_type == "U" else _EPOCH + timedelta(milliseconds=milliseconds)
    payload: str | None = None
    unreadable = False
    if value is not None:
        try:
            text = value.decode("utf-8")
            json.loads(text)
            if "\\u0000" in text:
                raise ValueError("jsonb cannot hold NUL")  # noqa: TRY301 - same outcome as invalid JSON
            payload = text
        except ValueError:
            unreadable = True
    kafka_key = None if key is None else key.decode("utf-8", errors="replace")
    return (partition, offset, timestamp_type, kafka_timestamp, kafka_key, payload, refresh_time), unreadable


@dataclass
class TableRefresh:
    """What one table's refresh appended (or why it was skipped)."""

    table: str
    mv: str
    topic: str
    rows: int = 0
    tombstones: int = 0
    unreadable: int = 0
    start_offsets: dict[int, int] = field(default_factory=dict)
    skipped: str | None = None


@dataclass
class RefreshReport:
    tables: list[TableRefresh]

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    def summary(self) -> str:
        refreshed = [table for table in self.tables if table.skipped is None]
        skipped = [f"{table.table} ({table.skipped})" for table in self.tables if table.skipped]
        text = f"{self.rows:,} row(s) appended to {len(refreshed)} MV table(s)"
        return text + (f"; skipped {', '.join(skipped)}" if skipped else "")


ConsumerFactory = Callable[[Mapping[str, Any]], Any]


def _confluent_consumer(config: Mapping[str, Any]) -> Any:
    from confluent_kafka import Consumer  # noqa: PLC0415 - only refreshes need the Kafka client

    return Consumer(dict(config))


@dataclass
class MvRefresher:
    """Appends ``<topic>.json`` records to ``staging.mv_<table>`` tables on the PostgreSQL stand-in.

    ``connection`` is a psycopg connection in autocommit mode (each table gets its own transaction).
    ``before_commit`` is called after the COPY, inside the transaction (tests use it to crash there).
    """

    connection: psycopg.Connection[Any]
    kafka_config: Mapping[str, str]
    catalog: Catalog
    eof_timeout_seconds: float = 60.0
    max_records_per_table: int | None = None
    topic_suffix: str = JSON_TOPIC_SUFFIX
    consumer_factory: ConsumerFactory = _confluent_consumer
    before_commit: Callable[[TableRefresh], None] | None = None

    def refresh(self, tables: Sequence[str] | None = None) -> RefreshReport:
        """Refresh the named catalog tables (all by default), each in its own transaction."""
        chosen = [self.catalog.table(name) for name in tables] if tables else list(self.catalog.tables)
        existing = self._existing_tables()
        results = []
        for table in chosen:
            mv = f"mv_{table.name}"
            if mv not in existing:
                results.append(TableRefresh(table.name, f"{STAGING}.{mv}", self._topic(table), skipped="no MV table"))
                continue
            results.append(self.refresh_table(table))
        if all(result.skipped == "no MV table" for result in results):
            raise ConfigError(
                f"no MV tables ({STAGING}.mv_<table>) in the warehouse: run `cdc warehouse migrate` first"
            )
        return RefreshReport(results)

    def refresh_table(self, table: Table) -> TableRefresh:
        """One table: lock its MV table, read where it ends, COPY the topic's records from there to EOF, commit."""
        result = TableRefresh(table.name, f"{STAGING}.mv_{table.name}", self._topic(table))
        target = sql.Identifier(STAGING, f"mv_{table.name}")
        refresh_time = utc_now()
        consumer = self.consumer_factory(self._consumer_config())
        try:
            with self.connection.transaction():
                # Writers wait for each other (two refreshers must not read the same end offsets); readers do not.
                self.connection.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
                ends = dict(
                    self.connection.execute(
                        sql.SQL("SELECT kafka_partition, MAX(kafka_offset) FROM {} GROUP BY kafka_partition").format(
                            target
                        )
                    ).fetchall()
                )
                partitions = self._partitions(consumer, result.topic)
                if partitions is None:
                    result.skipped = "topic missing"
                    return result
                result.start_offsets = {p: int(ends[p]) + 1 if p in ends else 0 for p in partitions}
                self._assign(consumer, result)
                columns = sql.SQL(", ").join(sql.Identifier(column) for column in MV_COLUMNS)
                with self.connection.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)) as copy:
                    for row in self._rows(consumer, result, refresh_time):
                        copy.write_row(row)
                if self.before_commit is not None:
                    self.before_commit(result)
        finally:
            consumer.close()
        log.info(
            "warehouse.refreshed", table=table.name, rows=result.rows, tombstones=result.tombstones,
            unreadable=result.unreadable,
        )  # fmt: skip
        return result

    def _topic(self, table: Table) -> str:
        return f"{table.topic}{self.topic_suffix}"

    def _existing_tables(self) -> set[str]:
        rows = self.connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (STAGING,)
        ).fetchall()
        return {str(row[0]) for row in rows}

    def _consumer_config(self) -> dict[str, Any]:
        return {
            "fetch.wait.max.ms": 50,  # the broker answers an empty fetch after this: EOF is seen sooner
            **self.kafka_config,
            "group.id": CONSUMER_GROUP,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }

    def _partitions(self, consumer: Any, topic: str) -> list[int] | None:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except Exception as exc:
            raise ServiceUnavailableError(f"Kafka metadata for {topic} unavailable: {exc}") from None
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return None
        return sorted(described.partitions)

    def _assign(self, consumer: Any, result: TableRefresh) -> None:
        from confluent_kafka import TopicPartition  # noqa: PLC0415

        consumer.assign(
            [
                TopicPartition(result.topic, partition, offset if offset > 0 else _OFFSET_BEGINNING)
                for partition, offset in result.start_offsets.items()
            ]
        )

    def _rows(self, consumer: Any, result: TableRefresh, refresh_time: datetime) -> Iterable[MvRow]:
        """Records to partition EOF (or the per-table cap), as MV rows; counts go into ``result``."""
        import time  # noqa: PLC0415

        pending = set(result.start_offsets)
        deadline = time.monotonic() + self.eof_timeout_seconds
        limit = self.max_records_per_table
        while pending and (limit is None or result.rows < limit):
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(
                    f"{result.topic}: partitions {sorted(pending)} not read to the end within "
                    f"{self.eof_timeout_seconds:.0f}s"
                )
            batch = consumer.consume(
                num_messages=5000 if limit is None else min(5000, limit - result.rows), timeout=0.5
            )
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == _PARTITION_EOF:
                        pending.discard(message.partition())
                        continue
                    raise ServiceUnavailableError(f"{result.topic}: Kafka error {error}")
                row, unreadable = mv_row(
                    message.partition(),
                    message.offset(),
                    message.timestamp(),
                    message.key(),
                    message.value(),
                    refresh_time,
                )
                if unreadable:
                    result.unreadable += 1
                    log.warning("warehouse.unreadable_value", topic=result.topic, partition=row[0], offset=row[1])
                elif row[5] is None:
                    result.tombstones += 1
                result.rows += 1
                yield row
