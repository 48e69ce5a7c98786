"""`cdc query` and the DuckDB views over the lake: versioned staging/curated tables and committed landing files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.query_engine import LakeQueryEngine, QueryError
from batch.table_store import TableStore
from cli import main as cli_main
from common.lake import LakeLocation


def commit_version(lake: LakeLocation, zone: str, table: str, rows: pa.Table, run: str) -> None:
    store = TableStore(lake, zone, table)
    current = store.current()
    relative = f"{store.new_data_folder(run)}/part-0.parquet"
    path = Path(store.folder()) / relative
    path.parent.mkdir(parents=True)
    pq.write_table(rows, path)
    store.commit([relative], expected_version=current.version if current else 0, rows=rows.num_rows)


def land(lake: LakeLocation, table: str, rows: pa.Table, *, committed: bool) -> None:
    folder = Path(lake.path("landing", table, "year=2026", "month=3", "day=1", "hour=12"))
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{'c' if committed else 'x'}.parquet"
    pq.write_table(rows, folder / name)
    log = Path(lake.path("landing", table, "_spark_metadata"))
    log.mkdir(exist_ok=True)
    if committed:
        entry = {"path": (folder / name).as_uri(), "size": 1, "action": "add"}
        (log / "0").write_text("v1\n" + json.dumps(entry))


@pytest.fixture
def lake(tmp_path: Path) -> LakeLocation:
    lake = LakeLocation(str(tmp_path / "lake"))
    commit_version(lake, "staging", "customer", pa.table({"customer_id": [1, 2], "segment": ["a", "b"]}), "r1")
    commit_version(lake, "staging", "customer", pa.table({"customer_id": [1, 2, 3], "segment": ["a", "b", "c"]}), "r2")
    commit_version(lake, "curated", "dim_customer", pa.table({"customer_key": [10], "customer_id": [1]}), "r1")
    land(lake, "orders", pa.table({"order_id": [7, 8]}), committed=True)
    land(lake, "orders", pa.table({"order_id": [99]}), committed=False)  # a crashed batch's part file
    (Path(lake.root) / "staging" / "notatable").mkdir()
    return lake


def test_views_read_current_versions_and_committed_files_only(lake: LakeLocation) -> None:
    engine = LakeQueryEngine(lake)
    try:
        assert sorted((view.name, view.files, view.version) for view in engine.views) == [
            ("curated.dim_customer", 1, 1),
            ("landing.orders", 1, None),
            ("staging.customer", 1, 2),
        ]
        assert engine.query("SELECT count(*) AS n FROM staging.customer").to_pylist() == [{"n": 3}]
        joined = engine.query(
            "SELECT d.customer_key, s.segment FROM curated.dim_customer d JOIN staging.customer s USING (customer_id)"
        )
        assert joined.to_pylist() == [{"customer_key": 10, "segment": "a"}]
        landed = engine.query("SELECT order_id, hour FROM landing.orders ORDER BY order_id").to_pylist()
        assert landed == [{"order_id": 7, "hour": 12}, {"order_id": 8, "hour": 12}]
        with pytest.raises(QueryError, match=r"query failed: .*nosuch"):
            engine.query("SELECT * FROM staging.nosuch")
    finally:
        engine.close()


def test_cdc_query_prints_tables_csv_and_json(lake: LakeLocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["query", "--tables", "--lake-root", lake.root]) == 0
    listed = capsys.readouterr().out
    assert "staging.customer" in listed and "curated.dim_customer" in listed and "landing.orders" in listed
    sql = "SELECT customer_id, segment FROM staging.customer ORDER BY 1"
    assert cli_main.main(["query", sql, "-o", "csv", "--lake-root", lake.root]) == 0
    assert capsys.readouterr().out.splitlines() == ["customer_id,segment", "1,a", "2,b", "3,c"]
    assert cli_main.main(["query", sql + " LIMIT 1", "-o", "json", "--lake-root", lake.root]) == 0
    assert json.loads(capsys.readouterr().out) == {"customer_id": 1, "segment": "a"}


def test_cdc_query_errors_are_one_line(lake: LakeLocation, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["query", "SELEC nonsense", "--lake-root", lake.root]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: query failed") and len(error.strip().splitlines()) == 1
    assert cli_main.main(["query", "--lake-root", lake.root]) == 2
    assert "give a SQL statement" in capsys.readouterr().err
