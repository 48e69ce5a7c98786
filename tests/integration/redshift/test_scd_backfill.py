"""Backfill on PostgreSQL: landing Parquet (the streaming job's shape) → staging.<table>_backfill → the same SCD
procedures as the stream, with the overlap between the two ignored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redshift.backfill import backfill_columns, clear_backfill_sql, load_backfill, rows_from_landing
from schemas import debezium
from streaming.landing_schema import landing_schema
from tests.integration.redshift.test_scd_support import (
    OPEN,
    Change,
    Warehouse,
    at,
    customer,
    migrated_warehouse,
    table_of,
    versions,
)

CUSTOMER = table_of("customer")


@pytest.fixture(scope="module")
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with migrated_warehouse(stack_endpoints, "backfill") as dsn:
        yield dsn


@pytest.fixture
def wh(warehouse_dsn: str) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_dsn) as warehouse:
        yield warehouse


def write_landing_file(path: Path, changes: list[Change], *, drop: tuple[str, ...] = ()) -> str:
    """A landing Parquet file as the streaming job writes it (file columns: row + metadata, tz-aware times)."""
    schema = landing_schema(debezium.envelope_schema(CUSTOMER))
    fields = [pa.field(column.name, column.arrow_type) for column in (*schema.row, *schema.metadata)]
    rows = [dict(zip(backfill_columns(CUSTOMER), c.landing_row(0, i), strict=True)) for i, c in enumerate(changes)]
    for row in rows:
        for name in ("_source_ts", "_kafka_timestamp", "_ingested_at"):
            row[name] = row[name].replace(tzinfo=UTC)
    kept = [field for field in fields if field.name not in drop]
    table = pa.Table.from_pylist([{f.name: row[f.name] for f in kept} for row in rows], schema=pa.schema(kept))
    pq.write_table(table, path)
    return str(path)


def test_landing_files_load_and_feed_the_scd_procedure(wh: Warehouse, tmp_path: Path) -> None:
    history = [
        Change("customer", "r", customer(1, segment="consumer"), lsn=100, ts=at(1)),
        Change("customer", "u", customer(1, segment="enterprise"), lsn=200, ts=at(2)),
        Change("customer", "c", customer(2), lsn=150, ts=at(1.5)),
    ]
    # an older file written before loyalty_tier existed at the source: the column reads as NULL
    older = write_landing_file(tmp_path / "a.parquet", history[:1], drop=("loyalty_tier",))
    newer = write_landing_file(tmp_path / "b.parquet", history[1:])
    rows = list(rows_from_landing(CUSTOMER, [older, newer], batch_rows=1))
    assert len(rows) == 3 and rows[0][backfill_columns(CUSTOMER).index("_source_ts")] == at(1)  # naive UTC
    with wh.conn.transaction():
        assert load_backfill(wh.conn, CUSTOMER, rows) == 3
    wh.publish(history[1])  # the stream overlaps the backfill
    wh.publish(Change("customer", "u", customer(1, segment="consumer", loyalty_tier="gold"), lsn=300, ts=at(3)))
    wh.call()
    assert versions(wh, "dim_customer", 1, "segment", "loyalty_tier") == [
        ("consumer", None, at(1), at(2), False, False, 100),
        ("enterprise", None, at(2), at(3), False, False, 200),
        ("consumer", "gold", at(3), OPEN, True, False, 300),
    ]
    assert versions(wh, "dim_customer", 2, "segment") == [("consumer", at(1.5), OPEN, True, False, 150)]
    before = wh.snapshot()
    wh.conn.execute(clear_backfill_sql(CUSTOMER))
    wh.call()
    after = wh.snapshot()
    assert after["staging.customer_backfill"] == []
    assert {k: v for k, v in after.items() if k != "staging.customer_backfill"} == {
        k: v for k, v in before.items() if k != "staging.customer_backfill"
    }
