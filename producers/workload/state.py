"""The generator's view of the source database: which ids exist and where each order is in its life cycle.

Read once from the database when a run starts (``state_reader.read_state``) and from then on kept up to date by
the actions themselves, so generating the next transaction never needs a query. Everything an action may pick
from is an ``IdPool`` (sorted), so the same database gives the same picks for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from producers.workload.id_pool import IdPool


@dataclass
class IdCounters:
    """Next id per table. Starts at ``max(id) + 1`` so re-runs continue without collisions."""

    customer: int = 1
    product: int = 1
    orders: int = 1
    payment: int = 1
    shipment: int = 1

    def take(self, table: str) -> int:
        """Return the next id of ``table`` and move its counter on."""
        value: int = getattr(self, table)
        setattr(self, table, value + 1)
        return value


@dataclass
class WorkloadState:
    """Existing ids by role. Invariants the actions rely on (and tests check):

    - ``customers_without_orders`` ⊆ ``customers``; ``active_products`` and ``deletable_products`` are disjoint
      subsets of ``product_prices``; a deletable product is inactive and in no order item;
    - every order in ``placed`` has a total in ``order_totals``; in ``paid`` a captured payment in ``payment_of``;
      in ``shipped`` an in-transit shipment in ``shipment_of``; ``refunded_payments`` belong to cancelled orders.
    """

    ids: IdCounters = field(default_factory=IdCounters)
    customers: IdPool = field(default_factory=IdPool)
    customers_without_orders: IdPool = field(default_factory=IdPool)
    product_prices: dict[int, Decimal] = field(default_factory=dict)
    active_products: IdPool = field(default_factory=IdPool)
    ordered_products: IdPool = field(default_factory=IdPool)
    deletable_products: IdPool = field(default_factory=IdPool)
    placed: IdPool = field(default_factory=IdPool)
    paid: IdPool = field(default_factory=IdPool)
    shipped: IdPool = field(default_factory=IdPool)
    order_totals: dict[int, Decimal] = field(default_factory=dict)
    payment_of: dict[int, int] = field(default_factory=dict)
    shipment_of: dict[int, int] = field(default_factory=dict)
    refunded_payments: IdPool = field(default_factory=IdPool)

    def summary(self) -> dict[str, int]:
        """Sizes of the pools, for a log line or a test message."""
        return {
            "customers": len(self.customers),
            "customers_without_orders": len(self.customers_without_orders),
            "products": len(self.product_prices),
            "active_products": len(self.active_products),
            "deletable_products": len(self.deletable_products),
            "placed": len(self.placed),
            "paid": len(self.paid),
            "shipped": len(self.shipped),
            "refunded_payments": len(self.refunded_payments),
        }
