"""Product actions: launches, repricing, recategorisation, discontinuation, deleting never-ordered products."""

from __future__ import annotations

from typing import Final

from producers.workload import records, values
from producers.workload.action import Action, ActionContext, fits
from producers.workload.clock import to_db
from producers.workload.records import PRODUCT
from producers.workload.state import WorkloadState
from producers.workload.statements import Transaction

# Discontinuing stops here so that customers always have something to order.
MIN_ACTIVE_PRODUCTS: Final = 10

_UNIT_PRICE: Final = records.COLUMNS[PRODUCT].index("unit_price")


def _has_active(state: WorkloadState, budget: int | None) -> bool:
    return bool(state.active_products) and fits(budget, 1)


def launched(context: ActionContext, _budget: int | None) -> Transaction:
    """A new product goes on sale (one INSERT)."""
    state = context.state
    product_id = state.ids.take(PRODUCT)
    row = records.product(context.rng, product_id, context.now)
    state.product_prices[product_id] = row[_UNIT_PRICE]
    state.active_products.add(product_id)
    return Transaction("product_launched", (context.sql.insert(PRODUCT, records.COLUMNS[PRODUCT], [row]),))


def repriced(context: ActionContext, _budget: int | None) -> Transaction:
    """An active product's price changes (promotion or increase); later orders use the new price."""
    state = context.state
    product_id = state.active_products.pick(context.rng)
    new_price = values.repriced(context.rng, state.product_prices[product_id])
    state.product_prices[product_id] = new_price
    changes = {"unit_price": new_price, "updated_at": to_db(context.now)}
    return Transaction("product_repriced", (context.sql.update(PRODUCT, {"product_id": product_id}, changes),))


def recategorised(context: ActionContext, _budget: int | None) -> Transaction:
    """Merchandising moves an active product to another category and subcategory."""
    product_id = context.state.active_products.pick(context.rng)
    category, subcategory = values.category(context.rng)
    changes = {"category": category.name, "subcategory": subcategory.name, "updated_at": to_db(context.now)}
    return Transaction("product_recategorised", (context.sql.update(PRODUCT, {"product_id": product_id}, changes),))


def discontinued(context: ActionContext, _budget: int | None) -> Transaction:
    """An active product is taken off sale (active = false); if nobody ever ordered it, it may later be deleted."""
    state = context.state
    product_id = state.active_products.pick(context.rng)
    state.active_products.discard(product_id)
    if product_id not in state.ordered_products:
        state.deletable_products.add(product_id)
    changes = {"active": False, "updated_at": to_db(context.now)}
    return Transaction("product_discontinued", (context.sql.update(PRODUCT, {"product_id": product_id}, changes),))


def deleted(context: ActionContext, _budget: int | None) -> Transaction:
    """A discontinued product that no order item references is removed from the catalogue (one DELETE)."""
    state = context.state
    product_id = state.deletable_products.pick(context.rng)
    state.deletable_products.discard(product_id)
    del state.product_prices[product_id]
    return Transaction("product_deleted", (context.sql.delete(PRODUCT, {"product_id": product_id}),))


ACTIONS = (
    Action("product_launched", 1, lambda _state, budget: fits(budget, 1), launched),
    Action("product_repriced", 3, _has_active, repriced),
    Action("product_recategorised", 1, _has_active, recategorised),
    Action(
        "product_discontinued",
        1,
        lambda state, budget: len(state.active_products) > MIN_ACTIVE_PRODUCTS and fits(budget, 1),
        discontinued,
    ),
    Action("product_deleted", 0.5, lambda state, budget: bool(state.deletable_products) and fits(budget, 1), deleted),
)
