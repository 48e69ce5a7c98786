"""Whole rows of the six retail tables, as tuples in a fixed column order shared by COPY and INSERT.

The bulk load and the transactional workload build rows with the same functions, so a customer signed up during
``run`` looks like one from ``init``. Timestamps go in timezone-aware and come out as naive UTC (``clock.to_db``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from producers.workload import values, vocabulary
from producers.workload.clock import to_db

Row = tuple[Any, ...]

CUSTOMER: Final = "customer"
PRODUCT: Final = "product"
ORDERS: Final = "orders"
ORDER_ITEM: Final = "order_item"
PAYMENT: Final = "payment"
SHIPMENT: Final = "shipment"

# The columns the workload fills, per table, in the order the row functions below produce them.
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    CUSTOMER: (
        "customer_id", "email", "first_name", "last_name", "phone", "birth_date", "segment", "address_line1",
        "city", "state", "postal_code", "country", "loyalty_tier", "created_at", "updated_at",
    ),
    PRODUCT: (
        "product_id", "sku", "name", "description", "category", "subcategory", "brand", "unit_price", "cost",
        "active", "created_at", "updated_at",
    ),
    ORDERS: (
        "order_id", "customer_id", "order_ts", "status", "channel", "currency", "total_amount", "discount_amount",
        "updated_at",
    ),
    ORDER_ITEM: ("order_id", "line_no", "product_id", "quantity", "unit_price", "discount"),
    PAYMENT: ("payment_id", "order_id", "method", "amount", "status", "paid_at"),
    SHIPMENT: ("shipment_id", "order_id", "carrier", "tracking_no", "status", "shipped_at", "delivered_at"),
}  # fmt: skip
TABLES: Final = tuple(COLUMNS)

ADDRESS_COLUMNS: Final = ("address_line1", "city", "state", "postal_code")
COUNTRY: Final = "US"
CURRENCY: Final = "USD"

# Order life cycle: placed → paid → shipped → delivered, or cancelled before shipping.
PLACED, PAID, SHIPPED, DELIVERED, CANCELLED = "placed", "paid", "shipped", "delivered", "cancelled"
PAYMENT_CAPTURED, PAYMENT_REFUNDED = "captured", "refunded"
SHIPMENT_IN_TRANSIT, SHIPMENT_DELIVERED = "in_transit", "delivered"


def customer(rng: random.Random, customer_id: int, created_at: datetime, updated_at: datetime | None = None) -> Row:
    """A new customer: name, unique email, phone, birth date, segment, US address and loyalty tier."""
    first, last = values.person_name(rng)
    line, city, state, postal_code = values.address(rng)
    return (
        customer_id,
        values.email(rng, first, last, customer_id),
        first,
        last,
        values.phone(rng),
        values.birth_date(rng),
        values.SEGMENT.pick(rng),
        line,
        city,
        state,
        postal_code,
        COUNTRY,
        values.LOYALTY_TIER.pick(rng),
        to_db(created_at),
        to_db(updated_at or created_at),
    )


def product(
    rng: random.Random,
    product_id: int,
    created_at: datetime,
    updated_at: datetime | None = None,
    *,
    active: bool = True,
) -> Row:
    """A product of a random category and brand, priced inside its subcategory's band."""
    category, subcategory = values.category(rng)
    brand = values.pick(rng, category.brands)
    adjective = values.pick(rng, vocabulary.PRODUCT_ADJECTIVES)
    noun = values.pick(rng, subcategory.nouns)
    color = values.pick(rng, vocabulary.PRODUCT_COLORS)
    template = values.pick(rng, vocabulary.DESCRIPTION_TEMPLATES)
    unit_price = values.price(rng, subcategory)
    description = template.format(adjective=adjective.lower(), noun=noun.lower(), brand=brand, color=color.lower())
    return (
        product_id,
        f"{category.code}-{subcategory.name[:3].upper()}-{product_id:07d}",
        f"{brand} {adjective} {noun}, {color}",
        description,
        category.name,
        subcategory.name,
        brand,
        unit_price,
        values.cost(rng, unit_price),
        active,
        to_db(created_at),
        to_db(updated_at or created_at),
    )


@dataclass(frozen=True)
class OrderLines:
    """The item rows of one order and the amounts they add up to."""

    items: tuple[Row, ...]
    total_amount: Decimal
    discount_amount: Decimal


def order_lines(rng: random.Random, order_id: int, products: Sequence[tuple[int, Decimal]]) -> OrderLines:
    """One item row per (product id, current price), numbered from 1; total = sum of quantity * price - discounts."""
    items: list[Row] = []
    gross = values.ZERO
    discounts = values.ZERO
    for line_no, (product_id, unit_price) in enumerate(products, start=1):
        quantity = values.QUANTITY.pick(rng)
        line_gross = unit_price * quantity
        discount = values.line_discount(rng, line_gross)
        items.append((order_id, line_no, product_id, quantity, unit_price, discount))
        gross += line_gross
        discounts += discount
    return OrderLines(tuple(items), gross - discounts, discounts)


def order(
    order_id: int,
    customer_id: int,
    order_ts: datetime,
    *,
    status: str,
    channel: str,
    lines: OrderLines,
    updated_at: datetime | None = None,
) -> Row:
    """An orders row; amounts come from its lines."""
    return (
        order_id,
        customer_id,
        to_db(order_ts),
        status,
        channel,
        CURRENCY,
        lines.total_amount,
        lines.discount_amount,
        to_db(updated_at or order_ts),
    )


def payment(rng: random.Random, payment_id: int, order_id: int, amount: Decimal, paid_at: datetime, status: str) -> Row:
    """A captured (or later refunded) payment of an order's total with a weighted payment method."""
    return (payment_id, order_id, values.PAYMENT_METHOD.pick(rng), amount, status, to_db(paid_at))


def shipment(
    rng: random.Random, shipment_id: int, order_id: int, shipped_at: datetime, delivered_at: datetime | None
) -> Row:
    """A shipment with a carrier-shaped tracking number; delivered when ``delivered_at`` is given."""
    carrier = values.CARRIER.pick(rng)
    return (
        shipment_id,
        order_id,
        carrier.name,
        values.tracking_number(rng, carrier),
        SHIPMENT_IN_TRANSIT if delivered_at is None else SHIPMENT_DELIVERED,
        to_db(shipped_at),
        None if delivered_at is None else to_db(delivered_at),
    )
