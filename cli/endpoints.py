"""Resolve where the services are: command-line flag, then environment variable, then the running local stack."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from common.errors import ConfigError
from common.lake import LakeLocation
from common.settings import (
    AwsSettings,
    KafkaSettings,
    LakeSettings,
    SchemaRegistrySettings,
    SourceSettings,
    StackSettings,
    WarehouseSettings,
)
from localstack.paths import StackPaths
from localstack.state import load_state

S = TypeVar("S", bound=BaseSettings)


@dataclass(frozen=True)
class Endpoints:
    kafka: KafkaSettings
    registry: SchemaRegistrySettings
    source: SourceSettings
    warehouse: WarehouseSettings
    lake: LakeSettings
    aws: AwsSettings


def build(cls: type[S], **values: Any) -> S:
    """Instantiate a settings class; a validation error becomes one ConfigError line naming the variable."""
    try:
        return cls(**{key: value for key, value in values.items() if value is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        prefix = str(cls.model_config.get("env_prefix", ""))
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {prefix}{field.upper()}: {message}") from None


def stack_settings(home: Path | None) -> StackSettings:
    return build(StackSettings, home=home)


def resolve_endpoints(
    home: Path | None = None,
    *,
    bootstrap_servers: str | None = None,
    schema_registry_url: str | None = None,
    source_dsn: str | None = None,
    warehouse_dsn: str | None = None,
    lake_root: str | None = None,
    aws_endpoint_url: str | None = None,
) -> Endpoints:
    """Flags win over the environment; the environment wins over the local stack's state file."""
    stack = stack_settings(home)
    state = load_state(StackPaths.at(stack.home).state_file)
    running = state.endpoints if state and any(s.pid for s in state.services.values()) else {}
    if state and state.profile == "compose":
        running = state.endpoints

    def pick(flag: str | None, env_name: str) -> str | None:
        if flag is not None:
            return flag
        if os.environ.get(env_name):
            return None  # let the settings class read (and validate) the environment variable
        return running.get(env_name)

    return Endpoints(
        kafka=build(KafkaSettings, bootstrap_servers=pick(bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS")),
        registry=build(SchemaRegistrySettings, url=pick(schema_registry_url, "SCHEMA_REGISTRY_URL")),
        source=build(SourceSettings, dsn=pick(source_dsn, "SOURCE_DSN")),
        warehouse=build(WarehouseSettings, dsn=pick(warehouse_dsn, "WAREHOUSE_DSN")),
        lake=build(LakeSettings, root=pick(lake_root, "LAKE_ROOT")),
        aws=build(AwsSettings, endpoint_url=pick(aws_endpoint_url, "AWS_ENDPOINT_URL")),
    )


def source_dsn(endpoints: Endpoints) -> str:
    """The source database DSN (secret revealed for the client), or a clear error saying how to provide one."""
    dsn = endpoints.source.dsn.get_secret_value() if endpoints.source.dsn else None
    return require(dsn, "source database", "SOURCE_DSN", "--source-dsn")


def require(value: str | None, what: str, env_name: str, flag: str) -> str:
    """A clear error when an endpoint is needed but nothing provides it."""
    if not value:
        raise ConfigError(f"no {what} configured: set {env_name}, pass {flag}, or start the stack with `cdc stack up`")
    return value


def lake_location(endpoints: Endpoints) -> LakeLocation:
    """The data lake (folder or s3://) from the resolved endpoints; a clear error when none is configured."""
    root = require(endpoints.lake.root, "data lake", "LAKE_ROOT", "--lake-root")
    return LakeLocation(root, s3_endpoint=endpoints.aws.endpoint_url, s3_region=endpoints.aws.region)
