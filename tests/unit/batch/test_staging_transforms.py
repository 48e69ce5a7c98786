"""Staging's pure parts: column layout, winner per key by source position, staging rows, merge, file sets."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.staging_files import carried_files, new_run_id, pending_landing_files
from batch.staging_schema import (
    BUCKETS,
    bucket_folder,
    bucket_of_path,
    landing_read_ddl,
    staging_columns,
    staging_ddl,
)
from batch.staging_transforms import latest_changes, merge_into_current, newer_than_current, to_staging_rows
from batch.table_store import TableStoreError
from common.errors import ConfigError
from common.landing_files import LandingState, Manifest
from schemas.catalog import Catalog, Table, load_catalog, parse_catalog
from schemas.debezium import envelope_schema
from streaming.landing_schema import landing_schema
from tests.unit.batch.conftest import CATALOG_TOML, frame

STAGED_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TS = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def account_change(account_id: int, lsn: int, offset: int, op: str = "u", **values: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "email": f"a{account_id}-{lsn}@x.io",
        "_op": op,
        "_source_ts": TS,
        "_lsn": lsn,
        "_kafka_offset": offset,
        **values,
    }


def changes(spark: SparkSession, table: Table, rows: list[dict[str, Any]]) -> DataFrame:
    return frame(spark, landing_read_ddl(table), rows)


def staged(spark: SparkSession, table: Table, rows: list[dict[str, Any]], run_id: str = "old") -> DataFrame:
    return to_staging_rows(changes(spark, table, rows), table, run_id, STAGED_AT)


def by_key(df: DataFrame, *columns: str) -> dict[Any, tuple[Any, ...]]:
    return {row[0]: tuple(row[1:]) for row in df.select(df.columns[0], *columns).collect()}


# ── column layout ────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("connector", ["postgresql", "sqlserver"])
def test_landing_read_schema_matches_what_the_streaming_job_lands(connector: str) -> None:
    for catalog_table in load_catalog().tables:
        landed = landing_schema(envelope_schema(catalog_table, connector=connector))  # type: ignore[arg-type]
        types = {column.name: column.spark_type for column in (*landed.row, *landed.metadata)}
        table = catalog_table.model_copy(update={"connector": connector})
        for part in landing_read_ddl(table).split(", "):
            name, kind = part.split(" ")
            assert types[name.strip("`")] == kind, (table.name, name)


def test_staging_columns_follow_the_adr_order(shop: Catalog, ledger: Table) -> None:
    assert staging_columns(shop.table("account")) == (
        *("account_id", "email", "tier", "country", "balance"),
        *("_op", "_source_ts", "_lsn", "_deleted", "_bucket", "_run_id", "_staged_at"),
    )
    assert staging_columns(ledger)[2:7] == (
        "_op",
        "_source_ts",
        "_commit_lsn",
        "_change_lsn",
        "_event_serial_no",
    )
    assert "`balance` DECIMAL(12,2)" in staging_ddl(shop.table("account"))


def test_a_catalog_column_named_like_a_staging_column_is_refused() -> None:
    clashing = CATALOG_TOML.replace(
        '{ name = "note", type = "string", nullable = true }', '{ name = "bucket", type = "int32" }'
    )
    table = parse_catalog(tomllib.loads(clashing), Path("x.toml")).table("ledger")
    with pytest.raises(ConfigError, match="bucket"):
        staging_ddl(table)


def test_bucket_folders_name_their_bucket() -> None:
    assert bucket_folder(3) == "bucket=03"
    assert bucket_of_path("data/run=r1-abc/bucket=03/part-0.parquet") == 3
    assert bucket_of_path("data/run=r1-abc/part-0.parquet") is None
    with pytest.raises(ValueError, match="outside"):
        bucket_folder(BUCKETS)


def test_run_ids_are_valid_table_store_run_ids() -> None:
    run_id = new_run_id(STAGED_AT)
    assert run_id.startswith("20260310T120000Z-") and run_id != new_run_id(STAGED_AT)


# ── winners ──────────────────────────────────────────────────────────────────────────────────────────────────


def test_the_highest_lsn_wins_whatever_the_arrival_order(spark: SparkSession, shop: Catalog) -> None:
    account = shop.table("account")
    rows = [  # offsets (arrival) deliberately disagree with LSNs
        account_change(1, lsn=300, offset=1, tier="gold"),
        account_change(1, lsn=100, offset=3, op="c", tier="basic"),
        account_change(1, lsn=200, offset=2),
        account_change(2, lsn=50, offset=4, op="c"),
        account_change(2, lsn=50, offset=9, tier="tie-by-offset"),  # same position: the later offset wins
    ]
    winners = latest_changes(changes(spark, account, rows), account)
    assert by_key(winners, "_lsn", "tier") == {1: (300, "gold"), 2: (50, "tie-by-offset")}


def test_sql_server_positions_order_by_commit_then_change_then_serial(spark: SparkSession, ledger: Table) -> None:
    def change(entry: int, commit: str, change: str, serial: int, offset: int) -> dict[str, Any]:
        note = f"{commit}/{change}/{serial}"
        return {"entry_id": entry, "note": note, "_op": "u", "_source_ts": TS, "_kafka_offset": offset} | {
            "_commit_lsn": commit,
            "_change_lsn": change,
            "_event_serial_no": serial,
        }

    rows = [
        change(1, "0000002a:00000100:0001", "0000002a:00000100:0002", 1, offset=9),
        change(1, "0000002b:00000010:0001", "0000002b:00000010:0001", 1, offset=1),  # later commit wins
        change(2, "0000002a:00000100:0001", "0000002a:00000100:0003", 1, offset=1),  # later change wins
        change(2, "0000002a:00000100:0001", "0000002a:00000100:0002", 2, offset=2),
        change(3, "0000002a:00000100:0001", "0000002a:00000100:0002", 2, offset=1),  # higher serial wins
        change(3, "0000002a:00000100:0001", "0000002a:00000100:0002", 1, offset=2),
    ]
    winners = latest_changes(frame(spark, landing_read_ddl(ledger), rows), ledger)
    assert by_key(winners, "note") == {
        1: ("0000002b:00000010:0001/0000002b:00000010:0001/1",),
        2: ("0000002a:00000100:0001/0000002a:00000100:0003/1",),
        3: ("0000002a:00000100:0001/0000002a:00000100:0002/2",),
    }
    staged_rows = to_staging_rows(winners, ledger, "r", STAGED_AT)
    current = staged_rows.where("entry_id = 2")
    late = to_staging_rows(frame(spark, landing_read_ddl(ledger), [rows[3]]), ledger, "r2", STAGED_AT)
    assert newer_than_current(late, current, ledger).count() == 0
    assert by_key(merge_into_current(current, late, ledger), "_event_serial_no") == {2: (1,)}


# ── staging rows ─────────────────────────────────────────────────────────────────────────────────────────────


def test_staging_rows_flag_deletes_keep_the_before_image_and_bucket_the_key(spark: SparkSession, shop: Catalog) -> None:
    account = shop.table("account")
    rows = [
        account_change(1, 10, 1, op="d", email="gone@x.io", balance=Decimal("5.00")),
        account_change(2, 11, 2, op="c"),
        account_change(3, 12, 3, op="r"),
    ]
    result = staged(spark, account, rows, run_id="run-7")
    assert tuple(result.columns) == staging_columns(account)
    assert by_key(result, "_deleted", "email", "balance", "_run_id") == {
        1: (True, "gone@x.io", Decimal("5.00"), "run-7"),
        2: (False, "a2-11@x.io", None, "run-7"),
        3: (False, "a3-12@x.io", None, "run-7"),
    }
    expected = result.select("_bucket", F.pmod(F.xxhash64("account_id"), F.lit(16)).alias("hash")).collect()
    assert all(row["_bucket"] == row["hash"] and 0 <= row["_bucket"] < BUCKETS for row in expected)
    assert {row[0] for row in result.select(F.col("_staged_at").cast("long")).collect()} == {STAGED_AT.timestamp()}


def test_composite_keys_bucket_on_every_key_column(spark: SparkSession, shop: Catalog) -> None:
    purchase = shop.table("purchase")
    base = {"amount": Decimal("1.00"), "_op": "c", "_source_ts": TS, "_kafka_offset": 1}
    rows = [{"purchase_id": 1, "line_no": line, "_lsn": line, **base} for line in range(40)]
    result = to_staging_rows(frame(spark, landing_read_ddl(purchase), rows), purchase, "r", STAGED_AT)
    assert result.select("_bucket").distinct().count() > 1  # not all lines of one purchase in one bucket


# ── merging with what is staged ──────────────────────────────────────────────────────────────────────────────


def test_only_changes_newer_than_the_staged_row_go_on(spark: SparkSession, shop: Catalog) -> None:
    account = shop.table("account")
    current = staged(spark, account, [account_change(1, 200, 1), account_change(2, 200, 2)])
    candidates = staged(
        spark,
        account,
        [account_change(1, 100, 5), account_change(2, 200, 6), account_change(3, 50, 7), account_change(4, 300, 8)],
        run_id="new",
    )
    fresh = newer_than_current(candidates, current.where("account_id != 4"), account)
    assert sorted(fresh.columns) == sorted(candidates.columns)
    assert by_key(fresh, "_lsn") == {3: (50,), 4: (300,)}  # 1 is late, 2 was already staged


def test_merge_keeps_the_higher_position_per_key_and_every_other_row(spark: SparkSession, shop: Catalog) -> None:
    account = shop.table("account")
    current = staged(spark, account, [account_change(1, 200, 1), account_change(2, 200, 2), account_change(3, 5, 3)])
    new = staged(
        spark,
        account,
        [account_change(1, 100, 5, tier="late"), account_change(2, 200, 6), account_change(3, 9, 7, op="d")],
        run_id="new",
    )
    merged = merge_into_current(current, new, account)
    assert tuple(merged.columns) == staging_columns(account)
    assert by_key(merged, "_lsn", "_run_id", "_deleted") == {
        1: (200, "old", False),  # a late change older than the staged row loses
        2: (200, "old", False),  # the same change read again keeps its first staging
        3: (9, "new", True),
    }


# ── file sets ────────────────────────────────────────────────────────────────────────────────────────────────


def test_pending_files_are_committed_minus_consumed_and_compaction_of_consumed_files_is_consumed() -> None:
    log = ("h1/a.parquet", "h1/b.parquet", "h2/c.parquet", "h2/d.parquet")
    manifests = (
        Manifest("1.json", replaced=("h1/a.parquet", "h1/b.parquet"), added=("h1/compacted-1.parquet",)),
        Manifest("2.json", replaced=("h2/c.parquet", "h2/d.parquet"), added=("h2/compacted-2.parquet",)),
    )
    state = LandingState("t", log, manifests)
    assert pending_landing_files(state, []) == ["h1/compacted-1.parquet", "h2/compacted-2.parquet"]
    consumed = ["h1/a.parquet", "h1/b.parquet", "h2/c.parquet"]
    assert pending_landing_files(state, consumed) == ["h2/compacted-2.parquet"]  # d was never read
    assert pending_landing_files(LandingState("t", log, ()), consumed) == ["h2/d.parquet"]


def test_carried_files_split_by_touched_buckets() -> None:
    files = ["data/run=a/bucket=00/p.parquet", "data/run=a/bucket=03/p.parquet", "data/run=b/bucket=03/q.parquet"]
    assert carried_files(files, {3}) == ([files[0]], files[1:])
    with pytest.raises(TableStoreError, match="bucket=NN"):
        carried_files(["data/run=a/p.parquet"], {3})
