"""Order actions along the life cycle placed → paid → shipped → delivered, cancellations, and refund clean-up.

Each transaction keeps the tables consistent on its own: an order is inserted together with all its items, a
payment together with the status change it causes, and so on. Items reference active products at their current
price; payments and shipments reference orders the state knows to be in the right status.
"""

from __future__ import annotations

from typing import Final

from producers.workload import records, values
from producers.workload.action import Action, ActionContext, fits
from producers.workload.clock import to_db
from producers.workload.records import (
    CANCELLED,
    DELIVERED,
    ORDER_ITEM,
    ORDERS,
    PAID,
    PAYMENT,
    PAYMENT_CAPTURED,
    PAYMENT_REFUNDED,
    PLACED,
    SHIPMENT,
    SHIPMENT_DELIVERED,
    SHIPPED,
)
from producers.workload.state import WorkloadState
from producers.workload.statements import Statement, Transaction

MAX_LINES: Final = 10


def _can_place(state: WorkloadState, budget: int | None) -> bool:
    return bool(state.customers) and bool(state.active_products) and fits(budget, 2)


def placed(context: ActionContext, budget: int | None) -> Transaction:
    """A customer orders 1-10 distinct active products: one orders row and all its items, one transaction."""
    state, rng = context.state, context.rng
    customer_id = state.customers.pick(rng)
    line_count = values.LINE_COUNT.pick(rng)
    if budget is not None:
        line_count = min(line_count, budget - 1)
    products = state.active_products.sample(rng, min(line_count, MAX_LINES))
    channel = values.CHANNEL.pick(rng)
    order_id = state.ids.take(ORDERS)
    lines = records.order_lines(
        rng, order_id, [(product_id, state.product_prices[product_id]) for product_id in products]
    )
    order_row = records.order(order_id, customer_id, context.now, status=PLACED, channel=channel, lines=lines)
    state.placed.add(order_id)
    state.order_totals[order_id] = lines.total_amount
    state.customers_without_orders.discard(customer_id)
    for product_id in products:
        state.ordered_products.add(product_id)
    return Transaction(
        "order_placed",
        (
            context.sql.insert(ORDERS, records.COLUMNS[ORDERS], [order_row]),
            context.sql.insert(ORDER_ITEM, records.COLUMNS[ORDER_ITEM], lines.items),
        ),
    )


def paid(context: ActionContext, _budget: int | None) -> Transaction:
    """The customer pays a placed order: a captured payment of its total and the order becomes ``paid``."""
    state, rng = context.state, context.rng
    order_id = state.placed.pick(rng)
    payment_id = state.ids.take(PAYMENT)
    amount = state.order_totals.pop(order_id)
    row = records.payment(rng, payment_id, order_id, amount, context.now, PAYMENT_CAPTURED)
    state.placed.discard(order_id)
    state.paid.add(order_id)
    state.payment_of[order_id] = payment_id
    return Transaction(
        "order_paid",
        (context.sql.insert(PAYMENT, records.COLUMNS[PAYMENT], [row]), _set_status(context, order_id, PAID)),
    )


def shipped(context: ActionContext, _budget: int | None) -> Transaction:
    """The warehouse hands a paid order to a carrier: a shipment in transit and the order becomes ``shipped``."""
    state, rng = context.state, context.rng
    order_id = state.paid.pick(rng)
    shipment_id = state.ids.take(SHIPMENT)
    row = records.shipment(rng, shipment_id, order_id, context.now, None)
    state.paid.discard(order_id)
    del state.payment_of[order_id]
    state.shipped.add(order_id)
    state.shipment_of[order_id] = shipment_id
    return Transaction(
        "order_shipped",
        (context.sql.insert(SHIPMENT, records.COLUMNS[SHIPMENT], [row]), _set_status(context, order_id, SHIPPED)),
    )


def delivered(context: ActionContext, _budget: int | None) -> Transaction:
    """The carrier delivers: the shipment and the order both become ``delivered``."""
    state = context.state
    order_id = state.shipped.pick(context.rng)
    shipment_id = state.shipment_of.pop(order_id)
    state.shipped.discard(order_id)
    shipment_changes = {"status": SHIPMENT_DELIVERED, "delivered_at": to_db(context.now)}
    return Transaction(
        "order_delivered",
        (
            context.sql.update(SHIPMENT, {"shipment_id": shipment_id}, shipment_changes),
            _set_status(context, order_id, DELIVERED),
        ),
    )


def _can_cancel(state: WorkloadState, budget: int | None) -> bool:
    return (bool(state.placed) and fits(budget, 1)) or (bool(state.paid) and fits(budget, 2))


def cancelled(context: ActionContext, budget: int | None) -> Transaction:
    """An order that has not shipped is cancelled; if it was paid, its payment is refunded in the same transaction."""
    state, rng = context.state, context.rng
    refundable = len(state.paid) if fits(budget, 2) else 0
    draw = rng.random() * (len(state.placed) + refundable)
    if draw < len(state.placed):
        order_id = state.placed.pick(rng)
        state.placed.discard(order_id)
        del state.order_totals[order_id]
        return Transaction("order_cancelled", (_set_status(context, order_id, CANCELLED),))
    order_id = state.paid.pick(rng)
    payment_id = state.payment_of.pop(order_id)
    state.paid.discard(order_id)
    state.refunded_payments.add(payment_id)
    return Transaction(
        "order_cancelled",
        (
            context.sql.update(PAYMENT, {"payment_id": payment_id}, {"status": PAYMENT_REFUNDED}),
            _set_status(context, order_id, CANCELLED),
        ),
    )


def refund_purged(context: ActionContext, _budget: int | None) -> Transaction:
    """Housekeeping deletes the refunded payment row of a cancelled order (one DELETE)."""
    state = context.state
    payment_id = state.refunded_payments.pick(context.rng)
    state.refunded_payments.discard(payment_id)
    return Transaction("refund_purged", (context.sql.delete(PAYMENT, {"payment_id": payment_id}),))


def _set_status(context: ActionContext, order_id: int, status: str) -> Statement:
    changes = {"status": status, "updated_at": to_db(context.now)}
    return context.sql.update(ORDERS, {"order_id": order_id}, changes)


ACTIONS = (
    Action("order_placed", 20, _can_place, placed),
    Action("order_paid", 16, lambda state, budget: bool(state.placed) and fits(budget, 2), paid),
    Action("order_shipped", 14, lambda state, budget: bool(state.paid) and fits(budget, 2), shipped),
    Action("order_delivered", 13, lambda state, budget: bool(state.shipped) and fits(budget, 2), delivered),
    Action("order_cancelled", 3, _can_cancel, cancelled),
    Action("refund_purged", 1, lambda state, budget: bool(state.refunded_payments) and fits(budget, 1), refund_purged),
)
