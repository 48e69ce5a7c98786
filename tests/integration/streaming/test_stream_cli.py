"""`cdc stream` as users run it: one clear line for bad input, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.main import main
from common.settings import KafkaSettings
from producers.topics import ensure_topics
from tests.support.sourcedb import catalog_copy


def _endpoints(stack: dict[str, str]) -> list[str]:
    return [
        "--bootstrap-servers",
        stack["KAFKA_BOOTSTRAP_SERVERS"],
        "--schema-registry-url",
        stack["SCHEMA_REGISTRY_URL"],
    ]


def _cdc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tables", "customer,nope"], "unknown table(s) nope"),
        (["--trigger", "5x"], "--trigger must look like 500ms, 5s"),
        (["--starting-offsets", "yesterday"], "startingOffsets must be 'earliest', 'latest' or JSON"),
        (["--starting-offsets", '{"other.topic": {"0": 5}}'], "names topic(s) not subscribed: other.topic"),
    ],
)
def test_bad_input_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    flags: list[str],
    message: str | None,
) -> None:
    if message is None:
        pytest.skip("startingOffsets is validated where Spark creates the source")
    _, catalog_path = catalog_copy(tmp_path)
    lake = ["--lake-root", str(tmp_path / "lake")]
    code, err = _cdc(capsys, "stream", "--catalog", str(catalog_path), *lake, *_endpoints(stack_endpoints), *flags)
    assert code == 2
    assert err.count("\n") == 1 and message in err.replace("\n", " ")


def test_tables_without_registered_schemas_fail_before_spark_starts(
    capsys: pytest.CaptureFixture[str], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    _, catalog_path = catalog_copy(tmp_path)
    started = time.monotonic()
    lake = ["--lake-root", str(tmp_path / "lake")]
    code, err = _cdc(capsys, "stream", "--catalog", str(catalog_path), *lake, *_endpoints(stack_endpoints))
    assert code == 1
    assert "no schema registered under" in err and "cdc schemas register" in err
    assert time.monotonic() - started < 10  # no Spark session was started for nothing


def test_sigterm_stops_the_job_cleanly(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    registry = ["--schema-registry-url", stack_endpoints["SCHEMA_REGISTRY_URL"]]
    assert main(["schemas", "register", "--catalog", str(catalog_path), *registry]) == 0
    kafka = KafkaSettings(bootstrap_servers=stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"])
    ensure_topics(kafka.librdkafka_config(), [t.topic for t in catalog.tables], partitions=1, replication=1)
    lake = tmp_path / "lake"
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import entry; entry()", "stream", "--catalog", str(catalog_path),
         "--lake-root", str(lake), "--tables", "customer", "--trigger", "1s", "--quiet", *_endpoints(stack_endpoints)],
        env={**os.environ, "CDC_HOME": str(tmp_path / "home")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    commits = lake / "checkpoints" / "landing" / "customer" / "offsets"
    while not (commits.exists() and any(commits.iterdir())):  # the query has planned its first batch
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the stream did not start"
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "landing job stopped" in out
    assert "Traceback" not in err
