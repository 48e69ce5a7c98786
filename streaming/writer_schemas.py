"""Writer schemas by id from a Confluent-compatible registry, fetched once per executor process.

Executors cannot share the driver's client, so each Python worker keeps a process-wide cache (workers are
reused across tasks). An unknown id is data (the record goes to the dead-letter sink); a registry that does not
answer is an outage (the task fails and Spark retries the batch), never a reason to dead-letter good records.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Final

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from common.errors import ServiceUnavailableError

_TIMEOUT_S: Final = 10.0
_cache: dict[tuple[str, int], dict[str, Any]] = {}
_lock = threading.Lock()


class UnknownSchemaId(Exception):
    """The registry has no schema with this id."""


@dataclass(frozen=True)
class RegistryEndpoint:
    """What an executor needs to reach the registry (picklable; the auth secret is never logged)."""

    url: str
    basic_auth: str | None = None  # "user:password"

    def _auth(self) -> tuple[str, str] | None:
        if not self.basic_auth:
            return None
        user, _, password = self.basic_auth.partition(":")
        return user, password


@retry(
    retry=retry_if_exception_type(httpx.TransportError),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
def _get(endpoint: RegistryEndpoint, path: str) -> httpx.Response:
    return httpx.get(f"{endpoint.url.rstrip('/')}{path}", auth=endpoint._auth(), timeout=_TIMEOUT_S)


def _fetch(endpoint: RegistryEndpoint, path: str) -> dict[str, Any] | None:
    """GET a registry resource: its JSON, None on 404, ServiceUnavailableError otherwise."""
    try:
        response = _get(endpoint, path)
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"schema registry at {endpoint.url} unreachable: {exc}") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ServiceUnavailableError(f"schema registry GET {path} answered HTTP {response.status_code}")
    data: dict[str, Any] = response.json()
    return data


def writer_schema(endpoint: RegistryEndpoint, schema_id: int) -> dict[str, Any]:
    """The schema registered under ``schema_id``; UnknownSchemaId when there is none."""
    key = (endpoint.url, schema_id)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    # An unknown id is not cached: a registry replica may lag behind the one the producer registered with.
    # The decoder remembers it per task, so one poison id costs one request per task, not one per record.
    found = _fetch(endpoint, f"/schemas/ids/{schema_id}")
    if found is None:
        raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
    schema: dict[str, Any] = json.loads(found["schema"])
    with _lock:
        _cache[key] = schema
    return schema


def latest_version(endpoint: RegistryEndpoint, subject: str) -> tuple[int, dict[str, Any]] | None:
    """(id, schema) of the subject's latest version, not cached: the reader schema can move on."""
    found = _fetch(endpoint, f"/subjects/{subject}/versions/latest")
    if found is None:
        return None
    return int(found["id"]), json.loads(found["schema"])
