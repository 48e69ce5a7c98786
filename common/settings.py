"""Typed settings, one class per concern, each read from environment variables with its own prefix.

Settings are read only at entry points (the CLI, Glue scripts, test fixtures) and passed down explicitly. The
environment variable names are the contract shared with `cdc stack env`, docker-compose and CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["embedded", "compose", "external"]


class KafkaSettings(BaseSettings):
    """Kafka / Amazon MSK client settings (`KAFKA_*`)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    client_id: str = "retail-cdc"

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value.strip()

    def librdkafka_config(self) -> dict[str, str]:
        """Render the dotted librdkafka keys (secrets included: hand this only to the client)."""
        config = {"client.id": self.client_id, "security.protocol": self.security_protocol.lower()}
        if self.bootstrap_servers:
            config["bootstrap.servers"] = self.bootstrap_servers
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config


class SchemaRegistrySettings(BaseSettings):
    """Confluent-compatible schema registry (`SCHEMA_REGISTRY_*`)."""

    model_config = SettingsConfigDict(env_prefix="SCHEMA_REGISTRY_", extra="ignore")

    url: str | None = None
    basic_auth_user_info: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    def client_config(self) -> dict[str, str]:
        """Config dict for confluent-kafka's `SchemaRegistryClient`."""
        config: dict[str, str] = {}
        if self.url:
            config["url"] = self.url
        if self.basic_auth_user_info:
            config["basic.auth.user.info"] = self.basic_auth_user_info.get_secret_value()
        return config


class SourceSettings(BaseSettings):
    """The OLTP source database (`SOURCE_DSN`, a libpq URI or key=value string)."""

    model_config = SettingsConfigDict(env_prefix="SOURCE_", extra="ignore")

    dsn: SecretStr | None = None


class WarehouseSettings(BaseSettings):
    """The warehouse: Redshift, or PostgreSQL standing in for it locally (`WAREHOUSE_DSN`)."""

    model_config = SettingsConfigDict(env_prefix="WAREHOUSE_", extra="ignore")

    dsn: SecretStr | None = None


class LakeSettings(BaseSettings):
    """The data lake root: a local folder laid out like the bucket, or `s3://bucket/prefix` (`LAKE_ROOT`)."""

    model_config = SettingsConfigDict(env_prefix="LAKE_", extra="ignore")

    root: str | None = None


class AwsSettings(BaseSettings):
    """AWS API endpoint override (moto locally, unset for real AWS) and region (`AWS_*`)."""

    model_config = SettingsConfigDict(env_prefix="AWS_", extra="ignore")

    endpoint_url: str | None = None
    region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")

    @field_validator("endpoint_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)


class StreamSettings(BaseSettings):
    """The landing job: Kafka source kind, trigger, batch and file sizes, Spark master (`STREAM_*`)."""

    model_config = SettingsConfigDict(env_prefix="STREAM_", extra="ignore")

    source: Literal["python", "native"] = "python"
    trigger_seconds: float = Field(default=5.0, gt=0)
    max_offsets_per_trigger: int | None = Field(default=None, gt=0)
    max_records_per_file: int = Field(default=250_000, gt=0)
    starting_offsets: str = "earliest"
    checkpoint_root: str | None = None
    msk_iam: bool = False
    spark_master: str = "local[2]"
    spark_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"


class BatchSettings(BaseSettings):
    """The batch medallion jobs: Spark master and log level, retries per DAG step (`BATCH_*`)."""

    model_config = SettingsConfigDict(env_prefix="BATCH_", extra="ignore")

    spark_master: str = "local[2]"
    spark_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"
    attempts: int = Field(default=3, ge=1, le=10)
    retry_wait_seconds: float = Field(default=2.0, ge=0)


class StackSettings(BaseSettings):
    """Where the embedded stack keeps its data and logs (`CDC_HOME`) and which profile `up` uses."""

    model_config = SettingsConfigDict(env_prefix="CDC_", extra="ignore")

    home: Path = Path(".cdc")
    profile: Profile = "embedded"
    log_level: str = "WARNING"


def _http_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s):// URL, got {value.strip()!r}")
    return value.strip().rstrip("/")


def redact_dsn(dsn: str) -> str:
    """Hide the password of a libpq URI or key=value DSN so it can be printed or logged."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urlunsplit(parts._replace(netloc=netloc))
        return dsn
    words = []
    for word in dsn.split():
        key, sep, _ = word.partition("=")
        words.append(f"{key}=***" if sep and key.lower() == "password" else word)
    return " ".join(words)
