"""fact_order_items: order lines resolve to the dimension versions valid at ``orders.order_ts`` and are resolved
again when versions change; the small SCD1 dimensions; ``staging.run_all()`` end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.redshift.test_scd_support import (
    Change,
    Warehouse,
    at,
    customer,
    migrated_warehouse,
    order,
    order_item,
    payment,
    product,
    shipment,
)


@pytest.fixture(scope="module")
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with migrated_warehouse(stack_endpoints, "facts") as dsn:
        yield dsn


@pytest.fixture
def wh(warehouse_dsn: str) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_dsn) as warehouse:
        yield warehouse


def change(table: str, op: str, row: dict[str, Any], lsn: int, seconds: float) -> Change:
    return Change(table, op, row, lsn=lsn, ts=at(seconds))  # type: ignore[arg-type]


def lines(wh: Warehouse) -> list[dict[str, Any]]:
    """Each fact line with the dimension attributes its keys point to."""
    return wh.query(
        "SELECT f.order_id, f.line_no, f.order_item_key, c.segment, c.version_lsn AS customer_version, "
        "p.unit_price AS list_price, p.version_lsn AS product_version, d.full_date, m.method_name, m.payment_type, "
        "s.status_name, s.status_category, f.order_status, f.quantity, f.unit_price, f.discount, f.line_total "
        "FROM analytics.fact_order_items f "
        "LEFT JOIN analytics.dim_customer c ON c.customer_key = f.customer_key "
        "LEFT JOIN analytics.dim_product p ON p.product_key = f.product_key "
        "LEFT JOIN analytics.dim_date d ON d.date_key = f.order_date_key "
        "LEFT JOIN analytics.dim_payment_method m ON m.payment_method_key = f.payment_method_key "
        "LEFT JOIN analytics.dim_shipment_status s ON s.shipment_status_key = f.shipment_status_key "
        "ORDER BY f.order_id, f.line_no"
    )


def customer_versions(wh: Warehouse) -> None:
    """Customer 1: consumer from t=1 (lsn 100), enterprise from t=30 (lsn 300)."""
    wh.publish(change("customer", "c", customer(1, segment="consumer"), 100, 1))
    wh.publish(change("customer", "u", customer(1, segment="enterprise"), 300, 30))


def product_versions(wh: Warehouse) -> None:
    """Product 7: 10.00 from t=1 (lsn 110), 12.00 from t=30 (lsn 310)."""
    wh.publish(change("product", "c", product(7, unit_price=Decimal("10.00")), 110, 1))
    wh.publish(change("product", "u", product(7, unit_price=Decimal("12.00")), 310, 30))


def test_order_lines_resolve_to_the_versions_valid_at_order_ts(wh: Warehouse) -> None:
    customer_versions(wh)
    product_versions(wh)
    for order_id, seconds, price in ((1, 10, "10.00"), (2, 40, "12.00")):
        lsn = 1000 * order_id
        wh.publish(change("orders", "c", order(order_id, 1, at(seconds)), lsn, seconds))
        item = order_item(order_id, 1, 7, quantity=3, unit_price=Decimal(price), discount=Decimal("1.50"))
        wh.publish(change("order_item", "c", item, lsn + 1, seconds))
        wh.publish(change("payment", "c", payment(order_id, order_id, "paypal"), lsn + 2, seconds + 1))
    wh.publish(change("shipment", "c", shipment(1, 1, "in_transit"), 1003, 12))
    wh.call()
    rows = lines(wh)
    assert [
        (r["order_id"], r["segment"], r["customer_version"], r["list_price"], r["product_version"]) for r in rows
    ] == [
        (1, "consumer", 100, Decimal("10.00"), 110),
        (2, "enterprise", 300, Decimal("12.00"), 310),
    ]
    first, second = rows
    assert first["full_date"] == at(10).date()
    assert (first["method_name"], first["payment_type"]) == ("paypal", "digital_wallet")
    assert (first["status_name"], first["status_category"]) == ("in_transit", "in_progress")
    assert second["status_name"] is None  # not shipped yet
    assert (first["quantity"], first["unit_price"], first["discount"], first["line_total"]) == (
        3,
        Decimal("10.00"),
        Decimal("1.50"),
        Decimal("28.50"),
    )


def test_a_late_customer_change_re_resolves_the_lines(wh: Warehouse) -> None:
    wh.publish(change("customer", "c", customer(1, segment="consumer"), 100, 1))
    product_versions(wh)
    wh.publish(change("orders", "c", order(1, 1, at(20)), 1000, 20))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 20))
    wh.call()
    assert [(r["segment"], r["customer_version"]) for r in lines(wh)] == [("consumer", 100)]
    key = lines(wh)[0]["order_item_key"]
    # committed at t=10, before the order, but it arrives only now
    wh.publish(change("customer", "u", customer(1, segment="enterprise"), 200, 10))
    wh.call()
    rows = lines(wh)
    assert [(r["segment"], r["customer_version"]) for r in rows] == [("enterprise", 200)]
    assert rows[0]["order_item_key"] == key  # the line was updated, not replaced


def test_a_vanished_version_is_re_resolved(wh: Warehouse) -> None:
    customer_versions(wh)  # consumer at t=1, enterprise at t=30
    wh.publish(change("orders", "c", order(1, 1, at(35)), 1000, 35))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 35))
    wh.call()
    assert [r["customer_version"] for r in lines(wh)] == [300]
    wh.publish(change("customer", "u", customer(1, segment="enterprise"), 250, 25))  # enterprise began earlier
    wh.call()
    assert [r["customer_version"] for r in lines(wh)] == [250]
    assert wh.query("SELECT COUNT(*) AS n FROM analytics.dim_customer WHERE version_lsn = 300") == [{"n": 0}]


def test_an_order_before_its_customer_is_known_gets_the_key_when_the_customer_arrives(wh: Warehouse) -> None:
    wh.publish(change("orders", "c", order(1, 1, at(20)), 1000, 20))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 20))
    wh.call()
    assert [(r["segment"], r["list_price"]) for r in lines(wh)] == [(None, None)]
    customer_versions(wh)
    product_versions(wh)
    wh.call()
    assert [(r["segment"], r["list_price"]) for r in lines(wh)] == [("consumer", Decimal("10.00"))]


def test_an_order_older_than_the_first_known_version_resolves_to_it(wh: Warehouse) -> None:
    customer_versions(wh)  # the warehouse first saw customer 1 at t=1 (a snapshot, say)
    product_versions(wh)
    wh.publish(change("orders", "c", order(1, 1, datetime(2020, 1, 1)), 1000, 40))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 40))
    wh.call()
    (row,) = lines(wh)
    assert (row["customer_version"], row["product_version"], row["full_date"]) == (
        100,
        110,
        datetime(2020, 1, 1).date(),
    )


def test_an_order_date_outside_dim_date_extends_it(wh: Warehouse) -> None:
    wh.publish(change("orders", "c", order(1, 1, datetime(2041, 7, 4, 9, 30)), 1000, 40))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 40))
    wh.call()
    assert lines(wh)[0]["full_date"] == datetime(2041, 7, 4).date()
    (day,) = wh.query("SELECT * FROM analytics.dim_date WHERE date_key = 20410704")
    assert (day["day_name"], day["day_of_week"], day["is_weekend"], day["calendar_quarter"]) == (
        "Thursday",
        4,
        False,
        3,
    )


def test_deleted_items_and_orders_remove_their_lines(wh: Warehouse) -> None:
    wh.publish(change("orders", "c", order(1, 1, at(10)), 1000, 10))
    wh.publish(change("orders", "c", order(2, 1, at(10)), 1010, 10))
    for line_no in (1, 2):
        wh.publish(change("order_item", "c", order_item(1, line_no, 7), 1000 + line_no, 10))
        wh.publish(change("order_item", "c", order_item(2, line_no, 7), 1010 + line_no, 10))
    wh.call()
    assert [(r["order_id"], r["line_no"]) for r in lines(wh)] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    wh.publish(change("order_item", "d", order_item(1, 2, 7), 2000, 20))
    wh.publish(change("orders", "d", order(2, 1, at(10)), 2001, 20))
    wh.call()
    assert [(r["order_id"], r["line_no"]) for r in lines(wh)] == [(1, 1)]


def test_out_of_order_and_replayed_source_changes_keep_the_latest_state(wh: Warehouse) -> None:
    created = change("orders", "c", order(1, 1, at(10), status="placed"), 1000, 10)
    paid = change("orders", "u", order(1, 1, at(10), status="paid"), 1100, 11)
    shipped = change("orders", "u", order(1, 1, at(10), status="shipped"), 1200, 12)
    wh.publish_all([shipped, created])
    wh.publish(change("order_item", "c", order_item(1, 1, 7, quantity=2), 1001, 10))
    wh.publish(change("order_item", "u", order_item(1, 1, 7, quantity=5), 1101, 11))
    wh.call()
    assert [(r["order_status"], r["quantity"]) for r in lines(wh)] == [("shipped", 5)]
    wh.publish_all([paid, created])  # late and replayed: older than the state
    wh.publish(change("order_item", "c", order_item(1, 1, 7, quantity=2), 1001, 10))
    wh.call()
    assert [(r["order_status"], r["quantity"]) for r in lines(wh)] == [("shipped", 5)]


def test_a_payment_or_shipment_arriving_later_updates_the_line(wh: Warehouse) -> None:
    wh.publish(change("orders", "c", order(1, 1, at(10)), 1000, 10))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 10))
    wh.call()
    assert [(r["method_name"], r["status_name"]) for r in lines(wh)] == [(None, None)]
    wh.publish(change("payment", "c", payment(9, 1, "gift_card"), 1100, 11))
    wh.publish(change("shipment", "c", shipment(4, 1, "in_transit"), 1200, 12))
    wh.call()
    assert [(r["method_name"], r["status_name"]) for r in lines(wh)] == [("gift_card", "in_transit")]
    wh.publish(change("shipment", "u", shipment(4, 1, "delivered"), 1300, 13))
    wh.call()
    assert [(r["status_name"], r["status_category"]) for r in lines(wh)] == [("delivered", "complete")]


def test_small_dimensions_are_scd1_with_stable_keys(wh: Warehouse) -> None:
    for payment_id, method in enumerate(("card", "paypal", "card", "bank_transfer", "crypto"), start=1):
        wh.publish(change("payment", "c", payment(payment_id, payment_id, method), 100 + payment_id, payment_id))
    wh.call()
    methods = wh.query("SELECT method_name, payment_type, payment_method_key FROM analytics.dim_payment_method")
    assert {row["method_name"]: row["payment_type"] for row in methods} == {
        "card": "card",
        "paypal": "digital_wallet",
        "bank_transfer": "bank",
        "crypto": "other",
    }
    before = wh.snapshot()
    wh.publish(change("payment", "u", payment(1, 1, "card", status="refunded"), 200, 10))
    wh.call()
    assert wh.snapshot()["analytics.dim_payment_method"] == before["analytics.dim_payment_method"]


def test_run_all_twice_changes_nothing(wh: Warehouse) -> None:
    customer_versions(wh)
    product_versions(wh)
    wh.publish(change("orders", "c", order(1, 1, at(10)), 1000, 10))
    wh.publish(change("order_item", "c", order_item(1, 1, 7), 1001, 10))
    wh.publish(change("payment", "c", payment(1, 1, "card"), 1002, 10))
    wh.publish(change("shipment", "c", shipment(1, 1, "in_transit"), 1003, 10))
    wh.call()
    before = wh.snapshot()
    assert len(before["analytics.fact_order_items"]) == 1
    assert all(not before[f"staging.{name}_pending"] for name in ("orders", "order_item", "payment", "shipment"))
    assert not before["staging.dim_customer_touched"] and not before["staging.dim_product_touched"]
    wh.call()
    assert wh.snapshot() == before
