"""Helpers shared by the SCD and fact tests (test_scd*.py, test_facts*.py), plus checks of the helpers themselves.

A throw-away warehouse database per test module with the migrations applied (a minimal applier: every
``redshift/sql/V*.sql`` rendered for PostgreSQL, in order, each executed as one script), and a :class:`Warehouse`
that appends change events to the MV-named tables exactly as the JSON bridge writes them: Debezium envelopes built
by ``schemas.envelope`` and encoded by the bridge's own ``JsonEncoder`` (ADR 0010 decision 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from redshift.backfill import backfill_columns, backfill_table
from redshift.bridge.json_encoding import JsonEncoder
from redshift.dialect import render
from schemas import debezium
from schemas.catalog import Catalog, Column, Table, load_catalog
from schemas.envelope import PostgresPosition, build_envelope, postgres_source
from tests.support.sourcedb import isolated_database

SQL_DIRECTORY = Path(__file__).resolve().parents[3] / "redshift" / "sql"
CATALOG: Catalog = load_catalog()
OPEN = datetime(9999, 12, 31)
T0 = datetime(2026, 3, 1, 12, 0, 0)
EPOCH = datetime(1970, 1, 1)
Op = Literal["c", "u", "d", "r"]


def at(seconds: float) -> datetime:
    """A source commit time: ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def apply_migrations(dsn: str) -> None:
    """The minimal in-test applier (the runner replaces it): each V*.sql rendered for PostgreSQL, in V-order."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in sorted(SQL_DIRECTORY.glob("V*.sql")):
            conn.execute(render(path.read_text(encoding="utf-8"), "postgres", {}, name=path.name))


@contextmanager
def migrated_warehouse(stack_endpoints: Mapping[str, str], prefix: str) -> Iterator[str]:
    """A fresh database on the stack's PostgreSQL with every migration applied; dropped afterwards."""
    with isolated_database(stack_endpoints["WAREHOUSE_DSN"], prefix) as dsn:
        apply_migrations(dsn)
        yield dsn


# --------------------------------------------------------------------------------------------------------------
# Rows and change events


def debezium_value(column: Column, value: Any) -> Any:
    """A Python value in the encoding Debezium (and so the bridge's input) uses for the column's type."""
    if value is None:
        return None
    kind = column.column_type.kind
    if kind == "date":
        return (value - EPOCH.date()).days
    if kind == "timestamp":
        return (value - EPOCH) // timedelta(microseconds=1)
    if kind == "decimal":
        return Decimal(value)
    return value


def customer(customer_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "email": f"c{customer_id}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": None,
        "birth_date": date(1990, 5, 17),
        "segment": "consumer",
        "address_line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
        "loyalty_tier": None,
        "created_at": T0,
        "updated_at": T0,
    }
    return {**row, **values}


def product(product_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "product_id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Product {product_id}",
        "description": None,
        "category": "garden",
        "subcategory": None,
        "brand": None,
        "unit_price": Decimal("10.00"),
        "cost": Decimal("6.00"),
        "active": True,
        "created_at": T0,
        "updated_at": T0,
    }
    return {**row, **values}


def order(order_id: int, customer_id: int, order_ts: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": customer_id,
        "order_ts": order_ts,
        "status": "placed",
        "channel": "web",
        "currency": "USD",
        "total_amount": Decimal("0.00"),
        "discount_amount": Decimal("0.00"),
        "updated_at": order_ts,
    }
    return {**row, **values}


def order_item(order_id: int, line_no: int, product_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "line_no": line_no,
        "product_id": product_id,
        "quantity": 1,
        "unit_price": Decimal("10.00"),
        "discount": Decimal("0.00"),
    }
    return {**row, **values}


def payment(payment_id: int, order_id: int, method: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "payment_id": payment_id,
        "order_id": order_id,
        "method": method,
        "amount": Decimal("10.00"),
        "status": "captured",
        "paid_at": T0,
    }
    return {**row, **values}


def shipment(shipment_id: int, order_id: int, status: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "shipment_id": shipment_id,
        "order_id": order_id,
        "carrier": "UPS",
        "tracking_no": None,
        "status": status,
        "shipped_at": T0,
        "delivered_at": None,
    }
    return {**row, **values}


@dataclass(frozen=True)
class Change:
    """One row change at the source: operation, row image (the deleted row for ``d``), position and commit time."""

    table: str
    op: Op
    row: Mapping[str, Any]
    lsn: int
    ts: datetime
    tx_id: int = 1

    def envelope(self) -> dict[str, Any]:
        table = CATALOG.table(self.table)
        image = {column.name: debezium_value(column, self.row[column.name]) for column in table.columns}
        commit_us = (self.ts - EPOCH) // timedelta(microseconds=1)
        source = postgres_source(
            connector_name="retail",
            database="retail",
            schema="public",
            table=self.table,
            position=PostgresPosition(lsn=self.lsn, tx_id=self.tx_id, commit_ts_us=commit_us),
            snapshot="true" if self.op == "r" else "false",
        )
        before = image if self.op == "d" else None
        after = None if self.op == "d" else image
        return build_envelope(self.op, before=before, after=after, source=source, processed_at_us=commit_us + 1000)

    def payload(self) -> bytes:
        """The Kafka value the bridge writes to ``<topic>.json`` for this change."""
        return JsonEncoder(debezium.envelope_schema(CATALOG.table(self.table))).encode(self.envelope())

    def key(self) -> str:
        table = CATALOG.table(self.table)
        return json.dumps({name: self.row[name] for name in table.primary_key}, separators=(",", ":"))

    def landing_row(self, partition: int, offset: int) -> tuple[Any, ...]:
        """The change as a landing-zone row (what a backfill COPY loads), in backfill column order."""
        table = CATALOG.table(self.table)
        values = dict(self.row)
        values.update(
            _op=self.op,
            _source_ts=self.ts,
            _lsn=self.lsn,
            _tx_id=str(self.tx_id),
            _snapshot=self.op == "r",
            _schema_id=1,
            _kafka_topic=table.topic,
            _kafka_partition=partition,
            _kafka_offset=offset,
            _kafka_timestamp=self.ts,
            _ingested_at=self.ts,
        )
        return tuple(values[name] for name in backfill_columns(table))


# --------------------------------------------------------------------------------------------------------------
# The warehouse


@dataclass
class Warehouse:
    """A connection to a migrated warehouse plus the next offset of each MV partition it appended to."""

    conn: psycopg.Connection[Any]
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def open(cls, dsn: str) -> Iterator[Warehouse]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            warehouse = cls(conn)
            warehouse.reset()
            yield warehouse

    def reset(self) -> None:
        """Empty every staging and analytics table (dim_date keeps its generated days)."""
        rows = self.conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'analytics') AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, name in rows:
            if (schema, name) != ("analytics", "dim_date"):
                self.conn.execute(f'DELETE FROM "{schema}"."{name}"')
        self.offsets.clear()

    def publish(self, change: Change, *, partition: int | None = None) -> int:
        """Append the change to ``staging.mv_<table>`` as the refresher would; returns its offset."""
        partition = change.row[CATALOG.table(change.table).primary_key[0]] % 2 if partition is None else partition
        return self.append(change.table, change.payload(), partition=partition, key=change.key())

    def append(self, table: str, payload: bytes | None, *, partition: int = 0, key: str | None = None) -> int:
        offset = self.offsets.get((table, partition), 0)
        self.offsets[(table, partition)] = offset + 1
        self.conn.execute(
            f"INSERT INTO staging.mv_{table} "
            "(kafka_partition, kafka_offset, kafka_timestamp_type, kafka_timestamp, kafka_key, payload, refresh_time) "
            "VALUES (%s, %s, 'C', %s, %s, %s, %s)",
            (partition, offset, T0, key, None if payload is None else payload.decode("utf-8"), T0),
        )
        return offset

    def publish_all(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self.publish(change)

    def backfill(self, rows: Sequence[tuple[Any, ...]], table: str) -> None:
        """Insert landing-shaped rows into ``staging.<table>_backfill`` (what COPY or the Python loader does)."""
        catalog_table = CATALOG.table(table)
        columns = backfill_columns(catalog_table)
        placeholders = ", ".join(["%s"] * len(columns))
        with self.conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {backfill_table(catalog_table)} ({', '.join(columns)}) VALUES ({placeholders})",
                rows,
            )

    def call(self, procedure: str = "staging.run_all") -> None:
        self.conn.execute(f"CALL {procedure}()")

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(sql, params).fetchall()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every warehouse table (for "a re-run changes nothing")."""
        rows = self.conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'analytics') AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        return {name: sorted(self.conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for (name,) in rows}


def versions(warehouse: Warehouse, dimension: str, key: int, *columns: str) -> list[tuple[Any, ...]]:
    """``(columns..., valid_from, valid_to, is_current, is_deleted, version_lsn)`` of one key, oldest first."""
    natural = "customer_id" if dimension == "dim_customer" else "product_id"
    selected = ", ".join([*columns, "valid_from", "valid_to", "is_current", "is_deleted", "version_lsn"])
    rows = warehouse.conn.execute(
        f"SELECT {selected} FROM analytics.{dimension} WHERE {natural} = %s ORDER BY valid_from",
        (key,),
    ).fetchall()
    return [tuple(row) for row in rows]


def assert_well_formed(warehouse: Warehouse, dimension: str) -> None:
    """Per key: exactly one current row, the last; ranges non-empty, contiguous, ending open."""
    natural = "customer_id" if dimension == "dim_customer" else "product_id"
    rows = warehouse.conn.execute(
        f"SELECT {natural}, valid_from, valid_to, is_current FROM analytics.{dimension} ORDER BY {natural}, valid_from"
    ).fetchall()
    by_key: dict[int, list[tuple[datetime, datetime, bool]]] = {}
    for key, valid_from, valid_to, is_current in rows:
        by_key.setdefault(key, []).append((valid_from, valid_to, is_current))
    for key, ranges in by_key.items():
        assert [current for _, _, current in ranges] == [False] * (len(ranges) - 1) + [True], (key, ranges)
        assert ranges[-1][1] == OPEN, (key, ranges)
        for (start, end, _), following in zip(ranges, [*ranges[1:], None], strict=True):
            assert start < end, (key, ranges)
            if following is not None:
                assert end == following[0], (key, ranges)


def table_of(name: str) -> Table:
    return CATALOG.table(name)


# --------------------------------------------------------------------------------------------------------------
# Checks of the helpers


def test_payloads_are_what_the_bridge_writes() -> None:
    change = Change("product", "u", product(7, unit_price=Decimal("12.5"), created_at=at(1.25)), lsn=42, ts=at(2))
    envelope = json.loads(change.payload())
    assert list(envelope) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
    assert envelope["op"] == "u" and envelope["before"] is None
    assert envelope["after"]["unit_price"] == "12.50"
    assert envelope["after"]["created_at"] == "2026-03-01T12:00:01.250000"
    assert envelope["source"]["lsn"] == 42 and envelope["source"]["txId"] == 1
    assert envelope["source"]["ts_us"] == (at(2) - EPOCH) // timedelta(microseconds=1)
    deleted = json.loads(Change("customer", "d", customer(3), lsn=43, ts=at(3)).payload())
    assert deleted["after"] is None and deleted["before"]["birth_date"] == "1990-05-17"
    assert Change("customer", "d", customer(3), lsn=43, ts=at(3)).key() == '{"customer_id":3}'
