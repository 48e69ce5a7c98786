"""Options of the two Kafka sources (Spark's native ``kafka`` and the ``cdc_kafka`` Python Data Source)."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from streaming.source import MSK_IAM_OPTIONS, KafkaSourceConfig, native_options, python_options

TOPICS = ["retail.orders.cdc", "retail.payment.cdc"]


def test_native_defaults() -> None:
    options = native_options(KafkaSourceConfig("native", "b1:9092,b2:9092"), TOPICS)

    assert options == {
        "kafka.bootstrap.servers": "b1:9092,b2:9092",
        "subscribe": "retail.orders.cdc,retail.payment.cdc",
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
        "includeHeaders": "true",
    }


def test_native_with_limit_offsets_and_data_loss_tolerated() -> None:
    config = KafkaSourceConfig(
        "native",
        "b:9092",
        starting_offsets='{"retail.orders.cdc": {"0": 5}}',
        max_offsets_per_trigger=10_000,
        fail_on_data_loss=False,
    )

    options = native_options(config, TOPICS[:1])

    assert options["subscribe"] == "retail.orders.cdc"
    assert options["startingOffsets"] == '{"retail.orders.cdc": {"0": 5}}'
    assert options["maxOffsetsPerTrigger"] == "10000"
    assert options["failOnDataLoss"] == "false"


def test_native_msk_iam_adds_sasl_options() -> None:
    options = native_options(KafkaSourceConfig("native", "b-1.msk:9098", msk_iam=True), TOPICS)

    assert {key: options[key] for key in MSK_IAM_OPTIONS} == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
    }
    assert options["kafka.bootstrap.servers"] == "b-1.msk:9098"


def test_native_without_msk_iam_has_no_sasl_options() -> None:
    options = native_options(KafkaSourceConfig("native", "b:9092"), TOPICS)

    assert not any(key.startswith("kafka.sasl") or key == "kafka.security.protocol" for key in options)
    assert "maxOffsetsPerTrigger" not in options


def test_native_client_config_is_prefixed_and_wins_over_defaults() -> None:
    config = KafkaSourceConfig(
        "native",
        "b:9092",
        msk_iam=True,
        client_config={"security.protocol": "SSL", "fetch.max.bytes": "1048576"},
    )

    options = native_options(config, TOPICS)

    assert options["kafka.security.protocol"] == "SSL"
    assert options["kafka.fetch.max.bytes"] == "1048576"
    assert "security.protocol" not in options


def test_python_defaults_have_no_headers_option() -> None:
    config = KafkaSourceConfig("python", "localhost:9092")

    options = python_options(config, TOPICS)

    assert options == {
        "kafka.bootstrap.servers": "localhost:9092",
        "subscribe": "retail.orders.cdc,retail.payment.cdc",
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
    }


def test_python_with_limit_and_librdkafka_settings() -> None:
    config = KafkaSourceConfig(
        "python",
        "localhost:9092",
        starting_offsets="latest",
        max_offsets_per_trigger=500,
        fail_on_data_loss=False,
        client_config={"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN"},
    )

    options = python_options(config, TOPICS)

    assert options["startingOffsets"] == "latest"
    assert options["maxOffsetsPerTrigger"] == "500"
    assert options["failOnDataLoss"] == "false"
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanisms"] == "PLAIN"


def test_both_sources_share_the_common_options() -> None:
    config = KafkaSourceConfig("native", "b:9092", max_offsets_per_trigger=1, client_config={"client.id": "x"})

    native = native_options(config, TOPICS)
    python = python_options(config, TOPICS)

    assert python.items() <= native.items()
    assert set(native) - set(python) == {"includeHeaders"}


def test_python_source_refuses_msk_iam_with_a_pointer_to_the_native_source() -> None:
    config = KafkaSourceConfig("python", "localhost:9092", msk_iam=True)

    with pytest.raises(ConfigError, match="STREAM_SOURCE=native"):
        python_options(config, TOPICS)


def test_builders_do_not_mutate_the_config() -> None:
    config = KafkaSourceConfig("native", "b:9092", msk_iam=True, client_config={"a": "1"})

    native_options(config, TOPICS)
    python_options(KafkaSourceConfig("python", "b:9092", client_config=config.client_config), TOPICS)

    assert config.client_config == {"a": "1"}
    assert MSK_IAM_OPTIONS["kafka.security.protocol"] == "SASL_SSL"
