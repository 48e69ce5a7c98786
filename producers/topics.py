"""Create the catalog's CDC topics when missing (partition count from configuration)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
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
