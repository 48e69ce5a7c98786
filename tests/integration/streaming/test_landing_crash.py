"""SIGKILL the landing job (its whole process group: Python driver, JVM and Python workers) at random moments
while the workload and capture keep writing, restart it each time; afterwards every Kafka record is landed
exactly once as readers see it (files listed in the sink's log), whatever the crashes left behind on disk.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common.lake import LakeLocation
from common.landing_files import committed_files
from tests.support.kafka import read_topics
from tests.support.landing import landed, populate, run_workload, wait_idle
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

pytestmark = pytest.mark.crash

KILLS = 5


def _stream_command(catalog_path: Path, endpoints: dict[str, str], lake: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", "from cli.main import entry; entry()", "stream",
        "--catalog", str(catalog_path),
        "--bootstrap-servers", endpoints["KAFKA_BOOTSTRAP_SERVERS"],
        "--schema-registry-url", endpoints["SCHEMA_REGISTRY_URL"],
        "--lake-root", str(lake),
        "--max-offsets-per-trigger", "400",
        "--quiet", *extra,
    ]  # fmt: skip


def test_sigkill_at_random_moments_lands_every_record_exactly_once(
    stack_endpoints: dict[str, str], tmp_path: Path
) -> None:
    catalog, catalog_path = catalog_copy(tmp_path)
    lake_root = tmp_path / "lake"
    env = {**os.environ, "CDC_HOME": str(tmp_path / "home")}
    chance = random.Random(int(os.environ.get("CDC_CRASH_SEED", time.time())))
    with isolated_database(stack_endpoints["SOURCE_DSN"], "lcrash") as dsn:
        create_source_tables(dsn, catalog)
        populate(dsn, catalog_path, customers=300, products=50, orders=300)
        capture = native_capture(
            dsn, catalog, stack_endpoints, tmp_path / "state.json", slot="cdc_lcrash", partitions=2
        )
        try:
            capture.wait_for(events=1)
            workload = threading.Thread(
                target=run_workload, args=(dsn, catalog_path, 12_000), kwargs={"rate": 150}, daemon=True
            )
            workload.start()
            delays = []
            for _ in range(KILLS):
                process = subprocess.Popen(
                    _stream_command(catalog_path, stack_endpoints, lake_root, "--trigger", "1s"),
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                )  # fmt: skip
                delay = chance.uniform(6.0, 16.0)  # Spark starts in ~6 s: the kills land mid-batch or between
                delays.append(round(delay, 1))
                time.sleep(delay)
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
            workload.join(180)
            wait_idle(capture)
        finally:
            capture.close()

    final = subprocess.run(
        _stream_command(catalog_path, stack_endpoints, lake_root, "--available-now"),
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr[-3000:]

    topics = [table.topic for table in catalog.tables]
    records = read_topics(stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"], topics)
    expected = {(r.topic, r.partition, r.offset) for r in records if r.value is not None}
    lake = LakeLocation(str(lake_root))
    seen: list[tuple[str, int, int]] = []
    leftovers = 0
    for table in catalog.tables:
        rows = landed(lake, table.name)
        seen.extend(
            zip(
                rows.column("_kafka_topic").to_pylist(),
                rows.column("_kafka_partition").to_pylist(),
                rows.column("_kafka_offset").to_pylist(),
                strict=True,
            )
        )
        on_disk = {str(p) for p in Path(lake.path("landing", table.name)).rglob("part-*.parquet")}
        leftovers += len(on_disk - set(committed_files(lake, table.name)))
    print(f"kill delays {delays} s; {len(expected):,} records; {leftovers} uncommitted files left by the kills")
    assert len(seen) == len(set(seen)), "a Kafka record landed twice"
    assert set(seen) == expected
