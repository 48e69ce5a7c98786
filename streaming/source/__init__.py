"""The Kafka source of the streaming job, two ways, one contract: the same columns either way.

``native``: Spark's own ``kafka`` format (AWS Glue, or any Spark with the spark-sql-kafka jar), with MSK IAM
authentication when asked. ``python``: the ``cdc_kafka`` Python Data Source over confluent-kafka (local runs;
needs PySpark >= 4.2). Everything after :func:`read_kafka_stream` is one code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from common.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SourceKind = Literal["python", "native"]

# Options Spark's kafka source needs for MSK with IAM authentication (aws-msk-iam-auth on the classpath,
# which Glue provides for Kafka connections).
MSK_IAM_OPTIONS = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.sasl.mechanism": "AWS_MSK_IAM",
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}


@dataclass(frozen=True)
class KafkaSourceConfig:
    """Where and how the job reads Kafka; ``client_config`` is librdkafka's (python) or Java's (native) keys."""

    kind: SourceKind
    bootstrap_servers: str
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    msk_iam: bool = False
    client_config: dict[str, str] = field(default_factory=dict)


def native_options(config: KafkaSourceConfig, topics: list[str]) -> dict[str, str]:
    """Options of Spark's ``kafka`` source for these topics (pure, so tests can check them)."""
    options = {
        "kafka.bootstrap.servers": config.bootstrap_servers,
        "subscribe": ",".join(topics),
        "startingOffsets": config.starting_offsets,
        "failOnDataLoss": str(config.fail_on_data_loss).lower(),
        "includeHeaders": "true",
    }
    if config.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(config.max_offsets_per_trigger)
    if config.msk_iam:
        options.update(MSK_IAM_OPTIONS)
    options.update({f"kafka.{key}": value for key, value in config.client_config.items()})
    return options


def python_options(config: KafkaSourceConfig, topics: list[str]) -> dict[str, str]:
    """Options of the ``cdc_kafka`` Python Data Source (client settings are librdkafka keys)."""
    if config.msk_iam:
        raise ConfigError(
            "MSK IAM authentication needs Spark's native kafka source (on Glue): set STREAM_SOURCE=native; the "
            "python source takes SASL/SSL settings through KAFKA_* instead"
        )
    options = {
        "kafka.bootstrap.servers": config.bootstrap_servers,
        "subscribe": ",".join(topics),
        "startingOffsets": config.starting_offsets,
        "failOnDataLoss": str(config.fail_on_data_loss).lower(),
    }
    if config.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(config.max_offsets_per_trigger)
    options.update({f"kafka.{key}": value for key, value in config.client_config.items()})
    return options


def read_kafka_stream(spark: SparkSession, config: KafkaSourceConfig, topics: list[str]) -> DataFrame:
    """A streaming DataFrame with the Kafka source's columns (key, value, topic, partition, offset, ...)."""
    if config.kind == "native":
        return spark.readStream.format("kafka").options(**native_options(config, topics)).load()
    # Imported here: the module needs PySpark >= 4.2, and the native path must import on Glue's Spark 3.5.
    from streaming.source.python_source import FORMAT_NAME, CdcKafkaDataSource  # noqa: PLC0415

    spark.dataSource.register(CdcKafkaDataSource)
    return spark.readStream.format(FORMAT_NAME).options(**python_options(config, topics)).load()
