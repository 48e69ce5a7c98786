"""SIGKILL the capture process during the snapshot and during streaming, restart it each time.

Afterwards every source change is in Kafka at least once, in order per key, and every duplicate is an exact
re-send of an event already present (same LSN, same content).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.kafka import Record, read_topics
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

pytestmark = pytest.mark.crash

INITIAL_CUSTOMERS = 60_000
INSERT = (
    "INSERT INTO customer (customer_id, email, first_name, last_name, segment, address_line1, city, state, "
    "postal_code, country, created_at, updated_at) VALUES (%s, %s, 'F', 'L', 'consumer', 'a', %s, 'IL', '1', 'US', "
    "'2026-11-01', '2026-11-01')"
)


class Writer(threading.Thread):
    """Commits single-row changes one after another and remembers, per key, every committed state."""

    def __init__(self, dsn: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.history: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        self.alive = set(range(1, INITIAL_CUSTOMERS + 1))
        self.next_id = INITIAL_CUSTOMERS + 1
        self.version = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    self.version += 1
                    city = f"v{self.version}"
                    roll = self.random.random()
                    if roll < 0.1:
                        key = self.next_id
                        self.next_id += 1
                        conn.execute(INSERT, (key, f"{key}@x", city))
                        self.alive.add(key)
                        self.history[key].append(("c", city))
                    elif roll < 0.15:
                        key = self.random.choice(sorted(self.alive))
                        conn.execute("DELETE FROM customer WHERE customer_id = %s", (key,))
                        self.alive.discard(key)
                        self.history[key].append(("d", None))
                    else:
                        key = self.random.choice(sorted(self.alive)) if roll < 0.6 else self.random.randint(1, 50)
                        if key not in self.alive:
                            continue
                        conn.execute("UPDATE customer SET city = %s WHERE customer_id = %s", (city, key))
                        self.history[key].append(("u", city))
                    time.sleep(0.002)
        except BaseException as exc:
            self.error = exc


def _capture_command(dsn: str, catalog_path: Path, endpoints: dict[str, str], state: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from cli.main import entry; entry()",
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
        "cdc_crash",
        "--publication",
        "cdc_crash_pub",
        "--chunk-rows",
        "1000",
        "--partitions",
        "2",
        "--quiet",
        *extra,
    ]


def _phase(state: Path) -> str | None:
    path = state / "postgres-cdc_crash.json"
    try:
        return str(json.loads(path.read_text())["phase"])
    except (OSError, ValueError, KeyError):
        return None


def _snapshot_rows(state: Path) -> int:
    try:
        return int(json.loads((state / "postgres-cdc_crash.json").read_text())["snapshot"]["rows"])
    except (OSError, ValueError, KeyError):
        return -1


def _check_key(key: int, history: list[tuple[str, str | None]], records: list[Record]) -> None:
    """Changes (deduplicated by LSN) equal the source history; the last snapshot read fits where it stands."""
    by_lsn: dict[int, dict[str, Any]] = {}
    changes: list[tuple[str, str | None]] = []
    after_last_read: list[tuple[str, str | None]] = []
    last_read: str | None = None
    for record in records:
        value = record.value
        if value is None:
            continue  # tombstones follow deletes
        if value["op"] == "r":
            last_read, after_last_read = value["after"]["city"], []
            continue
        lsn = value["source"]["lsn"]
        # source.sequence[0] (lastCommitLsn) is the capture process's memory of the previous commit: the first
        # transaction replayed after a restart carries null there. Readers dedupe by source.lsn; the rest is equal.
        source = dict(value["source"])
        sequence = json.loads(source.pop("sequence") or "[null, null]")
        content = {k: value[k] for k in ("op", "before", "after")} | {"source": source, "change_lsn": sequence[1]}
        if lsn in by_lsn:
            assert by_lsn[lsn] == content, f"key {key}: a re-send at LSN {lsn} differs from the first send"
            continue
        by_lsn[lsn] = content
        change = (value["op"], None if value["after"] is None else value["after"]["city"])
        changes.append(change)
        after_last_read.append(change)
    assert changes == history, f"key {key}: kafka {changes} != source {history}"
    if last_read is not None:
        before_read = history[: len(history) - len(after_last_read)]
        assert last_read == (before_read[-1][1] if before_read else "initial"), f"key {key}: stale snapshot read"


@pytest.mark.timeout(600)
def test_sigkill_during_snapshot_and_streaming_loses_nothing(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    state = tmp_path / "state"
    rng = random.Random(20261122)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "crash") as dsn:
        create_source_tables(dsn, catalog)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO customer (customer_id, email, first_name, last_name, segment, address_line1, city, "
                "state, postal_code, country, created_at, updated_at) SELECT g, g || '@x', 'F', 'L', 'consumer', "
                "'a', 'initial', 'IL', '1', 'US', '2026-11-01', '2026-11-01' FROM generate_series(1, %s) g",
                (INITIAL_CUSTOMERS,),
            )
        writer = Writer(dsn, seed=7)
        kills: list[str | None] = []
        env = {**os.environ, "CDC_HOME": str(tmp_path / "home")}
        try:
            while len(kills) < 6:
                process = subprocess.Popen(
                    _capture_command(dsn, catalog_path, stack_endpoints, state),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                # The first kills land while the snapshot makes progress, the later ones while streaming.
                want = "snapshot" if len(kills) < 3 else "streaming"
                if not writer.is_alive() and writer.version == 0:
                    while _phase(state) is None and process.poll() is None:
                        time.sleep(0.01)
                    writer.start()  # every change from now on comes after the first slot's start
                rows_before = _snapshot_rows(state)
                deadline = time.monotonic() + 90
                while process.poll() is None and time.monotonic() < deadline:
                    phase = _phase(state)
                    if want == "snapshot" and phase == "snapshot" and _snapshot_rows(state) > rows_before:
                        break
                    if want == "streaming" and phase == "streaming":
                        break
                    time.sleep(0.02)
                # A resumed snapshot has little left on a quiet machine: kill right after it moved.
                time.sleep(rng.uniform(0.0, 0.05) if want == "snapshot" else rng.uniform(0.5, 2.5))
                assert process.poll() is None, process.communicate()[1]
                kills.append(_phase(state))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                process.stderr.close() if process.stderr else None
        finally:
            writer.stop.set()
            writer.join(10)
        assert writer.error is None
        assert kills.count("snapshot") >= 2, kills
        assert kills.count("streaming") >= 2, kills
        final = subprocess.run(
            _capture_command(dsn, catalog_path, stack_endpoints, state, "--stop-when-idle", "3"),
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert final.returncode == 0, final.stderr

    records = read_topics(
        stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        stack_endpoints["SCHEMA_REGISTRY_URL"],
        [catalog.table("customer").topic],
        timeout=120,
    )
    by_key: dict[int, list[Record]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[record.key["customer_id"]].append(record)
    # Every row that existed at some point has at least one event (its snapshot read, creation or deletion).
    assert set(by_key) == set(range(1, INITIAL_CUSTOMERS + 1)) | set(writer.history)
    for key, history in writer.history.items():
        _check_key(key, history, by_key[key])
    assert sum(len(h) for h in writer.history.values()) > 200  # the test really streamed changes
