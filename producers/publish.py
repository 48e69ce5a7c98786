"""Publishing change events to Kafka: Confluent-framed Avro key and value, tombstones, delivery tracking.

The producer is idempotent with `acks=all`; each event carries the source position it belongs to, and
`acknowledged` only moves past a position once Kafka confirmed every event up to it (see `acks.PositionTracker`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from common.errors import CdcError, ServiceUnavailableError
from common.settings import KafkaSettings
from producers.acks import PositionTracker
from producers.encoding import AvroEncoder, EnvelopeEncoder
from schemas.catalog import Column, Table
from schemas.debezium import key_schema, schema_for_columns, subject_names
from schemas.registry import SchemaRegistry


class DeliveryError(CdcError):
    """Kafka refused an event; nothing after it is acknowledged to the source."""


def producer_config(kafka: KafkaSettings, *, linger_ms: int = 20) -> dict[str, Any]:
    """librdkafka settings for change events: idempotent, acks=all, Java-compatible key partitioning."""
    return {
        **kafka.librdkafka_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": linger_ms,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        "queue.buffering.max.kbytes": 1048576,
        # murmur2 like the Java client (and so Debezium on Kafka Connect): one key, one partition, either way.
        "partitioner": "murmur2_random",
        "log_level": 3,
    }


@dataclass(frozen=True)
class TableCodec:
    """Encoders for one table's key and for one version of its value schema."""

    key: AvroEncoder
    value: EnvelopeEncoder


class SchemaCache:
    """Registers each (table, column list) schema once and keeps its encoders."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        self._codecs: dict[tuple[str, tuple[Column, ...]], TableCodec] = {}
        self._keys: dict[str, AvroEncoder] = {}
        self._by_identity: dict[int, tuple[Sequence[Column], TableCodec]] = {}

    def codec(self, table: Table, columns: Sequence[Column] | None = None) -> TableCodec:
        """The encoders for `table` with `columns` (default: the catalog's); registers on first use."""
        columns = table.columns if columns is None else columns
        # Fast path by identity: callers pass the same column tuple for every event of a table version, and
        # hashing pydantic models per event would cost more than encoding the event.
        hit = self._by_identity.get(id(columns))
        if hit is not None and hit[0] is columns:
            return hit[1]
        column_key = tuple(columns)
        cached = self._codecs.get((table.name, column_key))
        if cached is not None:
            self._by_identity[id(columns)] = (columns, cached)
            return cached
        key_subject, value_subject = subject_names(table)
        if table.name not in self._keys:
            schema = key_schema(table)
            self._keys[table.name] = AvroEncoder(schema, self._registry.register(key_subject, schema).schema_id)
        value = schema_for_columns(table, column_key)
        value_id = self._registry.register(value_subject, value).schema_id
        codec = TableCodec(self._keys[table.name], EnvelopeEncoder(value, value_id))
        self._codecs[(table.name, column_key)] = codec
        self._by_identity[id(columns)] = (columns, codec)
        return codec


class ChangePublisher:
    """Thin I/O shell over a confluent-kafka Producer: encode, produce, track delivery by source position."""

    def __init__(self, producer: Producer, schemas: SchemaCache) -> None:
        self._producer = producer
        self._schemas = schemas
        self.tracker = PositionTracker()
        self._failure: str | None = None
        self.delivered = 0
        self.delivered_by_topic: dict[str, int] = {}

    @classmethod
    def connect(cls, kafka: KafkaSettings, registry: SchemaRegistry) -> ChangePublisher:
        return cls(Producer(producer_config(kafka)), SchemaCache(registry))

    def publish(
        self,
        table: Table,
        key: Mapping[str, Any],
        envelope: Mapping[str, Any] | None,
        *,
        position: int,
        columns: Sequence[Column] | None = None,
    ) -> None:
        """Queue one event (a None envelope is a tombstone) tagged with its source position."""
        codec = self._schemas.codec(table, columns)
        value = None if envelope is None else codec.value.encode(envelope)
        self.publish_encoded(table.topic, codec.key.encode(key), value, position=position)

    def codec(self, table: Table, columns: Sequence[Column] | None = None) -> TableCodec:
        """The registered encoders (and so the schema ids) for a table version."""
        return self._schemas.codec(table, columns)

    def publish_encoded(self, topic: str, key: bytes, value: bytes | None, *, position: int) -> None:
        """Queue one already framed event (value None: a tombstone) tagged with its source position."""
        self.tracker.add(position)

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self._failure = self._failure or f"{topic}: {error.str()}"
                return
            self.tracker.ack(position)
            self.delivered += 1
            self.delivered_by_topic[topic] = self.delivered_by_topic.get(topic, 0) + 1

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain
        self._producer.poll(0)

    def register(self, table: Table, columns: Sequence[Column]) -> None:
        """Register the schema for a new column list now (so a refusal is known before any event is queued)."""
        self._schemas.codec(table, columns)

    def reset_tracker(self) -> None:
        """Start a new position sequence (between capture phases); everything before must be confirmed."""
        if self.tracker.in_flight:
            raise RuntimeError("cannot reset delivery tracking with events in flight; flush first")
        self.tracker = PositionTracker()

    def seal(self, position: int) -> None:
        """No more events will carry `position`."""
        self.tracker.seal(position)

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)
        self.raise_on_failure()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued is confirmed (or raise)."""
        remaining = self._producer.flush(timeout)
        self.raise_on_failure()
        if remaining:
            raise ServiceUnavailableError(f"Kafka did not confirm {remaining} events within {timeout:.0f}s")

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued, then release the client's connections and threads."""
        try:
            self.flush(timeout)
        finally:
            self._producer.close()

    def raise_on_failure(self) -> None:
        if self._failure:
            raise DeliveryError(f"Kafka refused a change event ({self._failure}); the source was not acknowledged")

    @property
    def acknowledged(self) -> int | None:
        """The highest source position fully confirmed by Kafka."""
        return self.tracker.safe
