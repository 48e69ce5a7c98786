"""A thin wrapper over confluent-kafka's `SchemaRegistryClient` that speaks in the project's errors.

Works against the project's registry server and a real Confluent Schema Registry alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common.errors import SchemaError, ServiceUnavailableError
from common.settings import SchemaRegistrySettings

HTTP_CONFLICT = 409
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SUBJECT_LEVEL_NOT_CONFIGURED = 40408


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    schema_id: int
    version: int


class SchemaRegistry:
    """Register and look up Avro schemas by subject; transport failures become ServiceUnavailableError."""

    def __init__(self, settings: SchemaRegistrySettings) -> None:
        if not settings.url:
            raise ServiceUnavailableError("no schema registry URL configured (SCHEMA_REGISTRY_URL)")
        self.url = settings.url
        self._client = SchemaRegistryClient({**settings.client_config(), "max.retries": 3})

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except SchemaRegistryError:
            raise
        except Exception as exc:  # the client surfaces its HTTP library's transport errors directly
            raise ServiceUnavailableError(
                f"schema registry at {self.url} unreachable while trying to {what}: {type(exc).__name__}: {exc}"
            ) from None

    def register(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema:
        """Register (idempotently) and return id and version; an incompatible schema is a SchemaError."""
        text = json.dumps(schema, separators=(",", ":"))
        try:
            schema_id = self._call(f"register {subject}", self._client.register_schema, subject, Schema(text, "AVRO"))
            registered = self._call(f"look up {subject}", self._client.lookup_schema, subject, Schema(text, "AVRO"))
        except SchemaRegistryError as exc:
            if exc.http_status_code == HTTP_CONFLICT:
                raise SchemaError(f"{subject}: refused by the registry as incompatible: {exc.error_message}") from None
            raise SchemaError(f"{subject}: registry error {exc.error_code}: {exc.error_message}") from None
        return RegisteredSchema(subject, int(schema_id), int(registered.version))

    def latest(self, subject: str) -> tuple[int, str] | None:
        """(version, schema text) of the latest version, or None when the subject does not exist."""
        try:
            found = self._call(f"read {subject}", self._client.get_latest_version, subject)
        except SchemaRegistryError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
                return None
            raise SchemaError(f"{subject}: registry error {exc.error_code}: {exc.error_message}") from None
        return int(found.version), str(found.schema.schema_str)

    def compatibility_level(self, subject: str) -> str:
        """The subject's effective level: its own setting, else the registry's global one."""
        for scope in (subject, None):
            try:
                return str(self._call("read the compatibility level", self._client.get_compatibility, scope))
            except SchemaRegistryError as exc:
                if exc.error_code in (SUBJECT_LEVEL_NOT_CONFIGURED, SUBJECT_NOT_FOUND) and scope is not None:
                    continue
                raise SchemaError(f"{subject}: registry error {exc.error_code}: {exc.error_message}") from None
        return "BACKWARD"

    def close(self) -> None:
        self._client.close()
