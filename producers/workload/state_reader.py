"""Reading the generator's starting view (``WorkloadState``) and its clock start from the source database.

Runs once when ``run`` (or an appending ``init``) starts. The pools are sorted, so the same database contents always
give the same state, whatever order PostgreSQL returns rows in.
Orders whose rows disagree with the life cycle (say ``paid`` without a captured payment, written by someone
else) are left out of the pools: the workload never touches what it does not understand.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from producers.workload.clock import from_db
from producers.workload.id_pool import IdPool
from producers.workload.records import (
    CUSTOMER,
    ORDER_ITEM,
    ORDERS,
    PAID,
    PAYMENT,
    PAYMENT_CAPTURED,
    PAYMENT_REFUNDED,
    PLACED,
    PRODUCT,
    SHIPMENT,
    SHIPMENT_IN_TRANSIT,
    SHIPPED,
)
from producers.workload.state import IdCounters, WorkloadState
from schemas.catalog import Catalog

Connection = psycopg.Connection[TupleRow]

_ID_COLUMNS = {
    CUSTOMER: "customer_id",
    PRODUCT: "product_id",
    ORDERS: "order_id",
    PAYMENT: "payment_id",
    SHIPMENT: "shipment_id",
}
_TIMESTAMP_COLUMNS = {
    CUSTOMER: ("updated_at",),
    PRODUCT: ("updated_at",),
    ORDERS: ("updated_at",),
    PAYMENT: ("paid_at",),
    SHIPMENT: ("shipped_at", "delivered_at"),
}


class _Tables:
    """Quoted, schema-qualified names of the catalog's retail tables for composing queries."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __getitem__(self, name: str) -> sql.Identifier:
        table = self._catalog.table(name)
        return sql.Identifier(table.source_schema, table.name)


def read_state(connection: Connection, catalog: Catalog) -> WorkloadState:
    """The ids that exist and where each open order stands, ready for ``WorkloadModel``."""
    tables = _Tables(catalog)
    state = WorkloadState(ids=read_counters(connection, catalog))
    state.customers = IdPool(_ids(connection, sql.SQL("SELECT customer_id FROM {}").format(tables[CUSTOMER])))
    state.customers_without_orders = IdPool(
        _ids(
            connection,
            sql.SQL(
                "SELECT c.customer_id FROM {} c "
                "WHERE NOT EXISTS (SELECT 1 FROM {} o WHERE o.customer_id = c.customer_id)"
            ).format(tables[CUSTOMER], tables[ORDERS]),
        )
    )
    _read_products(connection, tables, state)
    _read_orders(connection, tables, state)
    return state


def read_counters(connection: Connection, catalog: Catalog) -> IdCounters:
    """``max(id) + 1`` per table (1 for an empty table)."""
    tables = _Tables(catalog)
    counters = IdCounters()
    for table, column in _ID_COLUMNS.items():
        row = connection.execute(
            sql.SQL("SELECT coalesce(max({}), 0) + 1 FROM {}").format(sql.Identifier(column), tables[table])
        ).fetchone()
        setattr(counters, table, int(row[0]) if row else 1)
    return counters


def latest_timestamp(connection: Connection, catalog: Catalog) -> datetime | None:
    """The newest business timestamp in any table (aware UTC), where the simulated clock continues from."""
    tables = _Tables(catalog)
    parts = [
        sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), tables[table])
        for table, columns in _TIMESTAMP_COLUMNS.items()
        for column in columns
    ]
    row = connection.execute(
        sql.SQL("SELECT max(t) FROM ({}) AS latest(t)").format(sql.SQL(" UNION ALL ").join(parts))
    ).fetchone()
    return from_db(row[0]) if row and row[0] is not None else None


def _read_products(connection: Connection, tables: _Tables, state: WorkloadState) -> None:
    query = sql.SQL(
        "SELECT p.product_id, p.unit_price, p.active, "
        "EXISTS (SELECT 1 FROM {} i WHERE i.product_id = p.product_id) FROM {} p ORDER BY p.product_id"
    ).format(tables[ORDER_ITEM], tables[PRODUCT])
    active, ordered, deletable = [], [], []
    for product_id, unit_price, is_active, is_ordered in connection.execute(query):
        state.product_prices[product_id] = unit_price
        if is_active:
            active.append(product_id)
        if is_ordered:
            ordered.append(product_id)
        if not is_active and not is_ordered:
            deletable.append(product_id)
    state.active_products = IdPool(active)
    state.ordered_products = IdPool(ordered)
    state.deletable_products = IdPool(deletable)


def _read_orders(connection: Connection, tables: _Tables, state: WorkloadState) -> None:
    placed_query = sql.SQL("SELECT order_id, total_amount FROM {} WHERE status = %s ORDER BY order_id").format(
        tables[ORDERS]
    )
    for order_id, total in connection.execute(placed_query, (PLACED,)):
        state.order_totals[order_id] = total
    state.placed = IdPool(state.order_totals)

    paid_query = sql.SQL(
        "SELECT o.order_id, max(p.payment_id) FROM {} o JOIN {} p ON p.order_id = o.order_id "
        "WHERE o.status = %s AND p.status = %s GROUP BY o.order_id ORDER BY o.order_id"
    ).format(tables[ORDERS], tables[PAYMENT])
    state.payment_of = dict(connection.execute(paid_query, (PAID, PAYMENT_CAPTURED)).fetchall())
    state.paid = IdPool(state.payment_of)

    shipped_query = sql.SQL(
        "SELECT o.order_id, max(s.shipment_id) FROM {} o JOIN {} s ON s.order_id = o.order_id "
        "WHERE o.status = %s AND s.status = %s GROUP BY o.order_id ORDER BY o.order_id"
    ).format(tables[ORDERS], tables[SHIPMENT])
    state.shipment_of = dict(connection.execute(shipped_query, (SHIPPED, SHIPMENT_IN_TRANSIT)).fetchall())
    state.shipped = IdPool(state.shipment_of)

    state.refunded_payments = IdPool(
        _ids(
            connection,
            sql.SQL("SELECT payment_id FROM {} WHERE status = %s").format(tables[PAYMENT]),
            (PAYMENT_REFUNDED,),
        )
    )


def _ids(connection: Connection, query: sql.Composed, params: tuple[object, ...] = ()) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [row[0] for row in cursor]
