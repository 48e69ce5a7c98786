"""Bad input to `cdc capture`: one clear error line, a non-zero exit, and nothing lost once it is fixed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from cli.main import main
from schemas.catalog import Catalog
from tests.support.kafka import read_topics
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

INSERT = (
    "INSERT INTO customer (customer_id, email, first_name, last_name, segment, address_line1, city, state, "
    "postal_code, country, created_at, updated_at) VALUES (%s, 'x@y', 'F', 'L', 'consumer', 'a', 'c', 'IL', '1', "
    "'US', '2026-11-01', '2026-11-01')"
)


@pytest.fixture
def source(stack_endpoints: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Catalog, Path]]:
    catalog, path = catalog_copy(tmp_path)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "errors") as dsn:
        create_source_tables(dsn, catalog)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for key in (1, 2, 3):
                conn.execute(INSERT, (key,))
        yield dsn, catalog, path


def _capture(endpoints: dict[str, str], dsn: str, catalog_path: Path, state: Path, *extra: str) -> list[str]:
    return [
        "capture",
        "--source-dsn",
        dsn,
        "--bootstrap-servers",
        endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        "--schema-registry-url",
        endpoints["SCHEMA_REGISTRY_URL"],
        "--catalog",
        str(catalog_path),
        "--table",
        "customer",
        "--state-dir",
        str(state),
        "--slot",
        "cdc_errors",
        "--publication",
        "cdc_errors_pub",
        "--quiet",
        "--stop-when-idle",
        "1",
        *extra,
    ]


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, text: str) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and text in err, err
    assert "Traceback" not in err


def _customer_keys(endpoints: dict[str, str], catalog: Catalog) -> list[int]:
    records = read_topics(
        endpoints["KAFKA_BOOTSTRAP_SERVERS"], endpoints["SCHEMA_REGISTRY_URL"], [catalog.table("customer").topic]
    )
    return sorted(r.key["customer_id"] for r in records if r.value is not None)


def test_unreachable_broker_then_fixed(
    source: tuple[str, Catalog, Path],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn, catalog, path = source
    argv = _capture(stack_endpoints, dsn, path, tmp_path / "state")
    broken = [*argv, "--bootstrap-servers", "127.0.0.1:9", "--retries", "2"]
    _one_error_line(capsys, broken, 1, "Kafka at 127.0.0.1:9 unreachable after 2 attempts")
    assert main(argv) == 0
    assert _customer_keys(stack_endpoints, catalog) == [1, 2, 3]


def test_wrong_dsn_is_named_without_its_password(
    source: tuple[str, Catalog, Path],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn, _, path = source
    wrong = dsn.replace("://cdc:", "://cdc:not-the-password")
    _one_error_line(
        capsys, _capture(stack_endpoints, wrong, path, tmp_path / "state"), 1, "cannot connect to the source database"
    )
    capsys.readouterr()
    assert main(_capture(stack_endpoints, wrong, path, tmp_path / "state")) == 1
    assert "not-the-password" not in capsys.readouterr().err


def test_table_without_primary_key_is_refused(
    source: tuple[str, Catalog, Path],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn, _, path = source
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE customer DROP CONSTRAINT customer_pkey")
    _one_error_line(
        capsys, _capture(stack_endpoints, dsn, path, tmp_path / "state"), 2, "has no primary key at the source"
    )


def test_registry_rejecting_the_schema_stops_capture_and_loses_nothing(
    source: tuple[str, Catalog, Path],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn, catalog, path = source
    subject = f"{catalog.table('customer').topic}-value"
    client = SchemaRegistryClient({"url": stack_endpoints["SCHEMA_REGISTRY_URL"]})
    conflicting = {"type": "record", "name": "Envelope", "namespace": "x", "fields": [{"name": "op", "type": "int"}]}
    client.register_schema(subject, Schema(json.dumps(conflicting), "AVRO"))
    client.set_compatibility(subject, "FULL")
    argv = _capture(stack_endpoints, dsn, path, tmp_path / "state")
    _one_error_line(capsys, argv, 1, f"{subject}: refused by the registry as incompatible")

    client.delete_subject(subject)
    client.delete_subject(subject, permanent=True)
    assert main(argv) == 0
    assert _customer_keys(stack_endpoints, catalog) == [1, 2, 3]


def test_sigterm_flushes_and_confirms_everything_then_exits_zero(
    source: tuple[str, Catalog, Path], stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    dsn, catalog, path = source
    state = tmp_path / "state"
    argv = [sys.executable, "-c", "from cli.main import entry; entry()", *_capture(stack_endpoints, dsn, path, state)]
    argv = argv[: argv.index("--stop-when-idle")]  # run until signalled
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_customer_keys(stack_endpoints, catalog)) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for key in range(4, 54):
                conn.execute(INSERT, (key,))
        while len(_customer_keys(stack_endpoints, catalog)) < 53 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "capture stopped: 53 events" in out
    # Everything published was confirmed to the slot: a restart has nothing to re-send.
    again = subprocess.run(
        [sys.executable, "-c", "from cli.main import entry; entry()", *_capture(stack_endpoints, dsn, path, state)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "capture stopped: 0 events" in again.stdout
    assert _customer_keys(stack_endpoints, catalog) == list(range(1, 54))
