"""Customer actions: sign-ups, moves, segment and loyalty-tier changes, and closing accounts that never ordered."""

from __future__ import annotations

from producers.workload import records, values
from producers.workload.action import Action, ActionContext, fits
from producers.workload.clock import to_db
from producers.workload.records import CUSTOMER
from producers.workload.state import WorkloadState
from producers.workload.statements import Transaction


def _has_customers(state: WorkloadState, budget: int | None) -> bool:
    return bool(state.customers) and fits(budget, 1)


def signup(context: ActionContext, _budget: int | None) -> Transaction:
    """A new customer registers (one INSERT)."""
    state = context.state
    customer_id = state.ids.take(CUSTOMER)
    row = records.customer(context.rng, customer_id, context.now)
    state.customers.add(customer_id)
    state.customers_without_orders.add(customer_id)
    return Transaction("customer_signup", (context.sql.insert(CUSTOMER, records.COLUMNS[CUSTOMER], [row]),))


def moved(context: ActionContext, _budget: int | None) -> Transaction:
    """A customer moves house: a new address (one UPDATE)."""
    customer_id = context.state.customers.pick(context.rng)
    changes: dict[str, object] = dict(zip(records.ADDRESS_COLUMNS, values.address(context.rng), strict=True))
    changes["updated_at"] = to_db(context.now)
    return Transaction("customer_moved", (context.sql.update(CUSTOMER, {"customer_id": customer_id}, changes),))


def segment_changed(context: ActionContext, _budget: int | None) -> Transaction:
    """A customer is re-segmented, e.g. a consumer who starts buying for their small business."""
    customer_id = context.state.customers.pick(context.rng)
    changes = {"segment": values.SEGMENT.pick(context.rng), "updated_at": to_db(context.now)}
    return Transaction(
        "customer_segment_changed", (context.sql.update(CUSTOMER, {"customer_id": customer_id}, changes),)
    )


def loyalty_changed(context: ActionContext, _budget: int | None) -> Transaction:
    """The loyalty programme moves a customer to another tier (or out of it)."""
    customer_id = context.state.customers.pick(context.rng)
    changes = {"loyalty_tier": values.LOYALTY_TIER.pick(context.rng), "updated_at": to_db(context.now)}
    return Transaction(
        "customer_loyalty_changed", (context.sql.update(CUSTOMER, {"customer_id": customer_id}, changes),)
    )


def closed(context: ActionContext, _budget: int | None) -> Transaction:
    """A customer who never ordered closes the account (one DELETE; no order references them)."""
    state = context.state
    customer_id = state.customers_without_orders.pick(context.rng)
    state.customers_without_orders.discard(customer_id)
    state.customers.discard(customer_id)
    return Transaction("customer_closed", (context.sql.delete(CUSTOMER, {"customer_id": customer_id}),))


ACTIONS = (
    Action("customer_signup", 6, lambda _state, budget: fits(budget, 1), signup),
    Action("customer_moved", 4, _has_customers, moved),
    Action("customer_segment_changed", 2, _has_customers, segment_changed),
    Action("customer_loyalty_changed", 3, _has_customers, loyalty_changed),
    Action(
        "customer_closed", 0.5, lambda state, budget: bool(state.customers_without_orders) and fits(budget, 1), closed
    ),
)
