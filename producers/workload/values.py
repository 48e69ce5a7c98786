"""Realistic single values drawn from a ``random.Random``: people, addresses, prices, tracking numbers.

Pure functions of the generator they are given. Each draws a fixed number of ``rng.random()`` values for the
same inputs, so a seed reproduces the exact same values. Money is ``Decimal`` with two places, never float.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from typing import Final, Generic, TypeVar

from producers.workload import vocabulary
from producers.workload.vocabulary import Category, Subcategory

T = TypeVar("T")

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")
_BIRTH_START: Final = date(1940, 1, 1)
_BIRTH_DAYS: Final = (date(2006, 12, 31) - _BIRTH_START).days


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """One item, uniformly (one ``rng.random()`` draw; cheaper than ``rng.choice`` in bulk loads)."""
    return items[int(rng.random() * len(items))]


@dataclass(frozen=True)
class Weighted(Generic[T]):
    """A fixed set of values with relative weights; ``pick`` draws one with a single ``rng.random()``."""

    values: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[T, float]]) -> Weighted[T]:
        if not pairs or any(weight < 0 for _, weight in pairs) or sum(weight for _, weight in pairs) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return cls(tuple(value for value, _ in pairs), tuple(accumulate(weight for _, weight in pairs)))

    def pick(self, rng: random.Random) -> T:
        index = bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.values[min(index, len(self.values) - 1)]


SEGMENT: Final = Weighted.of(vocabulary.SEGMENTS)
LOYALTY_TIER: Final = Weighted.of(vocabulary.LOYALTY_TIERS)
CHANNEL: Final = Weighted.of(vocabulary.CHANNELS)
PAYMENT_METHOD: Final = Weighted.of(vocabulary.PAYMENT_METHODS)
CARRIER: Final = Weighted.of(vocabulary.CARRIERS)
# Most orders are small: 1-3 lines; up to 10.
LINE_COUNT: Final = Weighted.of([(1, 30), (2, 24), (3, 16), (4, 10), (5, 7), (6, 5), (7, 3), (8, 2), (9, 2), (10, 1)])
QUANTITY: Final = Weighted.of([(1, 70), (2, 18), (3, 7), (4, 3), (5, 2)])


def cents(amount: int) -> Decimal:
    """An integer number of cents as a two-place Decimal (``1299`` → ``Decimal('12.99')``)."""
    return Decimal(amount).scaleb(-2)


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (how shop systems round line discounts)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def person_name(rng: random.Random) -> tuple[str, str]:
    return pick(rng, vocabulary.FIRST_NAMES), pick(rng, vocabulary.LAST_NAMES)


def email(rng: random.Random, first: str, last: str, customer_id: int) -> str:
    """Unique by construction: the customer id is part of the local part."""
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    return f"{local}{customer_id}@{pick(rng, vocabulary.EMAIL_DOMAINS)}"


def phone(rng: random.Random) -> str | None:
    """A North American number in E.164-like form; about 1 in 8 customers leave it empty."""
    number = int(rng.random() * 10_000_000)
    area = 201 + int(rng.random() * 788)
    if rng.random() < 0.125:
        return None
    return f"+1-{area}-{number // 10_000:03d}-{number % 10_000:04d}"


def birth_date(rng: random.Random) -> date | None:
    """Adults born 1940-2006; about 1 in 6 customers do not say."""
    days = int(rng.random() * _BIRTH_DAYS)
    if rng.random() < 0.17:
        return None
    return _BIRTH_START + timedelta(days=days)


def address(rng: random.Random) -> tuple[str, str, str, str]:
    """(address_line1, city, state, postal_code) of a US address."""
    number = 1 + int(rng.random() * 9899)
    street = pick(rng, vocabulary.STREET_NAMES)
    suffix = pick(rng, vocabulary.STREET_SUFFIXES)
    place = pick(rng, vocabulary.PLACES)
    zip_suffix = int(rng.random() * 100)
    unit = int(rng.random() * 400)
    line = f"{number} {street} {suffix}"
    if unit < 60:  # about 15% live in an apartment or suite
        line = f"{line} {vocabulary.UNIT_PREFIXES[unit % 3]} {unit + 1}"
    return line, place.city, place.state, f"{place.zip_prefix}{zip_suffix:02d}"


def category(rng: random.Random) -> tuple[Category, Subcategory]:
    chosen = pick(rng, vocabulary.CATEGORIES)
    return chosen, pick(rng, chosen.subcategories)


def price(rng: random.Random, subcategory: Subcategory) -> Decimal:
    """A shelf price inside the subcategory's band, ending in .99 (or .49 below ten dollars)."""
    low, high = int(subcategory.min_price * 100), int(subcategory.max_price * 100)
    amount = low + int(rng.random() * (high - low))
    ending = 49 if amount < 1000 else 99
    rounded = amount // 100 * 100 + ending
    return cents(min(max(rounded, low), high))


def cost(rng: random.Random, unit_price: Decimal) -> Decimal | None:
    """What the shop pays: 45-75% of the price; unknown for about 1 in 20 products."""
    share = 45 + int(rng.random() * 31)
    if rng.random() < 0.05:
        return None
    return money(unit_price * share / 100)


def repriced(rng: random.Random, current: Decimal) -> Decimal:
    """A new price 15% below to 20% above the current one (promotions, inflation), at least one cent."""
    percent = 85 + int(rng.random() * 36)
    return max(CENT, money(current * percent / 100))


def line_discount(rng: random.Random, gross: Decimal) -> Decimal:
    """A line's discount amount: none for most lines, else 5-30% of the line total."""
    percent = 5 + int(rng.random() * 26)
    if rng.random() < 0.8:
        return ZERO
    return money(gross * percent / 100)


def tracking_number(rng: random.Random, carrier: vocabulary.Carrier) -> str:
    digits = "".join(str(int(rng.random() * 10)) for _ in range(carrier.tracking_digits))
    return f"{carrier.tracking_prefix}{digits}"
