"""Topic housekeeping: create the catalog's CDC topics when missing, count what they hold."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.errors import ServiceUnavailableError
from common.logging import get_logger

log = get_logger(__name__)


def ensure_topics(
    admin_config: dict[str, Any], topics: Iterable[str], *, partitions: int, replication: int
) -> list[str]:
    """Create each topic that does not exist yet; return the ones created. Existing topics are left as they are."""
    admin = AdminClient(admin_config)
    try:
        existing = set(admin.list_topics(timeout=15).topics)
    except KafkaException as exc:
        raise ServiceUnavailableError(f"Kafka at {admin_config.get('bootstrap.servers')} unreachable: {exc}") from None
    missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication) for topic in missing]
    )
    for topic, future in futures.items():
        try:
            future.result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ServiceUnavailableError(f"could not create topic {topic}: {exc}") from None
        log.info("topic.created", topic=topic, partitions=partitions)
    return missing


@dataclass(frozen=True)
class TopicCount:
    records: int
    tombstones: int


def topic_counts(
    consumer_config: dict[str, Any], topics: Iterable[str], timeout: float = 60.0
) -> dict[str, TopicCount]:
    """Count each topic's records by reading every partition to its end (not from watermarks: see ADR 0002)."""
    consumer = Consumer(
        {**consumer_config, "group.id": "cdc-topic-counts", "enable.partition.eof": True, "enable.auto.commit": False}
    )
    counts = {topic: [0, 0] for topic in topics}
    try:
        metadata = consumer.list_topics(timeout=15)
        partitions = [
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in counts
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        consumer.assign(partitions)
        pending = {(p.topic, p.partition) for p in partitions}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error, topic = message.error(), str(message.topic())
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((topic, message.partition()))
                    continue
                counts[topic][0 if message.value() is not None else 1] += 1
        if pending:
            raise ServiceUnavailableError(f"could not read {len(pending)} partitions to the end within {timeout:.0f}s")
    finally:
        consumer.close()
    return {topic: TopicCount(records, tombstones) for topic, (records, tombstones) in counts.items()}
