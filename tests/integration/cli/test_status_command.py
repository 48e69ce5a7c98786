"""`cdc status` on the stack while the pipeline runs forward: the numbers move, stage by stage.

Source changes are made while the capture is stopped, so every stage has something to catch up; `cdc status -o
json` is read, then the stages run forward as a user runs them (capture to idle, `cdc stream --available-now`,
`cdc bridge --stop-when-idle`, `cdc warehouse migrate` + `run --once`) and `cdc status` is read again. The jobs run
with METRICS_FORMAT=emf, and the EMF lines they print are checked against the specification's structure.
Everything is isolated (own databases, topic prefix, slot, bridge group and lake), so the shared stack is left as
it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli.main import main
from common.metrics import emf_problems
from producers.capture.postgres.pgoutput import parse_lsn
from tests.support.landing import populate, run_workload
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

CDC = [sys.executable, "-c", "from cli.main import entry; entry()"]


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF documents among a command's output lines, each checked against the specification."""
    documents = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    for document in documents:
        assert emf_problems(document) == [], document
    return documents


def values(documents: list[dict[str, Any]], stage: str, metric: str) -> list[Any]:
    return [document[metric] for document in documents if document["Stage"] == stage and metric in document]


class Pipeline:
    """The commands of one isolated pipeline, run in this process (Spark in a subprocess)."""

    def __init__(self, endpoints: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.tmp_path = tmp_path
        self.name = f"st{uuid.uuid4().hex[:8]}"
        self.catalog, self.catalog_path = catalog_copy(tmp_path, prefix=self.name)
        self.lake = tmp_path / "lake"
        self.kafka = ["--bootstrap-servers", endpoints["KAFKA_BOOTSTRAP_SERVERS"]]
        self.registry = ["--schema-registry-url", endpoints["SCHEMA_REGISTRY_URL"]]
        self.common = ["--home", str(tmp_path / "home"), "--catalog", str(self.catalog_path)]
        self.source_dsn = self.warehouse_dsn = ""
        self.timings: dict[str, float] = {}

    def run(self, name: str, *argv: str) -> str:
        """`cdc <argv>` in this process; its stdout."""
        started = time.monotonic()
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        assert code == 0, (argv, out[-3000:], err[-3000:])
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
        return out

    def status(self, name: str) -> dict[str, dict[str, Any]]:
        out = self.run(
            name, "status", "-o", "json", *self.common, *self.kafka, "--source-dsn", self.source_dsn,
            "--warehouse-dsn", self.warehouse_dsn, "--lake-root", str(self.lake), "--bridge-group", self.name,
        )  # fmt: skip
        document = json.loads(out.strip().splitlines()[-1])
        return {stage["stage"]: stage for stage in document["stages"]}

    def capture(self) -> str:
        return self.run(
            "capture", "capture", *self.common, *self.kafka, *self.registry, "--source-dsn", self.source_dsn,
            "--slot", self.name, "--publication", f"{self.name}_pub", "--partitions", "2",
            "--state-dir", str(self.tmp_path / "capture"), "--stop-when-idle", "1", "--quiet",
        )  # fmt: skip

    def stream(self) -> str:
        """`cdc stream --available-now` in a subprocess (Spark), with EMF metrics on its stdout. On a machine so
        busy that Spark's Python workers time out connecting back, the query gives up after its restarts: run it
        once more (the landing job is exactly once, a rerun lands only what is missing)."""
        started = time.monotonic()
        env = {**os.environ, "METRICS_FORMAT": "emf", "COLUMNS": "200"}
        output = ""
        for attempt in (1, 2):
            result = subprocess.run(
                [*CDC, "stream", "--available-now", "--quiet", *self.common, *self.kafka, *self.registry,
                 "--lake-root", str(self.lake)],
                capture_output=True, text=True, env=env, timeout=300, check=False,
            )  # fmt: skip
            output += result.stdout
            if result.returncode == 0:
                break
            assert attempt == 1 and "failed to connect back" in result.stderr, (result.stdout[-3000:], result.stderr)
        self.timings["stream"] = time.monotonic() - started
        return output

    def bridge(self) -> str:
        return self.run(
            "bridge", "bridge", *self.common, *self.kafka, *self.registry, "--group", self.name,
            "--stop-when-idle", "1", "--quiet",
        )  # fmt: skip

    def warehouse(self) -> str:
        where = [*self.common, *self.kafka, "--warehouse-dsn", self.warehouse_dsn]
        self.run("warehouse", "warehouse", "migrate", *where)
        return self.run("warehouse", "warehouse", "run", "--once", *where)


@pytest.mark.timeout(600)  # about 2 minutes on a quiet machine; Spark's start-up stretches on a busy one
def test_status_shows_every_stage_moving_as_the_pipeline_runs(
    stack_endpoints: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    monkeypatch.setenv("METRICS_FORMAT", "emf")
    monkeypatch.delenv("STREAM_CHECKPOINT_ROOT", raising=False)
    pipeline = Pipeline(stack_endpoints, tmp_path, capsys)
    with (
        isolated_database(stack_endpoints["SOURCE_DSN"], "status") as source_dsn,
        isolated_database(stack_endpoints["WAREHOUSE_DSN"], "statuswh") as warehouse_dsn,
    ):
        pipeline.source_dsn, pipeline.warehouse_dsn = source_dsn, warehouse_dsn
        create_source_tables(source_dsn, pipeline.catalog)
        populate(source_dsn, pipeline.catalog_path, customers=60, products=20, orders=60)
        captured = emf_lines(pipeline.capture())  # the snapshot, then idle
        assert sum(values(captured, "capture", "EventsPerSecond")) > 0
        run_workload(source_dsn, pipeline.catalog_path, changes=300, seed=3)  # while the capture is stopped
        with psycopg.connect(source_dsn) as conn:
            workload_end = parse_lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]

        # 1. Changes at the source, none of them captured; the snapshot in Kafka, nothing downstream.
        first = pipeline.status("status")
        assert first["capture"]["status"] == "not running"  # its slot exists, nothing is attached to it
        assert first["capture"]["lag"] > 10_000  # bytes of WAL: the workload's changes
        [slot] = first["capture"]["breakdown"]
        assert parse_lsn(first["capture"]["breakdown"][slot]["confirmed_lsn"]) < workload_end
        assert first["stream"]["status"] == "not running"
        snapshot_events = first["stream"]["figures"]["end"]
        assert first["stream"]["lag"] == snapshot_events > 0
        assert (first["bridge"]["status"], first["bridge"]["lag"]) == ("not running", snapshot_events)
        assert first["warehouse"]["status"] == "not running"
        assert first["warehouse"]["detail"].startswith("not migrated")
        assert (first["dead letters"]["status"], first["dead letters"]["lag"]) == ("ok", 0)
        assert (first["batch"]["status"], first["batch"]["lag"]) == ("not running", 0)

        # 2. Capture, landing and bridge run forward.
        pipeline.capture()
        landed = emf_lines(pipeline.stream())
        bridged = emf_lines(pipeline.bridge())
        second = pipeline.status("status")
        # The slot confirmed everything the workload wrote. (Its byte lag keeps counting WAL written since, for
        # anything in the cluster: autovacuum, the warehouse database; that is what a slot pins.)
        assert parse_lsn(second["capture"]["breakdown"][slot]["confirmed_lsn"]) >= workload_end
        assert isinstance(second["capture"]["lag"], int)
        events = second["stream"]["figures"]["end"]
        assert events > snapshot_events  # the workload's changes reached Kafka
        assert (second["stream"]["status"], second["stream"]["lag"]) == ("ok", 0)
        assert second["stream"]["figures"]["committed"] == events
        assert second["stream"]["figures"]["tables"] == "6/6"
        assert (second["bridge"]["status"], second["bridge"]["lag"]) == ("ok", 0)
        assert second["bridge"]["figures"]["committed"] == events
        assert (second["dead letters"]["status"], second["dead letters"]["lag"]) == ("ok", 0)
        assert second["batch"]["status"] == "not running"
        assert second["batch"]["lag"] > 0  # committed landing files that no staging version consumed yet
        assert second["warehouse"]["status"] == "not running"

        # ... and what they emitted on the way: per-batch landing metrics, per-topic bridge lag down to zero.
        rows_landed = sum(values(landed, "stream", "RowsLanded"))
        assert 0 < rows_landed <= events  # tombstones are counted, not landed
        assert {document["Table"] for document in landed} == {table.name for table in pipeline.catalog.tables}
        assert all(0 <= latency < 3600 for latency in values(landed, "stream", "EndToEndLatencySeconds"))
        assert values(landed, "stream", "EndToEndLatencySeconds") and values(landed, "stream", "BatchDurationSeconds")
        final_lag = {document["Topic"]: document["ConsumerLag"] for document in bridged if "ConsumerLag" in document}
        assert set(final_lag) == {table.topic for table in pipeline.catalog.tables}
        assert set(final_lag.values()) == {0}
        assert sum(values(bridged, "bridge", "DeadLetterRecords")) == 0

        # 3. The warehouse: migrated, one load cycle.
        cycle = emf_lines(pipeline.warehouse())
        third = pipeline.status("status")
        warehouse = third["warehouse"]
        assert (warehouse["status"], warehouse["lag"]) == ("ok", 0)
        assert warehouse["figures"]["refresh_backlog"] == 0 and warehouse["figures"]["rows_behind_watermarks"] == 0
        assert warehouse["figures"]["mv_rows"] == events  # every bridged record, tombstones included
        assert warehouse["figures"]["analytics_rows"] > 0
        assert warehouse["figures"]["last_run"] == "ok"
        assert values(cycle, "warehouse", "StepFailed") == [0]
        assert third["stream"]["lag"] == third["bridge"]["lag"] == 0

        # 4. `--watch` refreshes until Ctrl-C, one JSON document per pass.
        watch_started = time.monotonic()
        process = subprocess.Popen(
            [*CDC, "status", "-o", "json", "--watch", "1s", *pipeline.common, *pipeline.kafka,
             "--source-dsn", source_dsn, "--warehouse-dsn", warehouse_dsn, "--lake-root", str(pipeline.lake),
             "--bridge-group", pipeline.name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            passes = [json.loads(process.stdout.readline()) for _ in range(2)]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert [len(document["stages"]) for document in passes] == [6, 6]
        assert passes[0]["checked_at"] <= passes[1]["checked_at"]
        pipeline.timings["watch"] = time.monotonic() - watch_started

    pipeline.timings["total"] = time.monotonic() - started
    print("status test timings: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in pipeline.timings.items()))
