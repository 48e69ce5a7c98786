"""Property: however one change log arrives (interleaved, duplicated, late, spread over several runs), the SCD2
dimension after each run equals the history built by replaying what has arrived in source order.

The reference model below replays the log event by event, the way a person would describe SCD2: a change whose
type2 attributes or deletion state differ from the open version closes it and opens a new one; a change at the
same instant as the open version replaces it (that version was never visible on its own); type1 attributes of the
latest change describe every version; source time never runs backwards (running maximum).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.redshift.test_scd_support import (
    OPEN,
    T0,
    Change,
    Warehouse,
    assert_well_formed,
    customer,
    migrated_warehouse,
)

KEYS = (1, 2, 3)
SEGMENTS = ("consumer", "enterprise")
TIERS = (None, "gold")
EMAILS = ("a@example.com", "b@example.com")
Row = tuple[Any, ...]  # customer_id, segment, loyalty_tier, email, valid_from, valid_to, is_current, is_deleted, lsn


@dataclass(frozen=True)
class Event:
    key: int
    op: str
    segment: str
    tier: str | None
    email: str
    lsn: int
    ts: datetime

    def change(self) -> Change:
        row = customer(self.key, segment=self.segment, loyalty_tier=self.tier, email=self.email)
        return Change("customer", self.op, row, lsn=self.lsn, ts=self.ts)  # type: ignore[arg-type]


def replay(events: Sequence[Event]) -> list[Row]:
    """The reference model: the dimension rows a source-order replay of ``events`` gives."""
    rows: list[Row] = []
    for key in sorted({event.key for event in events}):
        log = sorted({event.lsn: event for event in events if event.key == key}.values(), key=lambda e: e.lsn)
        opened: list[tuple[tuple[Any, ...], datetime, int]] = []  # (state, valid_from, lsn)
        instant = datetime.min
        for event in log:
            instant = max(instant, event.ts)
            state = (event.segment, event.tier, event.op == "d")
            if opened and opened[-1][1] == instant:
                opened.pop()  # same instant as the open version: it never existed on its own
            if not opened or opened[-1][0] != state:
                opened.append((state, instant, event.lsn))
        latest_email = log[-1].email
        for index, ((segment, tier, deleted), valid_from, lsn) in enumerate(opened):
            last = index == len(opened) - 1
            valid_to = OPEN if last else opened[index + 1][1]
            rows.append((key, segment, tier, latest_email, valid_from, valid_to, last, deleted, lsn))
    return rows


@st.composite
def change_logs(draw: st.DrawFn) -> list[Event]:
    """A source-valid change log over a few keys: creates, updates, deletes, re-creates, shared instants."""
    alive: dict[int, bool] = {}
    events: list[Event] = []
    instant = T0
    for position in range(draw(st.integers(min_value=1, max_value=12))):
        key = draw(st.sampled_from(KEYS))
        if not alive.get(key, False):
            op = "r" if key not in alive and draw(st.booleans()) else "c"
        else:
            op = draw(st.sampled_from(("u", "u", "d")))
        alive[key] = op != "d"
        # 0 s: same transaction as the previous change; -1 s: a snapshot read after the commit that follows it
        instant = max(T0, instant + timedelta(seconds=draw(st.sampled_from((0, 1, 1, 2, -1)))))
        events.append(
            Event(
                key,
                op,
                draw(st.sampled_from(SEGMENTS)),
                draw(st.sampled_from(TIERS)),
                draw(st.sampled_from(EMAILS)),
                lsn=100 * (position + 1),
                ts=instant,
            )
        )
    return events


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[list[Event]]]:
    """A change log and how it arrives: spread over 1-4 runs, shuffled within each, some events duplicated."""
    log = draw(change_logs())
    runs = draw(st.integers(min_value=1, max_value=4))
    arrivals: list[list[Event]] = [[] for _ in range(runs)]
    for event in log:
        arrivals[draw(st.integers(min_value=0, max_value=runs - 1))].append(event)
        if draw(st.integers(min_value=0, max_value=4)) == 0:  # a replay, in the same or a later run
            arrivals[draw(st.integers(min_value=0, max_value=runs - 1))].append(event)
    return log, [draw(st.permutations(run)) for run in arrivals]


@pytest.fixture(scope="module")
def wh(stack_endpoints: dict[str, str]) -> Iterator[Warehouse]:
    with migrated_warehouse(stack_endpoints, "scdprop") as dsn, Warehouse.open(dsn) as warehouse:
        yield warehouse


def dimension(wh: Warehouse) -> list[Row]:
    rows = wh.conn.execute(
        "SELECT customer_id, segment, loyalty_tier, email, valid_from, valid_to, is_current, is_deleted, version_lsn "
        "FROM analytics.dim_customer ORDER BY customer_id, valid_from"
    ).fetchall()
    return [tuple(row) for row in rows]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=deliveries())
def test_any_arrival_order_gives_the_source_order_history(
    wh: Warehouse, plan: tuple[list[Event], list[list[Event]]]
) -> None:
    log, runs = plan
    wh.reset()
    arrived: list[Event] = []
    for run in runs:
        for event in run:
            wh.publish(event.change())
        arrived.extend(run)
        wh.call("staging.load_dim_customer")
        assert dimension(wh) == replay(arrived)
        assert_well_formed(wh, "dim_customer")
    assert {event.lsn for event in arrived} == {event.lsn for event in log}
    before = wh.snapshot()
    wh.call("staging.load_dim_customer")
    assert wh.snapshot() == before  # a re-run over the same input changes nothing


def test_the_reference_model_on_a_hand_worked_example() -> None:
    def e(op: str, lsn: int, seconds: int, segment: str = "consumer", email: str = "a@x") -> Event:
        return Event(1, op, segment, None, email, lsn, T0 + timedelta(seconds=seconds))

    t = [T0 + timedelta(seconds=s) for s in range(6)]
    log = [
        e("c", 1, 0),
        e("u", 2, 1, "enterprise"),
        e("u", 3, 1, "consumer"),  # same instant, back to the open state: no version at t1
        e("u", 4, 2, "enterprise"),
        e("d", 5, 3, "enterprise"),
        e("c", 6, 5, "enterprise", "b@x"),
    ]
    assert replay(list(reversed(log)) + log[:2]) == [
        (1, "consumer", None, "b@x", t[0], t[2], False, False, 1),
        (1, "enterprise", None, "b@x", t[2], t[3], False, False, 4),
        (1, "enterprise", None, "b@x", t[3], t[5], False, True, 5),
        (1, "enterprise", None, "b@x", t[5], OPEN, True, False, 6),
    ]
