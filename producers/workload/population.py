"""The initial population: customers, products and a year of order history, generated from a seed (pure).

Rows stream out of generators so a million customers never sit in memory at once; orders come in batches that
carry their items, payments and shipments. Order history is consistent with the life cycle the workload uses:
old orders are delivered (or cancelled), the last days' orders are still placed, paid or shipped, every paid order
has a captured payment, every shipped one a shipment, cancelled-after-payment ones a refunded payment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from producers.workload import records, values
from producers.workload.id_pool import IdPool
from producers.workload.records import (
    CANCELLED,
    DELIVERED,
    PAID,
    PAYMENT_CAPTURED,
    PAYMENT_REFUNDED,
    PLACED,
    SHIPPED,
    Row,
)
from producers.workload.state import IdCounters
from producers.workload.values import Weighted

DAY: Final = timedelta(days=1)
HISTORY: Final = 365 * DAY  # orders span the year before ``as_of``
ORDER_BATCH: Final = 20_000

# The share of each status among orders of a given age (days old, at least).
_STATUS_BY_AGE: Final = (
    (7, Weighted.of([(DELIVERED, 94), (CANCELLED, 6)])),
    (3, Weighted.of([(DELIVERED, 55), (SHIPPED, 40), (CANCELLED, 5)])),
    (1, Weighted.of([(DELIVERED, 10), (SHIPPED, 50), (PAID, 35), (CANCELLED, 5)])),
    (0, Weighted.of([(PLACED, 45), (PAID, 40), (SHIPPED, 10), (CANCELLED, 5)])),
)


@dataclass(frozen=True)
class PopulationSize:
    """How many customers, products and orders to add."""

    customers: int = 1000
    products: int = 200
    orders: int = 2000

    def __post_init__(self) -> None:
        for name in ("customers", "products", "orders"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass
class OrderBatch:
    """Rows of a batch of orders, per table, in insertion order."""

    orders: list[Row] = field(default_factory=list)
    order_items: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)
    shipments: list[Row] = field(default_factory=list)


class PopulationGenerator:
    """Makes the rows of an initial population; ids continue from ``ids`` (so appending never collides).

    ``customers`` and ``products`` must be consumed before ``orders``: orders reference the customers and
    products that exist by then (those passed in plus the ones generated).
    """

    def __init__(
        self,
        seed: int,
        as_of: datetime,
        ids: IdCounters,
        customers: IdPool | None = None,
        product_prices: dict[int, Decimal] | None = None,
    ) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self._as_of = as_of
        self._ids = ids
        self._customers = customers if customers is not None else IdPool()
        self._product_prices = dict(product_prices or {})

    def customers(self, count: int) -> Iterator[Row]:
        """``count`` customers who signed up between three years and 400 days before ``as_of``."""
        rng = self._rng
        first = self._as_of - 3 * 365 * DAY
        window = (3 * 365 - 400) * 86_400
        for _ in range(count):
            customer_id = self._ids.take(records.CUSTOMER)
            created_at = first + timedelta(seconds=int(rng.random() * window))
            updated_at = created_at + timedelta(seconds=int(rng.random() * 200 * 86_400))
            self._customers.add(customer_id)
            yield records.customer(rng, customer_id, created_at, updated_at)

    def products(self, count: int) -> Iterator[Row]:
        """``count`` products launched in the two years before ``as_of``; about 8% since discontinued."""
        rng = self._rng
        first = self._as_of - 2 * 365 * DAY
        window = (2 * 365 - 30) * 86_400
        price_at = records.COLUMNS[records.PRODUCT].index("unit_price")
        for _ in range(count):
            product_id = self._ids.take(records.PRODUCT)
            created_at = first + timedelta(seconds=int(rng.random() * window))
            active = rng.random() >= 0.08
            updated_at = created_at if active else created_at + timedelta(seconds=int(rng.random() * 25 * 86_400))
            row = records.product(rng, product_id, created_at, updated_at, active=active)
            self._product_prices[product_id] = row[price_at]
            yield row

    def orders(self, count: int, batch_size: int = ORDER_BATCH) -> Iterator[OrderBatch]:
        """``count`` orders spread evenly over the last year (ids rise with time), in batches."""
        if count and (not self._customers or not self._product_prices):
            raise ValueError("orders need at least one customer and one product")
        products = IdPool(self._product_prices)
        first = self._as_of - HISTORY
        slot = HISTORY / max(count, 1)
        batch = OrderBatch()
        for index in range(count):
            order_ts = first + slot * (index + self._rng.random())
            self._order(batch, order_ts, products)
            if len(batch.orders) >= batch_size:
                yield batch
                batch = OrderBatch()
        if batch.orders:
            yield batch

    def _order(self, batch: OrderBatch, order_ts: datetime, products: IdPool) -> None:
        rng = self._rng
        order_id = self._ids.take(records.ORDERS)
        customer_id = self._customers.pick(rng)
        chosen = products.sample(rng, values.LINE_COUNT.pick(rng))
        lines = records.order_lines(
            rng, order_id, [(product_id, self._product_prices[product_id]) for product_id in chosen]
        )
        status = _status_for_age(rng, self._as_of - order_ts)
        channel = values.CHANNEL.pick(rng)
        paid_at = order_ts + timedelta(minutes=1 + int(rng.random() * 60))
        shipped_at = paid_at + timedelta(hours=2 + int(rng.random() * 46))
        delivered_at = shipped_at + timedelta(hours=20 + int(rng.random() * 100))
        cancelled_after_payment = rng.random() < 0.5
        last_event = order_ts
        if status in (PAID, SHIPPED, DELIVERED) or (status == CANCELLED and cancelled_after_payment):
            payment_status = PAYMENT_REFUNDED if status == CANCELLED else PAYMENT_CAPTURED
            paid_at = min(paid_at, self._as_of)
            payment_id = self._ids.take(records.PAYMENT)
            batch.payments.append(
                records.payment(rng, payment_id, order_id, lines.total_amount, paid_at, payment_status)
            )
            last_event = paid_at
        if status in (SHIPPED, DELIVERED):
            shipped_at = min(shipped_at, self._as_of)
            delivered = min(delivered_at, self._as_of) if status == DELIVERED else None
            shipment_id = self._ids.take(records.SHIPMENT)
            batch.shipments.append(records.shipment(rng, shipment_id, order_id, shipped_at, delivered))
            last_event = delivered or shipped_at
        if status == CANCELLED:
            last_event = min(last_event + timedelta(hours=1 + int(rng.random() * 24)), self._as_of)
        batch.orders.append(
            records.order(
                order_id, customer_id, order_ts, status=status, channel=channel, lines=lines, updated_at=last_event
            )
        )
        batch.order_items.extend(lines.items)


def _status_for_age(rng: random.Random, age: timedelta) -> str:
    for min_days, statuses in _STATUS_BY_AGE:
        if age >= min_days * DAY:
            return statuses.pick(rng)
    return _STATUS_BY_AGE[-1][1].pick(rng)
