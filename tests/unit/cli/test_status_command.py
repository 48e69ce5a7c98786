"""`cdc status` without services: offsets arithmetic, checkpoint parsing, each stage's verdict, one stage failing
alone, and the table people read."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cli.endpoints import Endpoints
from cli.status_command import (
    Backlog,
    PipelineProbe,
    PipelineStatus,
    SlotLag,
    StageStatus,
    TableCheckpoint,
    VersionedTable,
    batch_stage,
    bridge_stage,
    capture_stage,
    dead_letter_stage,
    landing_dead_letters,
    latest_batch_id,
    parse_offset_log,
    records_behind,
    render_status,
    stream_stage,
    warehouse_stage,
)
from common.lake import LakeLocation
from common.settings import (
    AwsSettings,
    KafkaSettings,
    LakeSettings,
    SchemaRegistrySettings,
    SourceSettings,
    WarehouseSettings,
)
from redshift.runner import AppliedMigration, Lag, WarehouseStatus, Watermark
from schemas.catalog import load_catalog
from streaming.dead_letters import DeadLetter, DeadLetterSink

pytestmark = pytest.mark.unit

MiB = 1024 * 1024


def test_records_behind_counts_from_the_position_or_the_earliest_offset() -> None:
    ends = {"t": {0: 100, 1: 50}, "u": {0: 7}}
    earliest = {"t": {0: 10, 1: 0}, "u": {0: 0}}

    assert records_behind(ends, earliest, None) == 90 + 50 + 7
    assert records_behind(ends, earliest, {"t": {0: 100, 1: 20}}) == 0 + 30 + 7
    assert records_behind(ends, earliest, {"t": {0: 120, 1: 50}, "u": {0: 7}}) == 0  # never negative


def test_a_spark_offset_log_file_gives_the_source_offsets_and_the_batch_time() -> None:
    text = (
        "v1\n"
        '{"batchWatermarkMs":0,"batchTimestampMs":1796119200000,"conf":{"spark.sql.shuffle.partitions":"2"}}\n'
        '{"retail.orders.cdc":{"0":42,"1":17}}'
    )

    assert parse_offset_log(text) == ({"retail.orders.cdc": {0: 42, 1: 17}}, 1796119200000)
    assert parse_offset_log('v1\n{"batchTimestampMs":5}\n-') == (None, 5)
    with pytest.raises(ValueError, match="not a Spark offset log"):
        parse_offset_log("{}")
    with pytest.raises(ValueError, match="topic"):
        parse_offset_log('v1\n{}\n{"t": 3}')


def test_the_latest_batch_ignores_checksums_and_temporaries() -> None:
    assert latest_batch_id(["0", "1", ".1.crc", "10", "9", ".10.tmp", "_x"]) == 10
    assert latest_batch_id([".0.crc"]) is None


@pytest.mark.parametrize(
    ("slots", "status", "lag"),
    [
        ([], "not running", None),
        ([SlotLag("cdc_g1", False, 4096, "0/10")], "not running", 4096),
        ([SlotLag("cdc_g1", True, 4096, "0/10")], "ok", 4096),
        ([SlotLag("cdc_g1", True, 40 * MiB, "0/10")], "lagging", 40 * MiB),
        ([SlotLag("idle", False, 90 * MiB, "0/1"), SlotLag("cdc_g1", True, 10, "0/2")], "ok", 90 * MiB),
    ],
)
def test_capture_is_judged_by_its_attached_slots(slots: list[SlotLag], status: str, lag: int | None) -> None:
    found = capture_stage(slots, "0/20")

    assert (found.status, found.lag, found.lag_unit) == (status, lag, "bytes")
    assert found.figures["slots"] == len(slots)


def test_stream_lag_is_per_table_from_the_last_committed_batch() -> None:
    earliest = {"a.cdc": {0: 0, 1: 0}, "b.cdc": {0: 0}}
    ends = {"a.cdc": {0: 10, 1: 5}, "b.cdc": {0: 4}}

    never = stream_stage([TableCheckpoint("a", "a.cdc"), TableCheckpoint("b", "b.cdc")], earliest, ends)
    assert (never.status, never.lag) == ("not running", 19)

    behind = stream_stage(
        [TableCheckpoint("a", "a.cdc", 3, {"a.cdc": {0: 10, 1: 2}}, 1796119200000), TableCheckpoint("b", "b.cdc")],
        earliest,
        ends,
    )
    assert (behind.status, behind.lag) == ("lagging", 3 + 4)
    assert behind.breakdown["a"] == {"batch": 3, "committed": 12, "behind": 3, "batch_at": "2026-12-01T10:00:00+00:00"}
    assert behind.figures["tables"] == "1/2"

    caught_up = stream_stage(
        [
            TableCheckpoint("a", "a.cdc", 4, {"a.cdc": ends["a.cdc"]}, 1),
            TableCheckpoint("b", "b.cdc", 0, {"b.cdc": {0: 4}}, 1),
        ],
        earliest,
        ends,
    )
    assert (caught_up.status, caught_up.lag, caught_up.figures["committed"]) == ("ok", 0, 19)


def test_bridge_lag_comes_from_its_group_offsets() -> None:
    earliest = {"a.cdc": {0: 0, 1: 0}}
    ends = {"a.cdc": {0: 10, 1: 5}}

    assert bridge_stage("cdc-bridge", {}, earliest, ends).status == "not running"
    lagging = bridge_stage("cdc-bridge", {"a.cdc": {0: 10}}, earliest, ends)
    assert (lagging.status, lagging.lag, lagging.breakdown["a.cdc"]) == ("lagging", 5, {"committed": 10, "behind": 5})
    assert bridge_stage("cdc-bridge", ends, earliest, ends).status == "ok"


def warehouse(*, migrated: bool = True, behind: int = 0, runs: list[tuple[Any, ...]] | None = None) -> WarehouseStatus:
    migrations = [AppliedMigration(1, "schemas", "x" * 64, datetime(2026, 12, 1))] if migrated else []
    return WarehouseStatus(
        migrations=migrations,
        pending=[],
        watermarks=[Watermark("dim_customer", 0, 41, datetime(2026, 12, 1))],
        counts={"staging.mv_customer": 42, "analytics.dim_customer": 30, "analytics.fact_order_items": 12},
        lag=[Lag("staging.mv_customer", "dim_customer", 41, 41 - behind, behind)],
        last_runs=runs or [],
    )


def test_warehouse_verdicts() -> None:
    ok_run = [("r1", datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 10, 0, 5), "ok", 0, "fine")]
    fresh = {"staging.mv_customer": Backlog(0)}

    assert warehouse_stage(warehouse(migrated=False), None, "here").status == "not running"
    ok = warehouse_stage(warehouse(runs=ok_run), fresh, "here")
    assert (ok.status, ok.lag, ok.figures["analytics_rows"], ok.figures["mv_rows"]) == ("ok", 0, 42, 42)
    assert ok.figures["last_run_at"] == "2026-12-01T10:00:00+00:00"
    behind = warehouse_stage(warehouse(behind=3, runs=ok_run), {"staging.mv_customer": Backlog(5)}, "here")
    assert (behind.status, behind.lag, behind.figures["refresh_backlog"]) == ("lagging", 8, 5)
    capped = warehouse_stage(warehouse(), {"staging.mv_customer": Backlog(100_000, exact=False)}, "here")
    assert "counted up to" in capped.detail
    failed_run = [("r2", datetime(2026, 12, 1, 11), None, "failed", 1, "1 data-quality check(s) failed")]
    failed = warehouse_stage(warehouse(runs=failed_run), fresh, "here")
    assert (failed.status, failed.detail) == ("failed", "1 data-quality check(s) failed")
    assert warehouse_stage(warehouse(), None, "here").figures["refresh_backlog"] is None  # Kafka unknown


def test_dead_letters_are_a_warning_never_lag() -> None:
    assert dead_letter_stage({"orders": 0}, {"t.json.dlq": Backlog(0)}, []).status == "ok"
    some = dead_letter_stage({"orders": 2}, {"t.json.dlq": Backlog(1)}, [])
    assert (some.status, some.lag, some.detail) == ("warning", 3, "orders: 2; t.json.dlq: 1")
    partial = dead_letter_stage({"orders": 0}, None, ["Kafka: unreachable"])
    assert (partial.status, partial.figures["bridge_dlq_records"], partial.detail) == ("ok", None, "Kafka: unreachable")
    assert dead_letter_stage(None, None, ["lake: x", "Kafka: y"]).status == "unreachable"


def test_batch_lag_is_committed_landing_files_not_staged_yet() -> None:
    assert batch_stage([], {"orders": 3}).status == "not running"
    assert batch_stage([], {"orders": 3}).lag == 3
    tables = [
        VersionedTable("staging", "orders", 4, "2026-12-01T10:00:00.000+00:00", pending_files=2),
        VersionedTable("curated", "dim_customer", 2, "2026-12-01T10:05:00.000+00:00"),
    ]
    lagging = batch_stage(tables, {"payment": 1})
    assert (lagging.status, lagging.lag, lagging.figures["last_commit_at"]) == (
        "lagging",
        3,
        "2026-12-01T10:05:00.000+00:00",
    )
    tables[0] = VersionedTable("staging", "orders", 5, "2026-12-01T10:06:00.000+00:00", pending_files=0)
    assert batch_stage(tables, {}).status == "ok"


# --------------------------------------------------------------------------------------------------------------
# Probing: one stage failing or hanging alone, files in the lake


def endpoints(lake: Path | None = None) -> Endpoints:
    return Endpoints(
        kafka=KafkaSettings(bootstrap_servers=None),
        registry=SchemaRegistrySettings(url=None),
        source=SourceSettings(dsn=None),
        warehouse=WarehouseSettings(dsn=None),
        lake=LakeSettings(root=str(lake) if lake else None),
        aws=AwsSettings(endpoint_url=None),
    )


def probe(lake: Path | None = None) -> PipelineProbe:
    def no_warehouse() -> tuple[Any, str]:
        raise RuntimeError("not used")

    return PipelineProbe(load_catalog(), endpoints(lake), "cdc-bridge", None, no_warehouse)


def test_a_failing_or_silent_stage_is_unreachable_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = probe()
    monkeypatch.setattr(checked, "capture", lambda: StageStatus("capture", "ok", 0, "bytes"))
    monkeypatch.setattr(checked, "stream", lambda: time.sleep(5) or StageStatus("stream", "ok"))
    monkeypatch.setattr(checked, "batch", lambda: StageStatus("batch", "not running", 0, "files"))

    result = checked.collect(timeout_s=0.5)

    by_stage = {stage.stage: stage for stage in result.stages}
    assert [stage.stage for stage in result.stages] == [
        "capture", "stream", "bridge", "warehouse", "dead letters", "batch"
    ]  # fmt: skip
    assert by_stage["capture"].status == "ok" and by_stage["batch"].status == "not running"
    assert (by_stage["stream"].status, by_stage["stream"].detail) == ("unreachable", "no answer within 0s")
    assert by_stage["bridge"].status == "unreachable" and "no Kafka configured" in by_stage["bridge"].detail
    assert by_stage["warehouse"].detail == "RuntimeError: not used"
    assert result.seconds < 3


def test_dead_letters_in_the_lake_are_counted_from_parquet_footers(tmp_path: Path) -> None:
    lake = LakeLocation(str(tmp_path))
    letters = [DeadLetter("t", 0, offset, 1_796_119_200_000_000, b"k", b"v", 1, "E", "bad") for offset in range(3)]
    DeadLetterSink(lake, "orders").write(letters, 1)
    DeadLetterSink(lake, "payment").write(letters[:1], 1)
    (tmp_path / "dlq" / "orders" / ".hidden.parquet.tmp").write_bytes(b"")

    assert landing_dead_letters(lake) == {"orders": 3, "payment": 1}
    assert landing_dead_letters(LakeLocation(str(tmp_path / "empty"))) == {}


def test_a_checkpoint_is_read_at_its_last_committed_batch(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "landing" / "orders"
    (folder / "offsets").mkdir(parents=True)
    (folder / "commits").mkdir()
    for batch, offset in ((0, 5), (1, 9), (2, 14)):
        (folder / "offsets" / str(batch)).write_text(
            f'v1\n{{"batchTimestampMs":{batch}}}\n{{"o.cdc":{{"0":{offset}}}}}'
        )
    for batch in (0, 1):  # batch 2 planned, not committed
        (folder / "commits" / str(batch)).write_text("v1\n{}")
    (folder / "commits" / ".1.crc").write_bytes(b"")

    found = PipelineProbe._checkpoint(LakeLocation(str(tmp_path / "checkpoints")), "orders", "o.cdc")
    never = PipelineProbe._checkpoint(LakeLocation(str(tmp_path / "checkpoints")), "payment", "p.cdc")

    assert found == TableCheckpoint("orders", "o.cdc", 1, {"o.cdc": {0: 9}}, 1)
    assert never == TableCheckpoint("payment", "p.cdc")


def test_the_table_shows_every_stage_with_its_lag_and_reason() -> None:
    result = PipelineStatus(
        "2026-12-01T10:00:00+00:00",
        0.4,
        [
            StageStatus("capture", "ok", 3 * MiB, "bytes", {"slots": 1, "active": 1}),
            StageStatus("stream", "lagging", 1234, "records", {"committed": 10_000}),
            StageStatus("bridge", "unreachable", detail="Kafka at k:9092 unreachable"),
        ],
    )
    wide = Console(width=200)
    with wide.capture() as captured:
        wide.print(render_status(result))
    text = captured.get()

    assert "3.0 MiB" in text and "1,234 records" in text and "committed=10,000" in text
    assert "unreachable: Kafka at k:9092 unreachable" in text
    assert result.as_dict()["stages"][1]["lag"] == 1234
