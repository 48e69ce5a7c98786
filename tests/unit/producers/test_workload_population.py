"""The initial population (pure generation): sizes, ids continuing after existing ones, a consistent history."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from producers.workload import records
from producers.workload.id_pool import IdPool
from producers.workload.population import OrderBatch, PopulationGenerator, PopulationSize
from producers.workload.state import IdCounters

AS_OF = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def generate(seed: int, customers: int, products: int, orders: int) -> tuple[list[records.Row], ...]:
    generator = PopulationGenerator(seed, AS_OF, IdCounters())
    customer_rows = list(generator.customers(customers))
    product_rows = list(generator.products(products))
    merged = OrderBatch()
    for batch in generator.orders(orders, batch_size=97):
        merged.orders += batch.orders
        merged.order_items += batch.order_items
        merged.payments += batch.payments
        merged.shipments += batch.shipments
    return customer_rows, product_rows, merged.orders, merged.order_items, merged.payments, merged.shipments


def test_sizes_ids_and_determinism() -> None:
    first = generate(11, 300, 40, 1000)
    assert first == generate(11, 300, 40, 1000)
    assert first != generate(12, 300, 40, 1000)
    customers, products, orders, items, _payments, _shipments = first
    assert (len(customers), len(products), len(orders)) == (300, 40, 1000)
    assert [row[0] for row in customers] == list(range(1, 301))
    assert [row[0] for row in orders] == list(range(1, 1001))
    assert 1000 <= len(items) <= 10_000


def test_history_is_consistent_with_the_order_life_cycle() -> None:
    _customers, products, orders, items, payments, shipments = generate(3, 200, 50, 3000)
    columns = records.COLUMNS["orders"]
    status = {row[0]: row[columns.index("status")] for row in orders}
    order_ts = {row[0]: row[columns.index("order_ts")] for row in orders}
    assert list(order_ts.values()) == sorted(order_ts.values())
    assert min(order_ts.values()) >= (AS_OF - timedelta(days=366)).replace(tzinfo=None)
    assert max(order_ts.values()) <= AS_OF.replace(tzinfo=None)
    counts = Counter(status.values())
    assert counts["delivered"] > 0.8 * len(orders) and counts["cancelled"] > 0
    payment_by_order = {row[1]: row[4] for row in payments}
    shipment_by_order = {row[1]: row[4] for row in shipments}
    assert len(payment_by_order) == len(payments) and len(shipment_by_order) == len(shipments)
    for order_id, order_status in status.items():
        if order_status == "placed":
            assert order_id not in payment_by_order and order_id not in shipment_by_order
        elif order_status == "paid":
            assert payment_by_order[order_id] == "captured" and order_id not in shipment_by_order
        elif order_status in ("shipped", "delivered"):
            assert payment_by_order[order_id] == "captured"
            assert shipment_by_order[order_id] == ("in_transit" if order_status == "shipped" else "delivered")
        else:
            assert payment_by_order.get(order_id, "refunded") == "refunded" and order_id not in shipment_by_order
    product_ids = {row[0] for row in products}
    assert {item[2] for item in items} <= product_ids
    totals = {row[0]: row[columns.index("total_amount")] for row in orders}
    for order_id, amount in ((row[1], row[3]) for row in payments):
        assert amount == totals[order_id] and isinstance(amount, Decimal)


def test_appending_continues_after_existing_ids_and_uses_existing_rows() -> None:
    ids = IdCounters(customer=501, product=31, orders=1001, payment=900, shipment=800)
    generator = PopulationGenerator(
        1, AS_OF, ids, customers=IdPool(range(1, 501)), product_prices={n: Decimal("9.99") for n in range(1, 31)}
    )
    new_customers = list(generator.customers(5))
    batches = list(generator.orders(50))
    assert [row[0] for row in new_customers] == [501, 502, 503, 504, 505]
    assert batches[0].orders[0][0] == 1001
    assert {row[1] for batch in batches for row in batch.orders} <= set(range(1, 506))
    assert {row[2] for batch in batches for row in batch.order_items} <= set(range(1, 31))
    assert min(row[0] for batch in batches for row in batch.payments) == 900


def test_orders_without_customers_or_products_and_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one customer and one product"):
        list(PopulationGenerator(1, AS_OF, IdCounters()).orders(1))
    assert list(PopulationGenerator(1, AS_OF, IdCounters()).orders(0)) == []
    with pytest.raises(ValueError, match="negative"):
        PopulationSize(customers=-1)
