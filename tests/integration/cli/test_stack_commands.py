"""`cdc stack ...` as a user runs it, in a real subprocess: foreground mode, env, status, clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from localstack.ports import LOOPBACK
from localstack.process import is_alive

CDC = [sys.executable, "-c", "from cli.main import entry; entry()"]


def _cdc(home: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CDC, *argv, "--home", str(home)], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_foreground_stack_serves_env_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = subprocess.Popen(
        [*CDC, "stack", "up", "--foreground", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if _cdc(home, "stack", "status").returncode == 0:
                break
            time.sleep(0.5)
        status = _cdc(home, "stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        for service in ("postgres", "kafka", "schema-registry", "aws"):
            assert service in status.stdout

        env = _cdc(home, "stack", "env", "--format", "json")
        endpoints = json.loads(env.stdout)
        assert set(endpoints) >= {
            "KAFKA_BOOTSTRAP_SERVERS",
            "SCHEMA_REGISTRY_URL",
            "SOURCE_DSN",
            "WAREHOUSE_DSN",
            "LAKE_ROOT",
            "AWS_ENDPOINT_URL",
        }
        shell = _cdc(home, "stack", "env").stdout.splitlines()
        assert all(line.startswith("export ") for line in shell)
        pids = json.loads((home / "stack.json").read_text())["services"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert "stack stopped" in out
    assert all(not is_alive(record["pid"]) for record in pids.values())
    assert _cdc(home, "stack", "status").returncode == 1


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = _cdc(tmp_path / "home", "stack", "up", "--postgres-port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: port {port} requested for postgres is already in use by another process"
    assert not any(
        is_alive(record["pid"])
        for record in json.loads((tmp_path / "home" / "stack.json").read_text())["services"].values()
        if record["pid"]
    )
    assert os.path.exists(tmp_path / "home" / "stack.json")


def test_sigterm_during_start_up_leaves_no_process_behind(tmp_path: Path) -> None:
    from tests.integration.localstack.test_embedded_stack import _processes_mentioning

    home = tmp_path / "home"
    process = subprocess.Popen(
        [*CDC, "stack", "up", "--foreground", "--home", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (home / "stack.json").exists() and time.monotonic() < deadline:  # postgres is up, the rest starting
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=90)
    assert process.returncode == 130, err
    assert err.strip() == "error: interrupted"
    assert _processes_mentioning(str(home)) == []
