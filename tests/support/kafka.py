"""Reading topics back with confluent-kafka's own AvroDeserializer, to partition EOF (Tansu quirk-safe)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: dict[str, Any]
    value: dict[str, Any] | None
    raw_value: bytes | None


def read_topics(bootstrap: str, registry_url: str, topics: list[str], timeout: float = 60.0) -> list[Record]:
    """Every record of `topics`, decoded, in partition order (assign + EOF; no consumer group needed)."""
    client = SchemaRegistryClient({"url": registry_url})
    deserializer = AvroDeserializer(client)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    records: list[Record] = []
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p, 0)
            for topic in topics
            if topic in metadata.topics  # a topic not created yet holds nothing
            for p in metadata.topics[topic].partitions
        ]
        consumer.assign(partitions)
        pending = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard((message.topic(), message.partition()))
                continue
            key = deserializer(message.key(), SerializationContext(message.topic(), MessageField.KEY))
            raw = message.value()
            value = (
                None if raw is None else deserializer(raw, SerializationContext(message.topic(), MessageField.VALUE))
            )
            records.append(Record(message.topic(), message.partition(), message.offset(), key, value, raw))
        if pending:
            raise TimeoutError(f"partitions not read to the end: {sorted(pending)}")
    finally:
        consumer.close()
    return records
