"""The docker-compose profile: the same services in containers (real Kafka, Confluent Schema Registry, MinIO)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from common.errors import StackError
from localstack.broker import kafka_reachable
from localstack.docker import docker_engine_available
from localstack.http_service import http_ok
from localstack.paths import StackPaths
from localstack.services import ServiceStatus
from localstack.state import ServiceRecord, StackState, load_state, save_state

# Fixed host ports published by docker-compose.yml.
COMPOSE_SERVICES = {
    "postgres": ServiceRecord(name="postgres", port=5432, address="127.0.0.1:5432"),
    "kafka": ServiceRecord(name="kafka", port=9092, address="127.0.0.1:9092"),
    "schema-registry": ServiceRecord(name="schema-registry", port=8081, address="http://127.0.0.1:8081"),
    "aws": ServiceRecord(name="aws", port=9000, address="http://127.0.0.1:9000"),
}
COMPOSE_ENDPOINTS = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "SCHEMA_REGISTRY_URL": "http://127.0.0.1:8081",
    "SOURCE_DSN": "postgresql://cdc:cdc@127.0.0.1:5432/retail",
    "WAREHOUSE_DSN": "postgresql://cdc:cdc@127.0.0.1:5432/warehouse",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def find_compose_file(start: Path | None = None) -> Path:
    """docker-compose.yml in the working folder or the project checkout."""
    for folder in [start or Path.cwd(), Path(__file__).resolve().parents[1]]:
        candidate = folder / "docker-compose.yml"
        if candidate.exists():
            return candidate
    raise StackError("docker-compose.yml not found in the working folder or the project checkout")


class ComposeStack:
    profile = "compose"

    def __init__(self, paths: StackPaths, compose_file: Path | None = None) -> None:
        self.paths = paths
        self._compose_file = compose_file

    def _compose(self, *args: str) -> None:
        if not docker_engine_available():
            raise StackError(
                "the compose profile needs a running Docker engine and none answers here; "
                "use `cdc stack up` (embedded profile) instead"
            )
        compose_file = self._compose_file or find_compose_file()
        result = subprocess.run(
            ["docker", "compose", "-f", str(compose_file), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise StackError(f"docker compose {args[0]} failed: {lines[-1] if lines else result.returncode}")

    def state(self) -> StackState | None:
        return load_state(self.paths.state_file)

    def up(self) -> StackState:
        self.paths.ensure()
        existing = self.state()
        if existing and existing.profile == "embedded" and any(r.pid for r in existing.services.values()):
            raise StackError(f"an embedded stack is recorded in {self.paths.home}; `cdc stack down` it first")
        self._compose("up", "-d", "--wait")
        state = StackState(profile="compose", services={k: v.model_copy() for k, v in COMPOSE_SERVICES.items()})
        state.endpoints = {**COMPOSE_ENDPOINTS, "LAKE_ROOT": str(self.paths.lake)}
        save_state(self.paths.state_file, state)
        return state

    def status(self) -> list[ServiceStatus]:
        checks = {
            "postgres": lambda r: _pg_ok(COMPOSE_ENDPOINTS["SOURCE_DSN"]),
            "kafka": lambda r: kafka_reachable(r.address),
            "schema-registry": lambda r: http_ok(f"{r.address}/subjects"),
            "aws": lambda r: http_ok(f"{r.address}/minio/health/live"),
        }
        return [
            ServiceStatus(name, record.address, "healthy" if checks[name](record) else "unhealthy", None, None)
            for name, record in COMPOSE_SERVICES.items()
        ]

    def down(self, *, purge: bool = False) -> list[str]:
        self._compose("down", *(["--volumes"] if purge else []))
        state = self.state()
        if state:
            state.services = {}
            save_state(self.paths.state_file, state)
        return list(COMPOSE_SERVICES)


def _pg_ok(dsn: str) -> bool:
    import psycopg  # noqa: PLC0415 - keep module import light

    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.Error:
        return False
