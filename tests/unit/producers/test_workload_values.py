"""Generated values: realistic, fit their catalog columns, COPY-safe, and reproducible from a seed."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from producers.workload import records, values, vocabulary
from producers.workload.clock import SimulatedClock, from_db, to_db
from producers.workload.id_pool import IdPool
from schemas.catalog import Catalog, load_catalog

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [s for item in value for s in _strings(item)]
    return []


def test_vocabulary_is_copy_safe() -> None:
    everything = [getattr(vocabulary, name) for name in dir(vocabulary) if name.isupper()]
    for text in _strings(everything):
        assert not set(text) & {"\t", "\n", "\r", "\\"}, text


def _check_row(catalog: Catalog, table_name: str, row: records.Row) -> None:
    table = catalog.table(table_name)
    for name, value in zip(records.COLUMNS[table_name], row, strict=True):
        column = table.column(name)
        kind = column.column_type
        if value is None:
            assert column.nullable, f"{table_name}.{name} is NOT NULL"
            continue
        if kind.kind == "varchar":
            assert isinstance(value, str) and len(value) <= (kind.length or 0), (name, value)
        elif kind.kind == "decimal":
            assert isinstance(value, Decimal) and value.as_tuple().exponent == -(kind.scale or 0), (name, value)
        elif kind.kind == "timestamp":
            assert isinstance(value, datetime) and value.tzinfo is None, (name, value)
        elif kind.kind in ("int32", "int64"):
            assert isinstance(value, int) and not isinstance(value, bool)
        elif kind.kind == "boolean":
            assert isinstance(value, bool)
        elif kind.kind == "date":
            assert isinstance(value, date)


def test_rows_fit_their_catalog_columns(catalog: Catalog) -> None:
    rng = random.Random(1)
    for customer_id in range(1, 2000):
        _check_row(catalog, "customer", records.customer(rng, customer_id, NOW))
    for product_id in range(1, 2000):
        _check_row(catalog, "product", records.product(rng, product_id, NOW))
    lines = records.order_lines(rng, 1, [(1, Decimal("19.99")), (2, Decimal("5.49"))])
    for item in lines.items:
        _check_row(catalog, "order_item", item)
    _check_row(catalog, "orders", records.order(1, 1, NOW, status="placed", channel="web", lines=lines))
    _check_row(catalog, "payment", records.payment(rng, 1, 1, lines.total_amount, NOW, "captured"))
    for carrier_seed in range(50):
        shipment = records.shipment(random.Random(carrier_seed), 1, 1, NOW, NOW + timedelta(days=2))
        _check_row(catalog, "shipment", shipment)


def test_customers_look_real_and_emails_are_unique() -> None:
    rng = random.Random(3)
    rows = [records.customer(rng, n, NOW) for n in range(1, 5001)]
    columns = records.COLUMNS["customer"]
    emails = [row[columns.index("email")] for row in rows]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z.]+\d+@[a-z.]+", email) for email in emails)
    segments = {row[columns.index("segment")] for row in rows}
    assert segments == {"consumer", "corporate", "small_business"}
    states = {row[columns.index("state")] for row in rows}
    assert len(states) > 40 and all(re.fullmatch(r"[A-Z]{2}", s) for s in states)
    assert all(re.fullmatch(r"\d{5}", row[columns.index("postal_code")]) for row in rows)
    assert {row[columns.index("country")] for row in rows} == {"US"}


def test_prices_stay_in_their_band_and_money_never_is_float() -> None:
    rng = random.Random(4)
    for category in vocabulary.CATEGORIES:
        for subcategory in category.subcategories:
            for _ in range(200):
                price = values.price(rng, subcategory)
                assert subcategory.min_price <= price <= subcategory.max_price
                assert price.as_tuple().exponent == -2
    repriced = values.repriced(rng, Decimal("0.01"))
    assert repriced >= Decimal("0.01") and repriced.as_tuple().exponent == -2
    lines = records.order_lines(rng, 9, [(1, Decimal("10.00")), (2, Decimal("3.33"))])
    gross = sum((item[3] * item[4] for item in lines.items), Decimal(0))
    assert lines.total_amount == gross - lines.discount_amount
    assert isinstance(lines.total_amount, Decimal)


def test_weighted_picks_follow_their_weights() -> None:
    rng = random.Random(5)
    picks = [values.PAYMENT_METHOD.pick(rng) for _ in range(20_000)]
    assert set(picks) == {"card", "paypal", "gift_card", "bank_transfer"}
    assert 0.65 < picks.count("card") / len(picks) < 0.75
    with pytest.raises(ValueError, match="weights"):
        values.Weighted.of([("a", 0)])


def test_id_pool_is_sorted_compact_and_reproducible() -> None:
    pool = IdPool([5, 3, 9, 3])
    assert list(pool) == [3, 5, 9] and len(pool) == 3 and 5 in pool and 4 not in pool and "5" not in pool
    pool.add(7)
    pool.add(11)
    pool.add(7)
    pool.discard(3)
    pool.discard(4)
    assert list(pool) == [5, 7, 9, 11]
    # the same contents give the same picks, whatever the order they were added in
    other = IdPool([11, 9])
    other.add(5)
    other.add(7)
    assert [pool.pick(random.Random(s)) for s in range(20)] == [other.pick(random.Random(s)) for s in range(20)]
    sample = pool.sample(random.Random(1), 3)
    assert len(set(sample)) == 3 and set(sample) <= set(pool)
    assert sorted(pool.sample(random.Random(1), 10)) == [5, 7, 9, 11]
    with pytest.raises(IndexError):
        IdPool().pick(random.Random(1))


def test_clock_gives_naive_utc_for_timestamp_columns_and_advances_per_change() -> None:
    berlin = timezone(timedelta(hours=2))
    assert to_db(datetime(2025, 6, 30, 14, 0, tzinfo=berlin)) == datetime(2025, 6, 30, 12, 0)
    assert from_db(datetime(2025, 6, 30, 12, 0)) == NOW
    with pytest.raises(ValueError, match="timezone-aware"):
        to_db(datetime(2025, 6, 30))
    clock = SimulatedClock.for_rate(NOW, 200)
    clock.advance(3)
    assert clock.now == NOW + timedelta(milliseconds=15)
    unthrottled = SimulatedClock.for_rate(NOW, 0)
    unthrottled.advance(0)
    assert unthrottled.now == NOW + timedelta(milliseconds=1)
