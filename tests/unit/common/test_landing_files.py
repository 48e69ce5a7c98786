"""The landing zone's readers' contract: sink log parsing, manifests, the committed view, orphans.

Log folders are built by hand in temporary folders, in the format Spark's file sink writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common import landing_files
from common.errors import ConfigError
from common.lake import LakeLocation
from common.landing_files import (
    Hour,
    LandingError,
    LandingState,
    LandingTableNotFoundError,
    LogEntry,
    Manifest,
    ManifestError,
    SinkLogError,
    StoredFile,
    classify_uncommitted,
    committed_files,
    committed_view,
    fold_log,
    hour_of,
    is_data_file,
    landing_tables,
    manifest_name,
    missing_batches,
    parse_log_text,
    parse_manifest,
    read_manifests,
    read_sink_log,
    register_landing_views,
    render_view_sql,
    select_log_files,
    spark_landing_paths,
    table_relative_path,
    uncommitted_files,
    write_manifest,
)
from streaming.compaction import (
    SPARK_ROW_METADATA,
    CompactionOptions,
    SourceFile,
    plan_hour,
    spark_row_metadata,
    unified_schema,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
HOUR = "year=2026/month=3/day=10/hour=4"


def entry(path: str, action: str = "add") -> str:
    return json.dumps({"path": path, "size": 1, "isDir": False, "modificationTime": 0, "action": action})


def write_log(folder: Path, name: str, paths: list[str]) -> None:
    """A sink log file as Spark writes it: ``v1`` then one JSON entry per line (no trailing newline)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(["v1", *(entry(path) for path in paths)]))


def table_with_log(root: Path, table: str, batches: dict[str, list[str]]) -> Path:
    """``landing/<table>/_spark_metadata`` with the given log files; entries are relative to the table folder."""
    folder = root / "landing" / table
    log = folder / "_spark_metadata"
    log.mkdir(parents=True, exist_ok=True)
    for name, relatives in batches.items():
        write_log(log, name, [(folder / relative).as_uri() for relative in relatives])
    return folder


def data_file(folder: Path, relative: str, ids: list[int]) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), path)


# --------------------------------------------------------------------------------------------------------------
# Sink log files


def test_select_without_compact_takes_every_batch_in_order() -> None:
    names = [str(batch) for batch in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)]
    assert select_log_files(names) == [str(batch) for batch in range(11)]


def test_select_takes_latest_compact_and_later_batches() -> None:
    names = ["8", "9.compact", "10", "11", "19.compact", "20", "21", ".21.crc", ".22.abc.tmp", "_tmp", "x"]
    assert select_log_files(names) == ["19.compact", "20", "21"]


def test_compact_wins_over_a_leftover_plain_batch_file() -> None:
    assert select_log_files(["9", "9.compact", "10"]) == ["9.compact", "10"]


def test_missing_batches_finds_gaps() -> None:
    assert missing_batches(["0", "1", "3"]) == [2]
    assert missing_batches(["9.compact", "10", "12"]) == [11]
    assert missing_batches(["2", "3"]) == [0, 1]  # without a compact file the log starts at 0
    assert missing_batches(["19.compact"]) == []
    assert missing_batches([]) == []


def test_parse_log_text_reads_entries_and_skips_blank_lines() -> None:
    text = "\n".join(["v1", entry("file:///a/x.parquet"), "", entry("file:///a/y.parquet", "delete"), ""])
    assert parse_log_text(text, source="0") == [
        LogEntry("file:///a/x.parquet"),
        LogEntry("file:///a/y.parquet", "delete"),
    ]


@pytest.mark.parametrize("text", ["", "v2\n" + entry("x"), "{}\n", "v1\nnot json", 'v1\n{"size": 1}'])
def test_parse_log_text_rejects_what_it_does_not_understand(text: str) -> None:
    with pytest.raises(SinkLogError):
        parse_log_text(text, source="7")


def test_fold_log_applies_deletes_and_keeps_first_order() -> None:
    entries = [LogEntry("a"), LogEntry("b"), LogEntry("a"), LogEntry("c"), LogEntry("b", "delete")]
    assert fold_log(entries) == ["a", "c"]


@pytest.mark.parametrize(
    "uri",
    [
        "file:///lake/landing/orders/year=2026/month=3/day=10/hour=4/part-0.parquet",
        "file:/lake/landing/orders/year=2026/month=3/day=10/hour=4/part-0.parquet",
        "s3://bucket/prefix/landing/orders/year=2026/month=3/day=10/hour=4/part-0.parquet",
        "s3a://bucket/landing/orders/year=2026/month=3/day=10/hour=4/part-0.parquet",
        "/moved/landing/orders/landing/orders/year=2026/month=3/day=10/hour=4/part-0.parquet",
    ],
)
def test_table_relative_path_whatever_the_scheme(uri: str) -> None:
    assert table_relative_path(uri, "orders") == f"{HOUR}/part-0.parquet"


def test_table_relative_path_decodes_percent_encoding() -> None:
    uri = "file:///my%20lake/landing/orders/year=2026/month=3/day=10/hour=4/part%2B1.parquet"
    assert table_relative_path(uri, "orders") == f"{HOUR}/part+1.parquet"


@pytest.mark.parametrize(
    "uri", ["file:///lake/landing/customer/x.parquet", "file:///lake/landing/orders/../orders2/x.parquet"]
)
def test_table_relative_path_rejects_paths_outside_the_table(uri: str) -> None:
    with pytest.raises(LandingError):
        table_relative_path(uri, "orders")


def test_read_sink_log_uses_latest_compact_and_later_batches(tmp_path: Path) -> None:
    a, b, c, d = (f"{HOUR}/part-{n}.parquet" for n in "abcd")
    table_with_log(tmp_path, "orders", {"8": [a], "9.compact": [a, b], "10": [c], "11": [d]})
    # "8" is superseded by 9.compact (Spark may delete it at any time): its entries are not read twice.
    assert read_sink_log(LakeLocation(str(tmp_path)), "orders") == [a, b, c, d]


def test_read_sink_log_lists_again_when_a_file_vanishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = f"{HOUR}/part-a.parquet", f"{HOUR}/part-b.parquet"
    folder = table_with_log(tmp_path, "orders", {"0": [a], "1": [b]})
    real = landing_files._read_log_file
    calls: list[str] = []

    def compacting_spark(filesystem: object, log_folder: str, name: str) -> list[LogEntry]:
        calls.append(name)
        if len(calls) == 1:  # Spark writes 1.compact and deletes 0 and 1 just after our listing
            write_log(folder / "_spark_metadata", "1.compact", [(folder / p).as_uri() for p in (a, b)])
            for old in ("0", "1"):
                (folder / "_spark_metadata" / old).unlink()
            raise FileNotFoundError(name)
        return real(filesystem, log_folder, name)

    monkeypatch.setattr(landing_files, "_read_log_file", compacting_spark)
    assert read_sink_log(LakeLocation(str(tmp_path)), "orders") == [a, b]
    assert calls == ["0", "1.compact"]


def test_read_sink_log_gives_up_after_the_second_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table_with_log(tmp_path, "orders", {"0": [f"{HOUR}/part-a.parquet"]})

    def always_gone(filesystem: object, log_folder: str, name: str) -> list[LogEntry]:
        raise FileNotFoundError(name)

    monkeypatch.setattr(landing_files, "_read_log_file", always_gone)
    with pytest.raises(SinkLogError, match="cannot be read consistently"):
        read_sink_log(LakeLocation(str(tmp_path)), "orders")


def test_read_sink_log_refuses_a_log_with_a_gap(tmp_path: Path) -> None:
    table_with_log(tmp_path, "orders", {"0": [f"{HOUR}/a.parquet"], "2": [f"{HOUR}/c.parquet"]})
    with pytest.raises(SinkLogError, match="batch file 1 is missing"):
        read_sink_log(LakeLocation(str(tmp_path)), "orders")


def test_an_empty_log_means_no_files_and_a_missing_one_an_unknown_table(tmp_path: Path) -> None:
    (tmp_path / "landing" / "orders" / "_spark_metadata").mkdir(parents=True)
    location = LakeLocation(str(tmp_path))
    assert committed_files(location, "orders") == []
    with pytest.raises(LandingTableNotFoundError, match="no landing table 'customer'"):
        committed_files(location, "customer")
    with pytest.raises(ConfigError):
        committed_files(location, "../orders")


# --------------------------------------------------------------------------------------------------------------
# Partitions


def test_hour_of_parses_unpadded_partitions() -> None:
    assert hour_of("year=2026/month=3/day=10/hour=4/part-0.parquet") == Hour(2026, 3, 10, 4)
    assert hour_of("year=2026/month=13/day=10/hour=4/part-0.parquet") is None
    assert hour_of("_spark_metadata/0") is None
    assert hour_of("year=2026/month=3/day=10/part-0.parquet") is None
    assert Hour(2026, 3, 10, 4).folder == HOUR


def test_closed_hours_ended_older_than_ago() -> None:
    hour = Hour(2026, 3, 10, 9)  # ends 10:00
    assert hour.is_closed(NOW, timedelta(hours=2))
    assert not hour.is_closed(NOW - timedelta(seconds=1), timedelta(hours=2))


def test_data_files_are_visible_parquet_files_in_hour_folders() -> None:
    assert is_data_file(f"{HOUR}/part-0.c000.snappy.parquet")
    assert is_data_file(f"{HOUR}/compacted-1.parquet")
    assert not is_data_file(f"{HOUR}/.part-0.c000.snappy.parquet.crc")
    assert not is_data_file(f"{HOUR}/_SUCCESS")
    assert not is_data_file("part-0.parquet")


# --------------------------------------------------------------------------------------------------------------
# Manifests and the committed view


def test_manifest_round_trip() -> None:
    manifest = Manifest(
        name=manifest_name(NOW, "abc"),
        replaced=(f"{HOUR}/part-0.parquet", f"{HOUR}/part-1.parquet"),
        added=(f"{HOUR}/compacted-1.parquet",),
        created_at=NOW.isoformat(),
        table="orders",
        hours=(HOUR,),
        rows=12,
    )
    assert manifest.name == "20260310T120000.000000Z-abc.json"
    assert parse_manifest(manifest.to_json(), name=manifest.name) == manifest


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"added": []}',
        '{"replaced": "x", "added": []}',
        '{"replaced": [], "added": ["/etc/passwd"]}',
        '{"replaced": ["../other/x.parquet"], "added": []}',
        '{"version": 2, "replaced": [], "added": []}',
    ],
)
def test_malformed_manifests_are_errors(text: str) -> None:
    with pytest.raises(LandingError):
        parse_manifest(text, name="m.json")


def test_committed_view_is_log_plus_added_minus_replaced() -> None:
    first = Manifest("1.json", replaced=("p0", "p1", "p2"), added=("c1",))
    later = Manifest("2.json", replaced=("c1", "p3"), added=("c2",))  # late rows: c1 compacted again
    assert committed_view(["p0", "p1", "p2", "p3", "p4"], []) == {"p0", "p1", "p2", "p3", "p4"}
    assert committed_view(["p0", "p1", "p2", "p3", "p4"], [first]) == {"c1", "p3", "p4"}
    assert committed_view(["p0", "p1", "p2", "p3", "p4"], [first, later]) == {"c2", "p4"}


def test_manifests_are_written_atomically_and_read_in_order(tmp_path: Path) -> None:
    location = LakeLocation(str(tmp_path))
    first = Manifest(manifest_name(NOW, "b"), replaced=(f"{HOUR}/p0.parquet",), added=(f"{HOUR}/c0.parquet",))
    later = Manifest(manifest_name(NOW + timedelta(seconds=1), "a"), replaced=(), added=())
    write_manifest(location, "orders", later)
    write_manifest(location, "orders", first)
    folder = tmp_path / "landing" / "orders" / "_compactions"
    (folder / ".lock").touch()
    (folder / ".x.json.123.tmp").write_text("partial")
    assert [m.name for m in read_manifests(location, "orders")] == [first.name, later.name]
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) == [first.name, later.name]


def test_a_corrupt_manifest_stops_readers(tmp_path: Path) -> None:
    table_with_log(tmp_path, "orders", {"0": []})
    folder = tmp_path / "landing" / "orders" / "_compactions"
    folder.mkdir()
    (folder / "20260101T000000.000000Z-x.json").write_text('{"replaced": [')
    with pytest.raises(ManifestError, match="malformed"):
        committed_files(LakeLocation(str(tmp_path)), "orders")


def test_committed_files_apply_manifests(tmp_path: Path) -> None:
    parts = [f"{HOUR}/part-{n}.parquet" for n in range(3)]
    folder = table_with_log(tmp_path, "orders", {"0": parts[:2], "1": parts[2:]})
    location = LakeLocation(str(tmp_path))
    assert committed_files(location, "orders") == sorted(str(folder / p) for p in parts)
    write_manifest(
        location, "orders", Manifest("m.json", replaced=tuple(parts[:2]), added=(f"{HOUR}/compacted-x.parquet",))
    )
    assert committed_files(location, "orders") == sorted(
        str(folder / p) for p in (parts[2], f"{HOUR}/compacted-x.parquet")
    )
    assert spark_landing_paths(location, "orders") == committed_files(location, "orders")  # local: the same paths


# --------------------------------------------------------------------------------------------------------------
# Orphans


def stored(path: str, age: timedelta) -> StoredFile:
    return StoredFile(path, 10, NOW - age)


def test_classify_uncommitted_files() -> None:
    state = LandingState(
        "orders",
        (f"{HOUR}/part-0.parquet", f"{HOUR}/part-1.parquet", f"{HOUR}/part-2.parquet"),
        (Manifest("m.json", replaced=(f"{HOUR}/part-0.parquet",), added=(f"{HOUR}/compacted-a.parquet",)),),
    )
    files = [
        stored(f"{HOUR}/part-0.parquet", timedelta(hours=3)),  # replaced, still present
        stored(f"{HOUR}/part-1.parquet", timedelta(hours=3)),  # committed
        stored(f"{HOUR}/compacted-a.parquet", timedelta(0)),  # committed by the manifest
        stored(f"{HOUR}/part-9.parquet", timedelta(hours=3)),  # killed batch, long ago
        stored(f"{HOUR}/part-8.parquet", timedelta(minutes=5)),  # batch in flight
        stored(f"{HOUR}/compacted-b.parquet", timedelta(minutes=5)),  # compaction killed before its manifest
        stored(f"{HOUR}/.compacted-c.parquet.123.tmp", timedelta(minutes=5)),  # killed mid-write
        stored(f"{HOUR}/.part-9.parquet.crc", timedelta(hours=3)),  # Hadoop sidecar: not data
    ]

    def summary(exclusive: bool) -> dict[str, tuple[str, bool]]:
        found = classify_uncommitted(files, state, now=NOW, older_than=timedelta(hours=2), exclusive=exclusive)
        return {item.file.path.rpartition("/")[2]: (item.kind, item.removable) for item in found}

    assert summary(exclusive=False) == {
        "part-0.parquet": ("replaced", True),
        "part-9.parquet": ("orphan", True),
        "part-8.parquet": ("orphan", False),
        "compacted-b.parquet": ("orphan", False),
        ".compacted-c.parquet.123.tmp": ("orphan", False),
    }
    # Holding the compaction lock, the compactor's own leftovers cannot belong to a running compaction.
    assert summary(exclusive=True)["compacted-b.parquet"] == ("orphan", True)
    assert summary(exclusive=True)[".compacted-c.parquet.123.tmp"] == ("orphan", True)
    assert summary(exclusive=True)["part-8.parquet"] == ("orphan", False)


def test_uncommitted_files_in_a_real_folder(tmp_path: Path) -> None:
    folder = table_with_log(tmp_path, "orders", {"0": [f"{HOUR}/part-0.parquet"]})
    data_file(folder, f"{HOUR}/part-0.parquet", [1, 2])
    data_file(folder, f"{HOUR}/part-9.parquet", [1, 2])  # same rows again, never committed
    found = uncommitted_files(
        LakeLocation(str(tmp_path)), "orders", older_than=timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert [(item.file.path, item.kind, item.removable) for item in found] == [
        (f"{HOUR}/part-9.parquet", "orphan", True)
    ]


# --------------------------------------------------------------------------------------------------------------
# Tables and DuckDB views


def test_landing_tables_are_folders_with_a_sink_log(tmp_path: Path) -> None:
    location = LakeLocation(str(tmp_path))
    assert landing_tables(location) == []
    table_with_log(tmp_path, "orders", {})
    table_with_log(tmp_path, "customer", {"0": []})
    (tmp_path / "landing" / "scratch").mkdir()
    (tmp_path / "landing" / "notes.txt").write_text("x")
    assert landing_tables(location) == ["customer", "orders"]


def test_render_view_sql_quotes_names_and_paths() -> None:
    sql = render_view_sql("orders", ["/lake/it's/a.parquet"])
    assert sql == (
        "CREATE OR REPLACE VIEW \"orders\" AS SELECT * FROM read_parquet(['/lake/it''s/a.parquet'], "
        "hive_partitioning = true, union_by_name = true)"
    )
    with pytest.raises(ConfigError):
        render_view_sql('orders"; DROP TABLE x; --', [])


def test_register_landing_views_reads_only_committed_files(tmp_path: Path) -> None:
    later = "year=2026/month=3/day=10/hour=5"
    folder = table_with_log(tmp_path, "orders", {"0": [f"{HOUR}/part-0.parquet"], "1": [f"{later}/part-1.parquet"]})
    data_file(folder, f"{HOUR}/part-0.parquet", [1, 2])
    data_file(folder, f"{later}/part-1.parquet", [3])
    data_file(folder, f"{HOUR}/part-9.parquet", [1, 2])  # orphan of a killed batch
    table_with_log(tmp_path, "customer", {})  # no rows yet: no view
    con = duckdb.connect()

    created = register_landing_views(con, LakeLocation(str(tmp_path)))

    assert created == {"orders": 2}
    assert con.execute("SELECT count(*), sum(id), min(hour), max(hour), min(year) FROM orders").fetchone() == (
        3,
        6,
        4,
        5,
        2026,
    )
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "customer" not in tables


# --------------------------------------------------------------------------------------------------------------
# Compaction planning (pure)


def schema(*fields: tuple[str, pa.DataType], spark: bool = True) -> pa.Schema:
    kinds = {pa.int64(): "long", pa.string(): "string"}
    metadata = None
    if spark:
        struct = {"type": "struct", "fields": [{"name": n, "type": kinds[t], "nullable": True} for n, t in fields]}
        metadata = {SPARK_ROW_METADATA: json.dumps(struct).encode()}
    return pa.schema(list(fields), metadata=metadata)


def source(name: str, rows: int, minute: int, file_schema: pa.Schema | None = None) -> SourceFile:
    return SourceFile(
        f"{HOUR}/{name}", rows, NOW + timedelta(minutes=minute), file_schema or schema(("id", pa.int64()))
    )


def test_plan_hour_needs_min_files_small_files() -> None:
    hour = Hour(2026, 3, 10, 4)
    options = CompactionOptions(min_files=3, max_records_per_file=100)
    assert plan_hour(hour, [source("a", 10, 0), source("b", 10, 1)], options) is None
    assert plan_hour(hour, [source("a", 100, 0), source("b", 10, 1), source("c", 10, 2)], options) is None
    plan = plan_hour(hour, [source("c", 10, 2), source("a", 10, 0), source("b", 100, 1), source("d", 5, 3)], options)
    assert plan is not None and [f.path.rpartition("/")[2] for f in plan.files] == ["a", "c", "d"]
    assert plan.rows == 25 and plan.output_files(10) == 3


def test_unified_schema_takes_newest_order_and_rebuilds_spark_metadata() -> None:
    old = schema(("id", pa.int64()), ("name", pa.string()))
    new = schema(("id", pa.int64()), ("tier", pa.string()), ("name", pa.string()))
    unified = unified_schema([new, old])
    assert unified.names == ["id", "tier", "name"]
    spark = json.loads(unified.metadata[SPARK_ROW_METADATA])
    assert [f["name"] for f in spark["fields"]] == ["id", "tier", "name"]


def test_spark_metadata_is_dropped_when_a_file_has_none() -> None:
    old = schema(("id", pa.int64()), spark=False)
    new = schema(("id", pa.int64()), ("name", pa.string()))
    assert spark_row_metadata([new, old], ["id", "name"]) is None
    assert SPARK_ROW_METADATA not in (unified_schema([new, old]).metadata or {})
