"""Names of the bridge's output topics and headers, and the partition layout checks around them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from common.errors import ConfigError, ServiceUnavailableError

JSON_SUFFIX: Final = ".json"
DEAD_LETTER_SUFFIX: Final = ".json.dlq"

SOURCE_TOPIC_HEADER: Final = "cdc.source.topic"
SOURCE_PARTITION_HEADER: Final = "cdc.source.partition"
SOURCE_OFFSET_HEADER: Final = "cdc.source.offset"
ERROR_CLASS_HEADER: Final = "cdc.error.class"
ERROR_MESSAGE_HEADER: Final = "cdc.error.message"
BRIDGE_HEADERS: Final = frozenset(
    {SOURCE_TOPIC_HEADER, SOURCE_PARTITION_HEADER, SOURCE_OFFSET_HEADER, ERROR_CLASS_HEADER, ERROR_MESSAGE_HEADER}
)


def json_topic(topic: str) -> str:
    """`T.json`: the JSON twin of an Avro CDC topic."""
    return topic + JSON_SUFFIX


def dead_letter_topic(topic: str) -> str:
    """`T.json.dlq`: the records of `T` the bridge could not decode, raw, with the reason in headers."""
    return topic + DEAD_LETTER_SUFFIX


@dataclass(frozen=True)
class TopicLayout:
    """Partition count and replication factor of a topic, as the broker reports them."""

    partitions: int
    replication: int


def _admin(config: dict[str, Any]) -> AdminClient:
    return AdminClient({**config, "log_level": 0})


def describe_topics(admin_config: dict[str, Any], topics: Iterable[str]) -> dict[str, TopicLayout | None]:
    """The layout of each topic, None for a topic that does not exist."""
    try:
        metadata = _admin(admin_config).list_topics(timeout=15)
    except KafkaException as exc:
        raise ServiceUnavailableError(f"Kafka at {admin_config.get('bootstrap.servers')} unreachable: {exc}") from None
    layouts: dict[str, TopicLayout | None] = {}
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            layouts[topic] = None
            continue
        replicas = max(len(partition.replicas) for partition in found.partitions.values())
        layouts[topic] = TopicLayout(len(found.partitions), max(replicas, 1))
    return layouts


def source_layouts(admin_config: dict[str, Any], topics: Iterable[str]) -> dict[str, TopicLayout]:
    """The layout of each source topic; ConfigError naming the topics that do not exist yet."""
    layouts = describe_topics(admin_config, topics)
    missing = [topic for topic, layout in layouts.items() if layout is None]
    if missing:
        raise ConfigError(
            f"source topic(s) {', '.join(missing)} do not exist yet: start `cdc capture` first "
            "(it creates them), or choose tables with --tables"
        )
    return {topic: layout for topic, layout in layouts.items() if layout is not None}


def check_outputs(admin_config: dict[str, Any], sources: dict[str, TopicLayout]) -> None:
    """Every output topic exists with its source's partition count (outputs go to the source's partition)."""
    outputs = {output: source for source in sources for output in (json_topic(source), dead_letter_topic(source))}
    for output, layout in describe_topics(admin_config, outputs).items():
        source = outputs[output]
        if layout is None:
            raise ServiceUnavailableError(f"output topic {output} was not created")
        if layout.partitions != sources[source].partitions:
            raise ConfigError(
                f"output topic {output} has {layout.partitions} partitions but {source} has "
                f"{sources[source].partitions}: records keep their partition, so the counts must match "
                f"(delete {output} to let the bridge recreate it)"
            )
