"""Stack fixtures shared by the integration tests.

Integration tests get their endpoints, in order of preference, from:
1. the environment (KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, SOURCE_DSN all set): an external stack;
2. testcontainers, when a Docker engine answers (CDC_TEST_STACK=containers forces it, =embedded skips it);
3. the embedded stack (real local processes), started once per test session in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack.docker import docker_engine_available
from localstack.paths import StackPaths
from localstack.supervisor import EmbeddedStack

EXTERNAL_KEYS = ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "SOURCE_DSN")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/unit are `unit`, under tests/integration `integration`, unless marked otherwise."""
    for item in items:
        path = Path(str(item.fspath))
        if "unit" in path.parts and not item.get_closest_marker("unit"):
            item.add_marker(pytest.mark.unit)
        if "integration" in path.parts and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Endpoint variables (the names `cdc stack env` prints) of a running stack for this test session."""
    choice = os.environ.get("CDC_TEST_STACK", "auto")
    if choice in ("auto", "external") and all(os.environ.get(key) for key in EXTERNAL_KEYS):
        yield {
            key: os.environ[key]
            for key in os.environ
            if key in (*EXTERNAL_KEYS, "WAREHOUSE_DSN", "LAKE_ROOT", "AWS_ENDPOINT_URL")
        }
        return
    home = tmp_path_factory.mktemp("stack")
    if choice == "containers" or (choice == "auto" and docker_engine_available()):
        from localstack.containers import container_stack

        with container_stack(home) as endpoints:
            yield endpoints
        return
    stack = EmbeddedStack(StackPaths.at(home))
    state = stack.up()
    try:
        yield dict(state.endpoints)
    finally:
        stack.down(purge=True)
