"""Compaction of landing folders laid out exactly as Spark's file sink writes them (built with pyarrow).

Checks the readers' contract at every step: rows exactly once through `committed_files` and DuckDB views,
before, during (crash between steps) and after a compaction, while the "stream" keeps committing batches.
One test runs the real Spark file sink to check the log format and Spark's reading of compacted files.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from cli import lake_commands
from common.lake import LakeLocation
from common.landing_files import (
    Hour,
    committed_files,
    landing_base_path,
    landing_state,
    read_manifests,
    register_landing_views,
    spark_landing_paths,
    stored_files,
)
from streaming.compaction import (
    SPARK_ROW_METADATA,
    CompactionBusyError,
    CompactionOptions,
    commit_manifest,
    compact_table,
    compaction_lock,
    delete_files,
    plan_table,
    write_compacted_files,
)

NOW = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
H8, H9, H10, H12 = (Hour(2026, 3, 10, hour) for hour in (8, 9, 10, 12))  # 12h is still open at NOW
OLD = NOW - timedelta(hours=5)  # modification time of files written "long ago"
BASE_FIELDS = (
    ("id", pa.int64(), "long"),
    ("name", pa.string(), "string"),
    ("amount", pa.decimal128(10, 2), "decimal(10,2)"),
    ("birth_date", pa.date32(), "date"),
    ("_source_ts", pa.timestamp("us", tz="UTC"), "timestamp"),
)
LOYALTY = ("loyalty_tier", pa.string(), "string")  # "added at the source" in the mixed-schema tests


@dataclass
class FakeSink:
    """Spark's Parquet file sink, imitated: part files (+ .crc) in hour folders, then the batch's log file.

    Timestamps are INT64 microseconds adjusted to UTC, as the stream writes them (``int96``: as Spark's legacy
    default wrote them); the Spark row metadata is set like Spark sets it. Every 10th batch is a ``N.compact``
    file holding all entries, after which older log files are deleted.
    """

    lake: LakeLocation
    table: str
    int96: bool = False
    next_id: int = 0
    batch: int = 0
    entries: list[dict[str, object]] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return Path(self.lake.path("landing", self.table))

    @property
    def log_folder(self) -> Path:
        return self.folder / "_spark_metadata"

    def rows(self, count: int, hour: Hour, *, added_column: bool = False) -> pa.Table:
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        columns: dict[str, list[object]] = {
            "id": ids,
            "name": [f"name-{i}" if i % 7 else None for i in ids],
            "amount": [Decimal(i) / 100 for i in ids],
            "birth_date": [datetime(1990, 1, 1).date() + timedelta(days=i) for i in ids],
            "_source_ts": [hour.start + timedelta(seconds=i % 3600, microseconds=i) for i in ids],
        }
        fields = list(BASE_FIELDS)
        if added_column:
            fields.insert(2, LOYALTY)
            columns["loyalty_tier"] = [["gold", "silver", None][i % 3] for i in ids]
        schema = pa.schema([(name, kind) for name, kind, _ in fields])
        spark = {"type": "struct", "fields": [_spark_field(name, kind) for name, _, kind in fields]}
        metadata = {SPARK_ROW_METADATA: json.dumps(spark).encode(), b"org.apache.spark.version": b"4.3.0"}
        return pa.table({name: columns[name] for name in schema.names}, schema=schema.with_metadata(metadata))

    def write_part(self, rows: pa.Table, hour: Hour, *, modified: datetime = OLD) -> str:
        """One part file (not committed); returns its path relative to the table folder."""
        name = f"part-{len(self.entries) % 3:05d}-{uuid.uuid4()}.c000.snappy.parquet"
        relative = f"{hour.folder}/{name}"
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, target, compression="snappy", use_deprecated_int96_timestamps=self.int96)
        (target.parent / f".{name}.crc").write_bytes(b"crc")
        stamp = modified.timestamp()
        os.utime(target, (stamp, stamp))
        return relative

    def commit(self, parts: list[str]) -> None:
        """The batch's log file: ``N`` or, every 10th batch, ``N.compact`` with every entry so far."""
        self.log_folder.mkdir(parents=True, exist_ok=True)
        new = [self._entry(relative) for relative in parts]
        self.entries.extend(new)
        compact = (self.batch + 1) % 10 == 0
        lines = ["v1", *(json.dumps(entry) for entry in (self.entries if compact else new))]
        name = f"{self.batch}.compact" if compact else str(self.batch)
        temporary = self.log_folder / f".{name}.{uuid.uuid4()}.tmp"
        temporary.write_text("\n".join(lines))
        temporary.rename(self.log_folder / name)
        (self.log_folder / f".{name}.crc").write_bytes(b"crc")
        if compact:  # Spark may delete what the compact file supersedes
            for old in range(self.batch - 9, self.batch):
                (self.log_folder / str(old)).unlink(missing_ok=True)
        self.batch += 1

    def land(self, counts: dict[Hour, int], *, added_column: bool = False, modified: datetime = OLD) -> list[str]:
        """One committed batch: ``counts`` rows in each hour, one part file per hour."""
        parts = [
            self.write_part(self.rows(count, hour, added_column=added_column), hour, modified=modified)
            for hour, count in counts.items()
        ]
        self.commit(parts)
        return parts

    def _entry(self, relative: str) -> dict[str, object]:
        path = self.folder / relative
        return {
            "path": path.as_uri(),
            "size": path.stat().st_size,
            "isDir": False,
            "modificationTime": int(path.stat().st_mtime * 1000),
            "blockReplication": 1,
            "blockSize": 33554432,
            "action": "add",
        }


def _spark_field(name: str, kind: str) -> dict[str, object]:
    return {"name": name, "type": kind, "nullable": True, "metadata": {}}


@pytest.fixture
def lake(tmp_path: Path) -> LakeLocation:
    return LakeLocation(str(tmp_path / "lake"))


@pytest.fixture
def sink(lake: LakeLocation) -> FakeSink:
    return FakeSink(lake, "customer")


def options(**overrides: Any) -> CompactionOptions:
    return CompactionOptions(**{"older_than": timedelta(hours=2), "min_files": 4, **overrides})


def read_instants(path: str) -> pa.Table:
    """A Parquet file's rows, legacy INT96 columns as the UTC instants Spark meant."""
    file = pq.ParquetFile(path, coerce_int96_timestamp_unit="us")
    rows = file.read()
    for column in file.schema:
        if column.physical_type == "INT96":
            index = rows.schema.get_field_index(column.path)
            utc = pa.timestamp("us", tz="UTC")
            rows = rows.set_column(index, rows.field(index).with_type(utc), rows.column(index).cast(utc))
    return rows


def committed_rows(lake: LakeLocation, table: str, key: str = "id") -> list[dict[str, object]]:
    """Every committed row, sorted by ``key``."""
    tables = [read_instants(path) for path in committed_files(lake, table)]
    if not tables:
        return []
    rows = pa.concat_tables(tables, promote_options="default").to_pylist()
    return sorted(rows, key=lambda row: int(row[key]))  # type: ignore[call-overload]


def duckdb_counts(lake: LakeLocation, table: str) -> tuple[int, int, int, object]:
    """(rows, distinct ids, sum of ids, sum of amounts) through the registered DuckDB view."""
    con = duckdb.connect()
    register_landing_views(con, lake, [table])
    result = con.execute(f"SELECT count(*), count(DISTINCT id), sum(id), sum(amount) FROM {table}").fetchone()
    assert result is not None
    return result  # type: ignore[return-value]


def glob_count(lake: LakeLocation, table: str) -> int:
    """What a reader globbing the folder (ignoring the contract) would count."""
    return int(ds.dataset(lake.path("landing", table), format="parquet", partitioning="hive").count_rows())


def hour_files(lake: LakeLocation, table: str, hour: Hour) -> list[str]:
    return sorted(path for path in landing_state(lake, table).committed if path.startswith(hour.folder + "/"))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with size and mtime: a run that changes nothing leaves this equal."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def land_many(sink: FakeSink, batches: int = 12) -> None:
    """Batches over three closed hours and the open one; 12 batches give a ``9.compact`` plus later files."""
    for batch in range(batches):
        sink.land({H8: 5 + batch, H9: 3, H10: 1 + batch % 2, H12: 2})


# ------------------------------------------------------------------------------------------------------------


def test_compaction_keeps_every_row_exactly_once(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink)
    assert sorted(p.name for p in sink.log_folder.iterdir() if not p.name.startswith(".")) == ["10", "11", "9.compact"]
    before_rows = committed_rows(lake, "customer")
    before_duck = duckdb_counts(lake, "customer")
    assert len(before_rows) == before_duck[0] == before_duck[1] == sink.next_id

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.hours_compacted == 3 and report.files_replaced == 36 and report.files_written == 3
    assert report.files_before == 48 and report.files_after == 15
    assert report.rows_rewritten == sum(1 for row in before_rows if row["_source_ts"].hour != 12)  # type: ignore[attr-defined]
    assert committed_rows(lake, "customer") == before_rows  # same values, INT96 timestamps included
    assert duckdb_counts(lake, "customer") == before_duck
    assert glob_count(lake, "customer") == len(before_rows)  # replaced files are gone from storage
    for hour in (H8, H9, H10):
        (only,) = hour_files(lake, "customer", hour)
        assert only.rpartition("/")[2].startswith("compacted-")
    assert len(hour_files(lake, "customer", H12)) == 12  # the open hour is untouched
    sidecars = list(sink.folder.rglob(".part-*.crc"))
    assert len(sidecars) == 12 and all((crc.parent / crc.name[1:-4]).exists() for crc in sidecars)  # none outlives
    (manifest,) = read_manifests(lake, "customer")
    assert len(manifest.replaced) == 36 and len(manifest.added) == 3 and manifest.rows == report.rows_rewritten


def test_compacted_files_keep_schema_and_spark_metadata(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=4)
    original = pq.ParquetFile(sink.folder / hour_files(lake, "customer", H8)[0])

    compact_table(lake, "customer", options(), now=NOW)

    compacted = pq.ParquetFile(sink.folder / hour_files(lake, "customer", H8)[0])
    assert compacted.schema_arrow.remove_metadata() == original.schema_arrow.remove_metadata()
    assert [c.physical_type for c in compacted.schema] == [c.physical_type for c in original.schema]
    spark_schema = json.loads(compacted.schema_arrow.metadata[SPARK_ROW_METADATA])
    assert spark_schema == json.loads(original.schema_arrow.metadata[SPARK_ROW_METADATA])


def test_legacy_int96_timestamps_become_utc_instants(lake: LakeLocation) -> None:
    sink = FakeSink(lake, "customer", int96=True)  # written before outputTimestampType=TIMESTAMP_MICROS
    for _ in range(3):
        sink.land({H8: 4})
    sink.int96 = False
    for _ in range(2):
        sink.land({H8: 4})  # the same hour, written by the stream as it is configured now
    before = committed_rows(lake, "customer")
    assert duckdb_counts(lake, "customer")[0] == 20

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.hours_compacted == 1 and report.skipped == [] and report.files_after == 1
    compacted = pq.ParquetFile(committed_files(lake, "customer")[0])
    assert compacted.schema_arrow.field("_source_ts").type == pa.timestamp("us", tz="UTC")
    assert compacted.schema.column(4).physical_type == "INT64"
    assert "isAdjustedToUTC=true" in str(compacted.schema.column(4).logical_type)
    assert committed_rows(lake, "customer") == before  # the same instants, to the microsecond
    spark_schema = json.loads(compacted.schema_arrow.metadata[SPARK_ROW_METADATA])
    assert spark_schema["fields"][4] == {"name": "_source_ts", "type": "timestamp", "nullable": True, "metadata": {}}


def test_large_hours_split_into_files_of_max_records(lake: LakeLocation, sink: FakeSink) -> None:
    for _ in range(5):
        sink.land({H8: 22})  # 110 rows

    report = compact_table(lake, "customer", options(max_records_per_file=25), now=NOW)

    sizes = sorted(pq.ParquetFile(path).metadata.num_rows for path in committed_files(lake, "customer"))
    assert sizes == [10, 25, 25, 25, 25] and report.files_written == 5
    assert [row["id"] for row in committed_rows(lake, "customer")] == list(range(110))
    # Full files are left alone and one remainder is below --min-files: nothing more to do.
    again = compact_table(lake, "customer", options(max_records_per_file=25), now=NOW)
    assert not again.changed and again.files_after == 5


def test_second_run_changes_nothing(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    compact_table(lake, "customer", options(), now=NOW)
    before = snapshot(sink.folder)

    report = compact_table(lake, "customer", options(), now=NOW)

    assert not report.changed and report.hours_compacted == 0 and report.skipped == []
    assert snapshot(sink.folder) == before


def test_dry_run_changes_nothing_but_predicts(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    orphan = sink.write_part(sink.rows(3, H8), H8)
    before = snapshot(sink.folder)

    report = compact_table(lake, "customer", options(dry_run=True), now=NOW)

    assert snapshot(sink.folder) == before
    assert report.hours_compacted == 3 and report.files_after == report.files_before - 18 + 3
    assert report.orphans_removed == 1 and orphan


def test_crash_after_writing_compacted_files(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    rows, counts = committed_rows(lake, "customer"), duckdb_counts(lake, "customer")
    state = landing_state(lake, "customer")
    plans, _ = plan_table(lake, state, stored_files(lake, "customer"), NOW, options())
    written = write_compacted_files(lake, "customer", plans[0], 1_000_000)  # step a, then "killed"

    assert committed_rows(lake, "customer") == rows and duckdb_counts(lake, "customer") == counts
    assert all((sink.folder / path).exists() for path in written)

    report = compact_table(lake, "customer", options(), now=NOW)  # the next run

    assert report.orphans_removed == 1 and report.hours_compacted == 3
    assert not any((sink.folder / path).exists() for path in written)
    assert committed_rows(lake, "customer") == rows and duckdb_counts(lake, "customer") == counts
    assert glob_count(lake, "customer") == len(rows)


def test_crash_after_manifest_before_deleting(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    rows, counts = committed_rows(lake, "customer"), duckdb_counts(lake, "customer")
    state = landing_state(lake, "customer")
    plans, _ = plan_table(lake, state, stored_files(lake, "customer"), NOW, options())
    added = [path for plan in plans for path in write_compacted_files(lake, "customer", plan, 1_000_000)]
    manifest = commit_manifest(lake, "customer", plans, added, NOW)  # steps a and b, then "killed"

    assert committed_rows(lake, "customer") == rows and duckdb_counts(lake, "customer") == counts
    assert glob_count(lake, "customer") > len(rows)  # why readers must not glob the folder
    assert all((sink.folder / path).exists() for path in manifest.replaced)

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.leftovers_removed == len(manifest.replaced) == 18 and report.hours_compacted == 0
    assert not any((sink.folder / path).exists() for path in manifest.replaced)
    assert committed_rows(lake, "customer") == rows and glob_count(lake, "customer") == len(rows)


def test_crash_while_deleting_replaced_files(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    rows = committed_rows(lake, "customer")
    state = landing_state(lake, "customer")
    plans, _ = plan_table(lake, state, stored_files(lake, "customer"), NOW, options())
    added = [path for plan in plans for path in write_compacted_files(lake, "customer", plan, 1_000_000)]
    manifest = commit_manifest(lake, "customer", plans, added, NOW)
    delete_files(lake, "customer", manifest.replaced[:5])  # step c, half done

    assert committed_rows(lake, "customer") == rows
    report = compact_table(lake, "customer", options(), now=NOW)
    assert report.leftovers_removed == 13 and committed_rows(lake, "customer") == rows
    assert glob_count(lake, "customer") == len(rows)


def test_stream_committing_during_compaction_keeps_its_rows(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=6)
    state = landing_state(lake, "customer")
    plans, _ = plan_table(lake, state, stored_files(lake, "customer"), NOW, options())
    added = [path for plan in plans for path in write_compacted_files(lake, "customer", plan, 1_000_000)]
    late = sink.land({H8: 4, H12: 1}, modified=NOW)  # a batch commits (late rows for a closed hour too)
    manifest = commit_manifest(lake, "customer", plans, added, NOW)
    delete_files(lake, "customer", manifest.replaced)

    rows = committed_rows(lake, "customer")
    assert [row["id"] for row in rows] == list(range(sink.next_id))
    assert set(late) <= landing_state(lake, "customer").committed
    assert len(hour_files(lake, "customer", H8)) == 2  # compacted file + the late part file


def test_orphans_older_than_threshold_are_removed(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=2)  # too few files to compact
    old = sink.write_part(sink.rows(5, H9), H9, modified=NOW - timedelta(hours=3))  # killed batch, long ago
    young = sink.write_part(sink.rows(5, H12), H12, modified=NOW - timedelta(minutes=1))  # in-flight batch
    rows = committed_rows(lake, "customer")
    assert glob_count(lake, "customer") == len(rows) + 10

    kept = compact_table(lake, "customer", options(remove_orphans=False), now=NOW)
    assert kept.orphans_removed == 0 and kept.orphans_kept == 2 and (sink.folder / old).exists()

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.orphans_removed == 1 and report.orphans_kept == 1 and report.hours_compacted == 0
    assert not (sink.folder / old).exists() and (sink.folder / young).exists()
    directory, _, name = old.rpartition("/")
    assert not (sink.folder / directory / f".{name}.crc").exists()
    assert committed_rows(lake, "customer") == rows
    assert report.files_before == report.files_after == 8


def test_mixed_schemas_unify_by_name(lake: LakeLocation, sink: FakeSink) -> None:
    for _ in range(3):
        sink.land({H8: 4})
    for _ in range(3):
        sink.land({H8: 4}, added_column=True)  # a column was added at the source
    before = committed_rows(lake, "customer")
    assert sum(1 for row in before if "loyalty_tier" in row and row["loyalty_tier"] is not None) > 0

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.hours_compacted == 1 and report.files_after == 1
    (path,) = committed_files(lake, "customer")
    compacted = pq.ParquetFile(path)
    assert compacted.schema_arrow.names == ["id", "name", "loyalty_tier", "amount", "birth_date", "_source_ts"]
    spark = json.loads(compacted.schema_arrow.metadata[SPARK_ROW_METADATA])
    assert [item["name"] for item in spark["fields"]] == compacted.schema_arrow.names
    after = committed_rows(lake, "customer")
    assert after == before  # old rows: loyalty_tier NULL, new rows: their value
    assert [row["loyalty_tier"] for row in after[:12]] == [None] * 12
    con = duckdb.connect()
    register_landing_views(con, lake)
    assert con.execute("SELECT count(*), count(loyalty_tier) FROM customer").fetchone() == (24, 8)


def test_conflicting_column_types_skip_the_hour(lake: LakeLocation, sink: FakeSink) -> None:
    for _ in range(4):
        sink.land({H8: 2, H9: 2})
    bad = sink.rows(2, H8).cast(
        pa.schema([(f.name, pa.string() if f.name == "id" else f.type) for f in sink.rows(0, H8).schema])
    )
    sink.commit([sink.write_part(bad, H8)])

    report = compact_table(lake, "customer", options(), now=NOW)

    assert report.hours_compacted == 1 and len(report.skipped) == 1  # 9h compacted, 8h skipped
    assert report.skipped[0].startswith(f"{H8}: files disagree") and len(hour_files(lake, "customer", H8)) == 5


def test_a_second_compactor_is_refused_while_one_runs(lake: LakeLocation, sink: FakeSink) -> None:
    land_many(sink, batches=4)
    with compaction_lock(lake, "customer") as exclusive:
        assert exclusive
        with pytest.raises(CompactionBusyError, match="another compaction"):
            compact_table(lake, "customer", options(), now=NOW)
    assert compact_table(lake, "customer", options(), now=NOW).hours_compacted == 3


def test_cli_compact_and_files(lake: LakeLocation, sink: FakeSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_HOME", str(Path(lake.root).parent / "home"))
    sink.land({Hour(2020, 1, 1, 0): 3})
    for _ in range(4):
        sink.land({Hour(2020, 1, 1, 1): 3})
    other = FakeSink(lake, "orders")
    other.land({Hour(2020, 1, 1, 0): 3})

    files = lake_commands.files(table="customer", lake_root=lake.root)
    assert len(files) == 5 and sum(item.rows for item in files) == 15  # type: ignore[union-attr]

    reports = lake_commands.compact(lake_root=lake.root, tables="customer,orders", older_than="1h", min_files=4)
    assert [(r.table, r.hours_compacted, r.files_after) for r in reports] == [("customer", 1, 2), ("orders", 0, 1)]
    assert not any(r.changed for r in lake_commands.compact(lake_root=lake.root, older_than="1h"))
    assert lake_commands.files(table="customer", orphans=True, lake_root=lake.root) == []


# ------------------------------------------------------------------------------------------------------------
# The real file sink: log format, INT96 next to INT64 timestamps, Spark reading compacted files.


@pytest.fixture
def spark_landing(spark: SparkSession, tmp_path: Path) -> Iterator[tuple[LakeLocation, int]]:
    """``orders`` landed by Spark's Parquet file sink, one micro-batch per input file (12 batches)."""
    source = tmp_path / "input"
    source.mkdir()
    start = datetime(2024, 5, 1, 6, tzinfo=UTC)
    total = 0
    for number in range(12):
        ids = range(total, total + 50)
        total += 50
        pq.write_table(
            pa.table(
                {
                    "order_id": pa.array(list(ids), pa.int64()),
                    "created_at": pa.array(
                        [datetime(2024, 5, 1, 5) + timedelta(seconds=i) for i in ids], pa.timestamp("us")
                    ),
                    "_source_ts": pa.array(
                        [start + timedelta(minutes=(i * 7) % 180, microseconds=i) for i in ids],
                        pa.timestamp("us", tz="UTC"),
                    ),
                }
            ),
            source / f"input-{number:02d}.parquet",
        )
    lake = LakeLocation(str(tmp_path / "lake"))
    stream = (
        spark.readStream.schema("order_id BIGINT, created_at TIMESTAMP_NTZ, _source_ts TIMESTAMP")
        .option("maxFilesPerTrigger", 1)
        .parquet(str(source))
        .selectExpr(
            "*",
            "year(_source_ts) AS year",
            "month(_source_ts) AS month",
            "day(_source_ts) AS day",
            "hour(_source_ts) AS hour",
        )
    )
    query = (
        stream.writeStream.format("parquet")
        .option("path", lake.path("landing", "orders"))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .partitionBy("year", "month", "day", "hour")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    yield lake, total


def test_real_spark_sink_compacts_and_reads_back(spark_landing: tuple[LakeLocation, int], spark: SparkSession) -> None:
    lake, total = spark_landing
    log_names = {p.name for p in Path(lake.path("landing", "orders", "_spark_metadata")).iterdir()}
    assert "9.compact" in log_names

    def spark_read() -> tuple[int, int, int]:
        frame = (
            spark.read.option("basePath", landing_base_path(lake, "orders"))
            .option("mergeSchema", "true")
            .parquet(*spark_landing_paths(lake, "orders"))
        )
        row = frame.selectExpr(
            "count(*)",
            "count(DISTINCT order_id)",
            "sum(unix_micros(_source_ts) + unix_micros(cast(created_at AS TIMESTAMP)))",
        ).first()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    before = spark_read()
    rows_before = committed_rows(lake, "orders", "order_id")
    assert before[0] == before[1] == total

    report = compact_table(lake, "orders", options(min_files=2), now=datetime.now(UTC))

    assert report.hours_compacted == 3 and report.files_after == 3
    assert spark_read() == before
    assert committed_rows(lake, "orders", "order_id") == rows_before
    con = duckdb.connect()
    register_landing_views(con, lake)
    assert con.execute("SELECT count(*), count(DISTINCT order_id) FROM orders").fetchone() == (total, total)


# ------------------------------------------------------------------------------------------------------------
# S3 (moto): the same contract through pyarrow's S3 filesystem, without a lock.


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[LakeLocation]:
    import boto3
    from moto.server import ThreadedMotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="lake")
        yield LakeLocation("s3://lake/prefix", s3_endpoint=endpoint)
    finally:
        server.stop()


def test_s3_landing_compacts_without_lock(s3_lake: LakeLocation) -> None:
    filesystem, _ = s3_lake.filesystem()
    template = FakeSink(s3_lake, "orders")  # only its row generator: S3 objects are written below
    log_entries = []
    for batch in range(5):
        relative = f"{H8.folder}/part-00000-{uuid.uuid4()}.c000.snappy.parquet"
        pq.write_table(template.rows(4, H8), s3_lake.fs_path("landing", "orders", relative), filesystem=filesystem)
        log_entries.append(json.dumps({"path": s3_lake.path("landing", "orders", relative), "action": "add"}))
        with filesystem.open_output_stream(s3_lake.fs_path("landing", "orders", "_spark_metadata", str(batch))) as out:
            out.write("\n".join(["v1", log_entries[-1]]).encode())
    orphan = f"{H8.folder}/part-00001-{uuid.uuid4()}.c000.snappy.parquet"  # just written: may be in flight
    pq.write_table(template.rows(4, H8), s3_lake.fs_path("landing", "orders", orphan), filesystem=filesystem)
    assert len(committed_files(s3_lake, "orders")) == 5
    assert all(path.startswith("lake/prefix/landing/orders/") for path in committed_files(s3_lake, "orders"))
    assert spark_landing_paths(s3_lake, "orders")[0].startswith("s3://lake/prefix/landing/orders/year=2026/")

    report = compact_table(s3_lake, "orders", options(), now=NOW)

    assert report.hours_compacted == 1 and report.files_after == 1 and report.orphans_kept == 1
    (path,) = committed_files(s3_lake, "orders")
    assert pq.ParquetFile(path, filesystem=filesystem).metadata.num_rows == 20
    assert [m.added for m in read_manifests(s3_lake, "orders")] == [(path.removeprefix("lake/prefix/landing/orders/"),)]
    assert not compact_table(s3_lake, "orders", options(), now=NOW).changed
