"""Services that are Python HTTP servers started as child processes: the schema registry and moto."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from localstack.ports import LOOPBACK
from localstack.process import await_healthy, spawn, terminate
from localstack.state import ServiceRecord


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


class RegistryService:
    """The project's Confluent-compatible registry (`python -m schemas.registry_server`), state in SQLite."""

    name = "schema-registry"

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self._data_dir = data_dir
        self._log_path = log_path

    def start(self, port: int) -> ServiceRecord:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        pid = spawn(
            [
                sys.executable,
                "-m",
                "schemas.registry_server",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--data-dir",
                str(self._data_dir),
            ],
            self._log_path,
        )
        record = ServiceRecord(
            name=self.name, port=port, pid=pid, address=f"http://{LOOPBACK}:{port}", log=str(self._log_path)
        )
        await_healthy(pid, lambda: self.healthy(record), timeout=30, what="schema registry", log_path=self._log_path)
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        return http_ok(f"{record.address}/subjects")

    def stop(self, record: ServiceRecord) -> None:
        terminate(record.pid)

    def endpoints(self, record: ServiceRecord) -> dict[str, str]:
        return {"SCHEMA_REGISTRY_URL": record.address}


class MotoService:
    """moto in server mode: the AWS endpoint (S3, Glue, Secrets Manager, Redshift Data ...) for local runs."""

    name = "aws"

    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path

    def start(self, port: int) -> ServiceRecord:
        pid = spawn([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)], self._log_path)
        record = ServiceRecord(
            name=self.name, port=port, pid=pid, address=f"http://{LOOPBACK}:{port}", log=str(self._log_path)
        )
        await_healthy(
            pid, lambda: self.healthy(record), timeout=60, what="moto (AWS endpoint)", log_path=self._log_path
        )
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        return http_ok(f"{record.address}/moto-api/")

    def stop(self, record: ServiceRecord) -> None:
        terminate(record.pid)

    def endpoints(self, record: ServiceRecord) -> dict[str, str]:
        # moto accepts any credentials; fixed dummies keep boto3 from looking for real ones.
        return {
            "AWS_ENDPOINT_URL": record.address,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
