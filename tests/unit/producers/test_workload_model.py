"""The pure workload model: reproducible, a realistic mix, money as Decimal, and never violating referential sense.

The model's transactions are applied to a tiny in-memory database that refuses duplicate keys and updates or
deletes of missing rows, then the result is checked like a foreign-key-aware DBA would.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from producers.workload import records
from producers.workload.clock import SimulatedClock
from producers.workload.id_pool import IdPool
from producers.workload.model import ACTION_NAMES, WorkloadModel
from producers.workload.state import IdCounters, WorkloadState
from producers.workload.statements import StatementBuilder, Transaction
from schemas.catalog import Catalog, load_catalog

START = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
MONEY_COLUMNS = {"unit_price", "cost", "total_amount", "discount_amount", "discount", "amount"}


class FakeDatabase:
    """Rows per table keyed by primary key; applies Statements the way PostgreSQL would (or fails the test)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in catalog.table_names}

    def apply(self, transaction: Transaction) -> None:
        for statement in transaction.statements:
            table = self.catalog.table(statement.table)
            rows = self.tables[statement.table]
            if statement.operation == "insert":
                width = len(statement.columns)
                assert len(statement.params) == width * statement.rows
                for start in range(0, len(statement.params), width):
                    row = dict(zip(statement.columns, statement.params[start : start + width], strict=True))
                    key = tuple(row[column] for column in table.primary_key)
                    assert key not in rows, f"duplicate key {key} in {statement.table}"
                    rows[key] = row
            elif statement.operation == "update":
                width = len(statement.columns)
                key = tuple(statement.params[width:])
                assert key in rows, f"update of missing {statement.table} {key} by {transaction.action}"
                rows[key].update(zip(statement.columns, statement.params[:width], strict=True))
            else:
                key = tuple(statement.params)
                assert key in rows, f"delete of missing {statement.table} {key} by {transaction.action}"
                del rows[key]

    def column(self, table: str, column: str) -> set[Any]:
        return {row[column] for row in self.tables[table].values()}


def check_referential_sense(db: FakeDatabase) -> None:
    """Every reference points at an existing row and every order's rows agree with its status and amounts."""
    customers, products = db.column("customer", "customer_id"), db.column("product", "product_id")
    orders = db.tables["orders"]
    assert db.column("orders", "customer_id") <= customers
    assert db.column("order_item", "product_id") <= products
    for table in ("order_item", "payment", "shipment"):
        assert db.column(table, "order_id") <= db.column("orders", "order_id"), table
    items: dict[int, list[dict[str, Any]]] = {}
    for item in db.tables["order_item"].values():
        items.setdefault(item["order_id"], []).append(item)
    payments: dict[int, list[str]] = {}
    for payment in db.tables["payment"].values():
        payments.setdefault(payment["order_id"], []).append(payment["status"])
    shipments: dict[int, list[str]] = {}
    for shipment in db.tables["shipment"].values():
        shipments.setdefault(shipment["order_id"], []).append(shipment["status"])
    for (order_id,), order in orders.items():
        lines = items.get(order_id, [])
        assert 1 <= len(lines) <= 10
        assert sorted(line["line_no"] for line in lines) == list(range(1, len(lines) + 1))
        assert len({line["product_id"] for line in lines}) == len(lines)
        discount = sum((line["discount"] for line in lines), Decimal(0))
        gross = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0))
        assert order["discount_amount"] == discount and order["total_amount"] == gross - discount
        expected_payments = {
            "placed": [],
            "paid": ["captured"],
            "shipped": ["captured"],
            "delivered": ["captured"],
        }.get(order["status"])
        if expected_payments is not None:
            assert payments.get(order_id, []) == expected_payments, order
        else:
            assert order["status"] == "cancelled" and payments.get(order_id, []) in ([], ["refunded"])
        expected_shipments = {"shipped": ["in_transit"], "delivered": ["delivered"]}.get(order["status"], [])
        assert shipments.get(order_id, []) == expected_shipments, order
    for payment in db.tables["payment"].values():
        if payment["status"] == "refunded":
            assert orders[payment["order_id"],]["status"] == "cancelled"


def make_model(seed: int, catalog: Catalog, state: WorkloadState | None = None) -> WorkloadModel:
    return WorkloadModel(StatementBuilder(catalog), state or WorkloadState(), seed, SimulatedClock(START))


def rendered(transactions: list[Transaction]) -> list[tuple[str, str, tuple[Any, ...]]]:
    return [(t.action, s.text(), s.params) for t in transactions for s in t.statements]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def long_run(catalog: Catalog) -> tuple[FakeDatabase, list[Transaction]]:
    """20,000 row changes from an empty database, applied to the fake."""
    db = FakeDatabase(catalog)
    transactions = list(make_model(42, catalog).transactions(20_000))
    for transaction in transactions:
        db.apply(transaction)
    return db, transactions


def test_same_seed_same_statements_different_seed_different(catalog: Catalog) -> None:
    first = rendered(list(make_model(7, catalog).transactions(3000)))
    second = rendered(list(make_model(7, catalog).transactions(3000)))
    other = rendered(list(make_model(8, catalog).transactions(3000)))
    assert first == second
    assert first != other


def test_transactions_make_exactly_the_requested_changes(catalog: Catalog) -> None:
    for wanted in (1, 2, 3, 11, 500):
        transactions = list(make_model(wanted, catalog).transactions(wanted))
        assert sum(t.changes for t in transactions) == wanted
        assert sum(s.rows for t in transactions for s in t.statements) == wanted


def test_every_action_appears_and_orders_dominate(long_run: tuple[FakeDatabase, list[Transaction]]) -> None:
    _, transactions = long_run
    by_action = Counter(t.action for t in transactions)
    assert set(by_action) == set(ACTION_NAMES)
    order_flow = sum(by_action[a] for a in ("order_placed", "order_paid", "order_shipped", "order_delivered"))
    assert order_flow > 0.6 * len(transactions)
    operations = Counter(s.operation for t in transactions for s in t.statements)
    assert operations["insert"] > operations["update"] > operations["delete"] > 0
    placed = [t for t in transactions if t.action == "order_placed"]
    assert all([s.table for s in t.statements] == ["orders", "order_item"] for t in placed)
    assert {t.statements[1].rows for t in placed} == set(range(1, 11))  # 1-10 items, one multi-row INSERT
    paid = [t for t in transactions if t.action == "order_paid"]
    assert all(
        [(s.table, s.operation) for s in t.statements] == [("payment", "insert"), ("orders", "update")] for t in paid
    )


def test_referential_sense_holds_after_a_long_run(long_run: tuple[FakeDatabase, list[Transaction]]) -> None:
    db, _ = long_run
    assert len(db.tables["orders"]) > 1000
    check_referential_sense(db)


def test_money_is_decimal_with_two_places_and_timestamps_are_naive_utc(
    long_run: tuple[FakeDatabase, list[Transaction]],
) -> None:
    _, transactions = long_run
    for transaction in transactions:
        for statement in transaction.statements:
            assert not any(isinstance(value, float) for value in statement.params)
            assert all(value.tzinfo is None for value in statement.params if isinstance(value, datetime))
            if statement.operation == "insert":
                width = len(statement.columns)
                for index, value in enumerate(statement.params):
                    if statement.columns[index % width] in MONEY_COLUMNS and value is not None:
                        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2, (statement.table, value)
            if statement.operation == "update":
                for column, value in zip(statement.columns, statement.params, strict=False):
                    if column in MONEY_COLUMNS:
                        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2


def test_business_time_moves_forward_from_the_clock_start(long_run: tuple[FakeDatabase, list[Transaction]]) -> None:
    db, _ = long_run
    stamps = [row["order_ts"] for row in db.tables["orders"].values()]
    assert min(stamps) >= START.replace(tzinfo=None)
    assert max(stamps) <= (START + timedelta(milliseconds=20_000)).replace(tzinfo=None)
    in_order = [row["order_ts"] for _, row in sorted(db.tables["orders"].items())]
    assert in_order == sorted(in_order)  # ids rise with time


def test_items_use_active_products_at_their_current_price(catalog: Catalog) -> None:
    state = WorkloadState(
        ids=IdCounters(customer=4, product=4, orders=1, payment=1, shipment=1),
        customers=IdPool([1, 2, 3]),
        customers_without_orders=IdPool([1, 2, 3]),
        product_prices={1: Decimal("10.00"), 2: Decimal("20.00"), 3: Decimal("30.00")},
        active_products=IdPool([2, 3]),
        deletable_products=IdPool([1]),
    )
    model = make_model(1, catalog, state)
    seen_products: set[int] = set()
    prices = dict(state.product_prices)
    for transaction in model.transactions(400):
        for statement in transaction.statements:
            if statement.table == "product" and statement.operation == "update" and "unit_price" in statement.columns:
                prices[statement.params[-1]] = statement.params[statement.columns.index("unit_price")]
            if statement.table == "product" and statement.operation == "insert":
                prices[statement.params[0]] = statement.params[records.COLUMNS["product"].index("unit_price")]
            if statement.table == "order_item":
                for start in range(0, len(statement.params), 6):
                    _, _, product_id, _, unit_price, _ = statement.params[start : start + 6]
                    assert product_id != 1  # inactive
                    assert unit_price == prices[product_id]
                    seen_products.add(product_id)
    assert {2, 3} <= seen_products


def test_deletes_only_touch_rows_nothing_references(catalog: Catalog) -> None:
    state = WorkloadState(
        ids=IdCounters(customer=3, product=13, orders=2, payment=1, shipment=1),
        customers=IdPool([1, 2]),
        customers_without_orders=IdPool([2]),
        product_prices={n: Decimal("5.00") for n in range(1, 13)},
        active_products=IdPool(range(1, 12)),
        ordered_products=IdPool([1]),
        deletable_products=IdPool([12]),
    )
    model = make_model(5, catalog, state)
    for transaction in model.transactions(3000):
        for statement in transaction.statements:
            if statement.operation != "delete":
                continue
            if statement.table == "customer":
                assert statement.params[0] not in {1}  # customer 1 has an order
            if statement.table == "product":
                assert statement.params[0] not in state.ordered_products


def test_a_change_budget_below_one_is_refused(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="budget"):
        make_model(1, catalog).next_transaction(0)
