"""SIGKILL the JSON bridge at random moments while capture and the workload keep writing, restart it each time;
afterwards the `.json` topics hold every Avro event exactly once (by its cdc.source.* coordinates) and nothing else,
as a read_committed reader sees them.

Each kill lands a random 0-1 s after the restarted bridge got its partitions, while it works through what piled
up while it was down (a random 0-3 s more each time), so kills hit open transactions as well as idle moments.
On the local broker the output of a killed transaction becomes visible to readers once the next incarnation's
init_transactions aborts it; that incarnation logs how many records it therefore found already written (and skips
them), and the test prints the total (transactions are short, so most runs see none; test_bridge.py provokes one).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.integration.redshift.test_bridge import BRIDGE, LogWatcher, already_written, check_bridged, read_json_topics
from tests.support.kafka import read_topics
from tests.support.landing import populate, run_workload, wait_idle
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

pytestmark = pytest.mark.crash

KILLS = 6


def _bridge_command(catalog_path: Path, endpoints: dict[str, str], *extra: str) -> list[str]:
    return [
        sys.executable, "-c", BRIDGE,
        "--catalog", str(catalog_path),
        "--bootstrap-servers", endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        "--schema-registry-url", endpoints["SCHEMA_REGISTRY_URL"],
        "--group", "bridge-crash",
        "--batch-size", "1000",
        "--quiet", *extra,
    ]  # fmt: skip


def wait_for_inactive_slots(dsn: str, timeout: float = 15.0) -> None:
    """The capture's backend may still hold its slot for a moment after it stopped (the database is dropped next)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            active = conn.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND active"
            ).fetchone()
            if not active or not active[0]:
                return
            time.sleep(0.1)


@pytest.mark.timeout(420)
def test_sigkill_at_random_moments_bridges_every_event_exactly_once(
    stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    # A short session lets a restarted bridge take over the killed one's partitions within a few seconds.
    env = {**os.environ, "CDC_HOME": str(tmp_path / "home"), "BRIDGE_SESSION_TIMEOUT_MS": "3000"}
    chance = random.Random(int(os.environ.get("CDC_CRASH_SEED", time.time())))
    delays: list[float] = []
    found_written = 0
    with isolated_database(stack_endpoints["SOURCE_DSN"], "bcrash") as dsn:
        create_source_tables(dsn, catalog)
        populate(dsn, catalog_path, customers=200, products=40, orders=200)
        capture = native_capture(
            dsn, catalog, stack_endpoints, tmp_path / "state.json", slot="cdc_bcrash", partitions=2
        )
        try:
            capture.wait_for(events=1)
            workload = threading.Thread(
                target=run_workload, args=(dsn, catalog_path, 9_000), kwargs={"rate": 200}, daemon=True
            )
            workload.start()
            for _ in range(KILLS):
                process = subprocess.Popen(
                    _bridge_command(catalog_path, stack_endpoints),
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                )  # fmt: skip
                assert process.stderr is not None
                watcher = LogWatcher(process.stderr)
                assert watcher.assigned.wait(60), watcher.tail()
                delay = chance.uniform(0.0, 1.0)
                delays.append(round(delay, 2))
                time.sleep(delay)
                assert process.poll() is None, watcher.tail()
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
                watcher.join(10)
                found_written += watcher.already_written
                time.sleep(chance.uniform(0.0, 3.0))  # a backlog of varying size for the next incarnation
            workload.join(180)
            wait_idle(capture)
        finally:
            capture.close()
        wait_for_inactive_slots(dsn)

    final = subprocess.run(
        _bridge_command(catalog_path, stack_endpoints, "--stop-when-idle", "3"),
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr[-3000:]
    summary = re.search(r"bridge stopped: .*", final.stdout)
    found_written += sum(already_written(line) for line in final.stderr.splitlines())

    topics = [table.topic for table in catalog.tables]
    avro = read_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"], topics)
    bridged = read_json_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], [f"{topic}.json" for topic in topics])
    print(
        f"kills {len(delays)} at {delays} s after assignment; {len(avro):,} Avro events; restarts found "
        f"{found_written:,} records of killed transactions already visible; final run: "
        f"{summary.group(0) if summary else final.stdout[-300:]}"
    )
    check_bridged(catalog, avro, bridged)  # each exactly once, equal content, same partition, nothing else
    assert read_json_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], [f"{t}.json.dlq" for t in topics]) == []
