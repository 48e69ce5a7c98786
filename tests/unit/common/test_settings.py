from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from common.logging import KeyValueFormatter
from common.settings import AwsSettings, KafkaSettings, SchemaRegistrySettings, redact_dsn


def test_kafka_settings_render_librdkafka_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b-1:9098,b-2:9098")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "app")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    settings = KafkaSettings()
    assert settings.librdkafka_config() == {
        "client.id": "retail-cdc",
        "bootstrap.servers": "b-1:9098,b-2:9098",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "app",
        "sasl.password": "s3cret",
    }
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("servers", ["localhost", "host:port", ":9092", "a:1,b"])
def test_kafka_bootstrap_servers_must_be_host_port(servers: str) -> None:
    with pytest.raises(ValidationError, match="expected host:port"):
        KafkaSettings(bootstrap_servers=servers)


def test_urls_are_validated_and_normalised() -> None:
    assert SchemaRegistrySettings(url="http://127.0.0.1:8081/").url == "http://127.0.0.1:8081"
    with pytest.raises(ValidationError, match="http"):
        SchemaRegistrySettings(url="127.0.0.1:8081")
    with pytest.raises(ValidationError, match="http"):
        AwsSettings(endpoint_url="ftp://x")


def test_registry_credentials_are_secret() -> None:
    settings = SchemaRegistrySettings(url="https://sr", basic_auth_user_info="key:secret")
    assert settings.client_config() == {"url": "https://sr", "basic.auth.user.info": "key:secret"}
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://cdc:pw@127.0.0.1:5432/retail", "postgresql://cdc:***@127.0.0.1:5432/retail"),
        ("postgresql://cdc@127.0.0.1/retail", "postgresql://cdc@127.0.0.1/retail"),
        ("host=h user=u password=pw dbname=d", "host=h user=u password=*** dbname=d"),
    ],
)
def test_redact_dsn_hides_passwords(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


def test_key_value_formatter_quotes_values_with_spaces() -> None:
    record = logging.LogRecord("cdc.test", logging.INFO, __file__, 1, "stack.start", None, None)
    record.cdc_fields = {"service": "kafka", "detail": "two words", "port": 9092}
    line = KeyValueFormatter().format(record)
    assert line.endswith('info cdc.test stack.start service=kafka detail="two words" port=9092')
