"""The shared after-source code path (decode_to_landing + start_landing_query) over a folder; the registry server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import httpx
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from streaming.decode import DecodePlan
from streaming.landing import AVAILABLE_NOW, SinkConfig, decode_to_landing, start_landing_query
from streaming.progress import TableProgress, fold
from streaming.source.kafka_log import KAFKA_SPARK_DDL
from streaming.writer_schemas import RegistryEndpoint

QUERY_TIMEOUT_S: Final = 120
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
START_TIMEOUT_S: Final = 20.0


def land_available_now(spark: SparkSession, source: Path, plan: DecodePlan, lake: LakeLocation) -> TableProgress:
    """One ``Trigger.AvailableNow`` run of the table's landing query over ``source``; its folded progress."""
    raw = spark.readStream.schema(KAFKA_SPARK_DDL).parquet(str(source))
    landing = decode_to_landing(raw, plan, lake)
    query = start_landing_query(landing, plan.table, lake, SinkConfig(trigger=AVAILABLE_NOW))
    try:
        finished = query.awaitTermination(QUERY_TIMEOUT_S)
    finally:
        if query.isActive:
            query.stop()
    assert finished, f"the AvailableNow query did not finish within {QUERY_TIMEOUT_S}s"
    assert query.exception() is None, query.exception()
    progress = TableProgress(plan.table, plan.subject.removesuffix("-value"), plan.reader_id)
    fold(progress, query.recentProgress)
    return progress


class Registry:
    """The project's registry server (``python -m schemas.registry_server``) as a child process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> RegistryEndpoint:
        return RegistryEndpoint(self.url)

    def start(self) -> None:
        command = [sys.executable, "-m", "schemas.registry_server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited with {self.process.returncode} (its stderr is above)")
            try:
                if httpx.get(f"{self.url}/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"registry did not answer on {self.url} within {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register a schema version under ``subject``; its id."""
        response = httpx.post(
            f"{self.url}/subjects/{subject}/versions",
            json={"schema": json.dumps(schema)},
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            timeout=10.0,
        )
        assert response.status_code == 200, response.text
        return int(response.json()["id"])
