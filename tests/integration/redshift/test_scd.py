"""SCD2 that users can trust (ADR 0010 decision 6), case by case, on the stack's PostgreSQL.

Change events go into ``staging.mv_customer`` / ``staging.mv_product`` exactly as the bridge writes them, then
``staging.load_dim_customer()`` / ``staging.load_dim_product()`` run; each test names the case it proves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.redshift.test_scd_support import (
    OPEN,
    Change,
    Warehouse,
    assert_well_formed,
    at,
    customer,
    migrated_warehouse,
    product,
    versions,
)

LOAD_CUSTOMER = "staging.load_dim_customer"


@pytest.fixture(scope="module")
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with migrated_warehouse(stack_endpoints, "scd") as dsn:
        yield dsn


@pytest.fixture
def wh(warehouse_dsn: str) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_dsn) as warehouse:
        yield warehouse


def c(op: str, lsn: int, seconds: float, customer_id: int = 1, **values: Any) -> Change:
    return Change("customer", op, customer(customer_id, **values), lsn=lsn, ts=at(seconds))  # type: ignore[arg-type]


def segments(wh: Warehouse, customer_id: int = 1) -> list[tuple[Any, ...]]:
    return versions(wh, "dim_customer", customer_id, "segment")


def test_first_change_opens_the_current_version(wh: Warehouse) -> None:
    wh.publish(c("c", 100, 1, segment="consumer"))
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [("consumer", at(1), OPEN, True, False, 100)]


def test_several_changes_of_one_key_in_one_run_follow_source_position_not_arrival(wh: Warehouse) -> None:
    # arrival order (MV offsets) is the reverse of the source order
    wh.publish(c("u", 300, 3, segment="enterprise"))
    wh.publish(c("u", 200, 2, segment="small_business"))
    wh.publish(c("c", 100, 1, segment="consumer"))
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("consumer", at(1), at(2), False, False, 100),
        ("small_business", at(2), at(3), False, False, 200),
        ("enterprise", at(3), OPEN, True, False, 300),
    ]
    assert_well_formed(wh, "dim_customer")


def test_duplicates_and_replays_are_ignored(wh: Warehouse) -> None:
    first, second = c("c", 100, 1, segment="consumer"), c("u", 200, 2, segment="enterprise")
    wh.publish_all([first, second, first])  # a duplicate in the same run
    wh.call(LOAD_CUSTOMER)
    expected = segments(wh)
    wh.publish_all([second, first, second])  # a replay at new offsets, later
    wh.call(LOAD_CUSTOMER)
    assert (
        segments(wh)
        == expected
        == [
            ("consumer", at(1), at(2), False, False, 100),
            ("enterprise", at(2), OPEN, True, False, 200),
        ]
    )
    assert wh.query("SELECT COUNT(*) AS n FROM staging.customer_history") == [{"n": 2}]


def test_late_event_is_inserted_into_history_in_its_place(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1, segment="consumer"), c("u", 300, 3, segment="enterprise")])
    wh.call(LOAD_CUSTOMER)
    keys_before = {row["version_lsn"]: row["customer_key"] for row in wh.query("SELECT * FROM analytics.dim_customer")}
    wh.publish(c("u", 200, 2, segment="small_business"))  # arrives after the change that followed it at the source
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("consumer", at(1), at(2), False, False, 100),
        ("small_business", at(2), at(3), False, False, 200),
        ("enterprise", at(3), OPEN, True, False, 300),
    ]
    keys_after = {row["version_lsn"]: row["customer_key"] for row in wh.query("SELECT * FROM analytics.dim_customer")}
    assert keys_after[100] == keys_before[100] and keys_after[300] == keys_before[300]  # unchanged versions kept
    assert_well_formed(wh, "dim_customer")


def test_late_event_never_overwrites_the_current_version(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1, email="old@example.com"), c("u", 300, 3, email="new@example.com")])
    wh.call(LOAD_CUSTOMER)
    wh.publish(c("u", 200, 2, email="middle@example.com", segment="enterprise"))
    wh.call(LOAD_CUSTOMER)
    rows = versions(wh, "dim_customer", 1, "segment", "email")
    assert [row[:2] for row in rows] == [
        ("consumer", "new@example.com"),
        ("enterprise", "new@example.com"),
        ("consumer", "new@example.com"),
    ]
    assert rows[-1][4:6] == (True, False)


def test_a_late_event_that_moves_a_version_start_replaces_that_version(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1, segment="consumer"), c("u", 300, 3, segment="enterprise")])
    wh.call(LOAD_CUSTOMER)
    wh.publish(c("u", 250, 2.5, segment="enterprise"))  # the enterprise version really started earlier
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("consumer", at(1), at(2.5), False, False, 100),
        ("enterprise", at(2.5), OPEN, True, False, 250),
    ]


def test_delete_closes_the_current_row_and_marks_it_deleted(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1, segment="consumer"), c("d", 200, 2, segment="consumer")])
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("consumer", at(1), at(2), False, False, 100),
        ("consumer", at(2), OPEN, True, True, 200),
    ]
    assert_well_formed(wh, "dim_customer")


def test_reinsert_after_delete_opens_a_new_version(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1), c("d", 200, 2)])
    wh.call(LOAD_CUSTOMER)
    wh.publish(c("c", 300, 3))  # same attributes as before the delete: still a new version
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("consumer", at(1), at(2), False, False, 100),
        ("consumer", at(2), at(3), False, True, 200),
        ("consumer", at(3), OPEN, True, False, 300),
    ]


def test_exactly_one_current_row_per_key_without_overlaps_or_gaps(wh: Warehouse) -> None:
    changes = []
    for key in range(1, 6):
        changes += [
            c("c", 1000 * key, key, key, segment="consumer"),
            c("u", 1000 * key + 1, key + 10, key, segment="enterprise", loyalty_tier="gold"),
            c("u", 1000 * key + 2, key + 20, key, loyalty_tier="silver"),
        ]
        if key % 2:
            changes.append(c("d", 1000 * key + 3, key + 30, key))
    wh.publish_all(reversed(changes))  # type: ignore[arg-type]
    wh.call(LOAD_CUSTOMER)
    assert_well_formed(wh, "dim_customer")
    current = wh.query(
        "SELECT customer_id, COUNT(*) AS n, BOOL_OR(is_deleted) AS deleted FROM analytics.dim_customer "
        "WHERE is_current GROUP BY customer_id ORDER BY customer_id"
    )
    assert current == [{"customer_id": key, "n": 1, "deleted": bool(key % 2)} for key in range(1, 6)]


def test_rerun_over_the_same_input_changes_nothing(wh: Warehouse) -> None:
    changes = [c("c", 100, 1), c("u", 200, 2, segment="enterprise"), c("d", 300, 3), c("c", 400, 4)]
    wh.publish_all(changes)
    wh.call(LOAD_CUSTOMER)
    before = wh.snapshot()
    wh.call(LOAD_CUSTOMER)  # nothing new
    assert wh.snapshot() == before
    wh.publish_all(changes)  # everything replayed at new offsets: only the watermark moves
    wh.call(LOAD_CUSTOMER)
    after = wh.snapshot()
    assert {k: v for k, v in after.items() if not k.startswith("staging.mv_") and k != "staging.load_watermark"} == {
        k: v for k, v in before.items() if not k.startswith("staging.mv_") and k != "staging.load_watermark"
    }


def test_type1_attributes_are_updated_on_every_version(wh: Warehouse) -> None:
    wh.publish_all([c("c", 100, 1, segment="consumer"), c("u", 200, 2, segment="enterprise")])
    wh.call(LOAD_CUSTOMER)
    wh.publish(c("u", 300, 3, segment="enterprise", email="renamed@example.com", phone="+1 555 0100"))
    wh.call(LOAD_CUSTOMER)
    rows = versions(wh, "dim_customer", 1, "segment", "email", "phone")
    assert [row[:3] for row in rows] == [
        ("consumer", "renamed@example.com", "+1 555 0100"),
        ("enterprise", "renamed@example.com", "+1 555 0100"),
    ]  # a type1-only change opens no version


def test_changes_in_one_transaction_show_only_their_end_state(wh: Warehouse) -> None:
    wh.publish_all(
        [
            c("c", 100, 1, segment="consumer"),
            c("u", 200, 2, segment="enterprise"),  # same commit time: one transaction
            c("u", 201, 2, segment="small_business"),
            c("u", 300, 3, segment="small_business", loyalty_tier="gold"),
            c("u", 400, 4, segment="consumer", loyalty_tier="gold"),
            c("u", 401, 4, segment="small_business", loyalty_tier="gold"),  # back to the state before, same tx
        ]
    )
    wh.call(LOAD_CUSTOMER)
    assert versions(wh, "dim_customer", 1, "segment", "loyalty_tier") == [
        ("consumer", None, at(1), at(2), False, False, 100),
        ("small_business", None, at(2), at(3), False, False, 201),
        ("small_business", "gold", at(3), OPEN, True, False, 300),
    ]


def test_versions_never_run_backwards_when_source_time_does(wh: Warehouse) -> None:
    # a snapshot row read at 10s, then a change committed at 5s that the slot streamed after the snapshot point
    wh.publish_all([c("r", 100, 10, segment="consumer"), c("u", 200, 5, segment="enterprise")])
    wh.publish(c("u", 300, 20, segment="consumer"))
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [
        ("enterprise", at(10), at(20), False, False, 200),
        ("consumer", at(20), OPEN, True, False, 300),
    ]
    assert_well_formed(wh, "dim_customer")


def test_tombstones_truncates_and_unparseable_values_are_skipped_and_the_watermark_moves(wh: Warehouse) -> None:
    wh.publish(c("c", 100, 1), partition=0)
    wh.append("customer", None, partition=0)  # tombstone after a delete
    wh.append("customer", b'{"before":null,"after":null,"source":{"lsn":5,"ts_us":1},"op":"t"}', partition=0)
    wh.append("customer", b'{"op":"c","after":{"email":"x"},"source":{"lsn":6,"ts_us":1}}', partition=0)  # no key
    wh.call(LOAD_CUSTOMER)
    assert segments(wh) == [("consumer", at(1), OPEN, True, False, 100)]
    watermark = wh.query("SELECT kafka_partition, kafka_offset FROM staging.load_watermark WHERE target = %s",
                         ("dim_customer",))  # fmt: skip
    assert watermark == [{"kafka_partition": 0, "kafka_offset": 3}]


def test_watermarks_are_per_procedure_and_partition(wh: Warehouse) -> None:
    wh.publish(c("c", 100, 1, 1), partition=0)
    wh.publish(c("c", 101, 1, 2), partition=1)
    wh.publish(c("u", 102, 2, 2, segment="enterprise"), partition=1)
    wh.call(LOAD_CUSTOMER)
    rows = wh.query("SELECT target, kafka_partition, kafka_offset FROM staging.load_watermark ORDER BY 1, 2")
    assert rows == [
        {"target": "dim_customer", "kafka_partition": 0, "kafka_offset": 0},
        {"target": "dim_customer", "kafka_partition": 1, "kafka_offset": 1},
    ]
    # rows at or below the watermark are not read again: remove the history and nothing comes back
    wh.conn.execute("DELETE FROM staging.customer_history")
    wh.call(LOAD_CUSTOMER)
    assert wh.query("SELECT COUNT(*) AS n FROM staging.customer_history") == [{"n": 0}]


def test_backfill_rows_feed_the_same_procedure_and_overlap_with_the_stream_is_ignored(wh: Warehouse) -> None:
    changes = [c("c", 100, 1), c("u", 200, 2, segment="enterprise"), c("u", 300, 3, loyalty_tier="gold")]
    # the landing zone holds the first two (Avro topic coordinates), the stream the last two
    wh.backfill([change.landing_row(0, offset) for offset, change in enumerate(changes[:2])], "customer")
    wh.publish_all(changes[1:])
    wh.call(LOAD_CUSTOMER)
    assert versions(wh, "dim_customer", 1, "segment", "loyalty_tier") == [
        ("consumer", None, at(1), at(2), False, False, 100),
        ("enterprise", None, at(2), at(3), False, False, 200),
        ("consumer", "gold", at(3), OPEN, True, False, 300),
    ]
    feeds = wh.query("SELECT source_lsn, feed FROM staging.customer_history ORDER BY source_lsn")
    assert [row["feed"] for row in feeds] == ["backfill", "stream", "stream"]  # the stream's copy wins a tie
    before = wh.snapshot()
    wh.call(LOAD_CUSTOMER)  # the backfill is read again but holds nothing new
    assert wh.snapshot() == before


def test_dim_product_keeps_price_history_and_overwrites_names(wh: Warehouse) -> None:
    def p(op: str, lsn: int, seconds: float, **values: Any) -> Change:
        return Change("product", op, product(5, **values), lsn=lsn, ts=at(seconds))  # type: ignore[arg-type]

    wh.publish_all(
        [
            p("c", 10, 1, unit_price=Decimal("10.00")),
            p("u", 20, 2, unit_price=Decimal("12.50")),
            p("u", 30, 3, unit_price=Decimal("12.50"), name="Renamed", description="long " * 100),
            p("u", 40, 4, unit_price=Decimal("12.50"), name="Renamed", active=False),
        ]
    )
    wh.call("staging.load_dim_product")
    rows = versions(wh, "dim_product", 5, "unit_price", "active", "name", "created_at")
    assert [row[:4] for row in rows] == [
        (Decimal("10.00"), True, "Renamed", at(0)),
        (Decimal("12.50"), True, "Renamed", at(0)),
        (Decimal("12.50"), False, "Renamed", at(0)),
    ]
    assert [row[4:] for row in rows] == [
        (at(1), at(2), False, False, 10),
        (at(2), at(4), False, False, 20),
        (at(4), OPEN, True, False, 40),
    ]
    assert_well_formed(wh, "dim_product")


def test_all_columns_arrive_typed(wh: Warehouse) -> None:
    wh.publish(c("c", 100, 1, phone="+49 30 1234", birth_date=date(1985, 12, 31), created_at=at(0.5)))
    wh.call(LOAD_CUSTOMER)
    (row,) = wh.query("SELECT * FROM analytics.dim_customer")
    assert row["birth_date"] == date(1985, 12, 31) and row["phone"] == "+49 30 1234"
    assert row["created_at"] == at(0.5) and row["source_updated_at"] == at(0)
    (history,) = wh.query("SELECT * FROM staging.customer_history")
    assert history["op"] == "c" and history["source_tx_id"] == 1 and history["source_ts"] == at(1)
