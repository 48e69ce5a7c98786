"""Fixtures for the registry conformance suite.

`registry_url` is a real Confluent Schema Registry when SCHEMA_REGISTRY_URL is set, otherwise the project's own
server (`python -m schemas.registry_server`) started on a free loopback port with a temporary data dir. Tests use
unique subject names, so the suite runs unchanged against a shared registry.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

REPO_ROOT = Path(__file__).resolve().parents[3]
EXTERNAL_URL_ENV = "SCHEMA_REGISTRY_URL"
START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRegistry:
    """One `python -m schemas.registry_server` child process over a data dir that outlives restarts."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "schemas.registry_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *extra,
        ]

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise RuntimeError(f"registry exited with {self.process.returncode}: {stderr.strip()}")
            try:
                if httpx.get(f"{self.url}/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"registry did not answer on {self.url} within {START_TIMEOUT_S}s")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
        return process.returncode

    def restart(self) -> None:
        self.stop()
        self.start()


def _external_url() -> str | None:
    return os.environ.get(EXTERNAL_URL_ENV) or None


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the registry under test (external if SCHEMA_REGISTRY_URL is set, else embedded)."""
    external = _external_url()
    if external:
        yield external.rstrip("/")
        return
    server = EmbeddedRegistry(tmp_path_factory.mktemp("registry"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def embedded_registry(tmp_path: Path) -> Iterator[EmbeddedRegistry]:
    """A private embedded server (its own data dir) that a test may stop and restart."""
    if _external_url():
        pytest.skip(f"{EXTERNAL_URL_ENV} is set: the registry under test is external and cannot be restarted")
    server = EmbeddedRegistry(tmp_path / "registry-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def embedded_only() -> None:
    if _external_url():
        pytest.skip(f"{EXTERNAL_URL_ENV} is set: this test is about the project's own server process")


@pytest.fixture
def client_factory(registry_url: str) -> Iterator[Callable[[], SchemaRegistryClient]]:
    """Fresh clients (the client caches ids and versions, so each test and thread gets its own)."""
    clients: list[SchemaRegistryClient] = []

    def make(url: str | None = None) -> SchemaRegistryClient:
        client = SchemaRegistryClient({"url": url or registry_url})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: Callable[[], SchemaRegistryClient]) -> SchemaRegistryClient:
    return client_factory()


@pytest.fixture
def http(registry_url: str) -> Iterator[httpx.Client]:
    """Raw HTTP for what the client library cannot express (malformed bodies, unknown paths, flags)."""
    with httpx.Client(base_url=registry_url, timeout=10.0) as session:
        yield session


def unique_subject(prefix: str = "conformance") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}-value"


@pytest.fixture
def subjects(http: httpx.Client) -> Iterator[Callable[[], str]]:
    """Unique subject names; each one is soft- then hard-deleted after the test (kind to shared registries)."""
    made: list[str] = []

    def make() -> str:
        made.append(unique_subject())
        return made[-1]

    yield make
    for name in made:
        http.delete(f"/subjects/{name}")
        http.delete(f"/subjects/{name}", params={"permanent": "true"})


@pytest.fixture
def subject(subjects: Callable[[], str]) -> str:
    return subjects()
