"""Synthetic landing data for bench/batch.py: a retail source's change history, landed as the stream lands it.

A vectorised simulation (numpy, pyarrow; a few seconds per million changes) of the OLTP workload of
``producers/workload``: an initial snapshot (``op = 'r'``) of customers and products (the order tables start empty),
then a stream of transactions (about ``changes_per_hour`` over all six tables once orders are under way; shipping
and delivery follow an order by hours, so the first hours hold fewer):

* customers sign up (``c``), move house, change segment or loyalty tier (``u``, several per key over time), and
  some who never ordered close their account (``d``);
* products launch, are repriced or recategorised; some that are never ordered are discontinued, then deleted;
* orders are placed (the orders row and its 1-10 items in one transaction, items at the product's current price,
  customers that exist at that moment), some lose a line before payment (an item delete + the orders row), then
  go paid (payment insert), shipped (shipment insert), delivered (shipment update), each with the orders row's
  status update in the same transaction; unpaid or paid-but-unshipped orders may be cancelled (a paid one's payment
  refunded, and its payment row deleted later).

Every row passes the catalog's quality rules: values come from the allowed sets, amounts are non-negative, emails
and SKUs are unique, and no row that another table's live row references is ever deleted (only never-ordered
customers and products, payments of cancelled orders and removed order lines are). A delete carries its ``before``
image with ``_op = 'd'``.

The changes are put in source order (commit time, then transaction, then statement), numbered with strictly
increasing ``_lsn`` and the first N changes of the chosen tables kept: a consistent prefix of the source's history.
The landing files have exactly the streaming landing job's columns (``streaming.landing_schema``: the table's
columns, then ``_op``, ``_source_ts``, ``_lsn``, ``_tx_id``, ``_snapshot``, ``_schema_id``, the Kafka coordinates
- 3 partitions by key, offsets increasing in source order - and ``_ingested_at``), in
``landing/<table>/year=/month=/day=/hour=/part-*.c000.snappy.parquet`` by the UTC hour of ``_source_ts``, one sink
log batch per hour (``_spark_metadata/<n>``) listing that hour's files, at most ``max_rows_per_file`` rows each: the
zone as the landing job leaves it with a one-hour trigger, or as ``cdc lake compact`` leaves closed hours. The same
seed gives the same rows.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.lake import LakeLocation
from producers.workload import vocabulary
from schemas.catalog import Catalog, Table
from schemas.debezium import envelope_schema
from streaming.landing_schema import landing_schema

Frame = dict[str, np.ndarray]  # equally long columns: one row per change of one table
Rng = np.random.Generator

START: Final = datetime(2026, 2, 28, 18, 0, tzinfo=UTC)  # the snapshot starts here; the stream follows
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
START_US: Final = (START - EPOCH) // timedelta(microseconds=1)
SECOND: Final = 1_000_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
SNAPSHOT_US: Final = MINUTE  # customers are read in the snapshot's first half, products in its second
CHANGES_PER_ORDER: Final = 10.5  # about: all tables' changes per order placed, in the steady state
PARTITIONS: Final = 3  # of each table's topic
BASE_LSN: Final = 0x2A00_0000
BASE_TX: Final = 750_000
OPS: Final = ("r", "c", "u", "d")
R, C, U, D = range(4)
DEFAULT_MAX_ROWS_PER_FILE: Final = 250_000  # the landing job's maxRecordsPerFile

# Transaction kinds: the key of a transaction is kind * TX_SPAN + its index, so transactions of one instant keep a
# fixed order (inserts before the updates and deletes that may share their microsecond).
TX_SPAN: Final = 10**12
(
    TX_SNAPSHOT,
    TX_CUSTOMER_SIGNUP,
    TX_PRODUCT_LAUNCH,
    TX_ORDER_PLACED,
    TX_CUSTOMER_UPDATE,
    TX_PRODUCT_UPDATE,
    TX_LINE_REMOVED,
    TX_ORDER_PAID,
    TX_ORDER_SHIPPED,
    TX_ORDER_DELIVERED,
    TX_ORDER_CANCELLED,
    TX_REFUND_PURGED,
    TX_CUSTOMER_CLOSED,
    TX_PRODUCT_DISCONTINUED,
    TX_PRODUCT_DELETED,
) = range(15)

ORDER_STATUSES: Final = ("placed", "paid", "shipped", "delivered", "cancelled")
PLACED, PAID, SHIPPED, DELIVERED, CANCELLED = range(5)
PAYMENT_STATUSES: Final = ("captured", "refunded")
SHIPMENT_STATUSES: Final = ("in_transit", "delivered")
LINE_COUNTS: Final = ((1, 30), (2, 24), (3, 16), (4, 10), (5, 7), (6, 5), (7, 3), (8, 2), (9, 2), (10, 1))
QUANTITIES: Final = ((1, 70), (2, 18), (3, 7), (4, 3), (5, 2))
SUBCATEGORIES: Final = tuple((c, s) for c in vocabulary.CATEGORIES for s in c.subcategories)


class NotEnoughChanges(Exception):
    """The simulated horizon held fewer changes of the chosen tables than asked for (the caller widens it)."""


@dataclass(frozen=True)
class LandedTable:
    """What was written for one table: its files (relative to ``landing/<table>/``), rows and hour folders."""

    table: str
    files: tuple[str, ...]
    rows: int
    hours: int
    deletes: int


# --------------------------------------------------------------------------------------------------------------
# Small vectorised helpers


def weighted(rng: Rng, n: int, pairs: Sequence[tuple[object, float]]) -> np.ndarray:
    """``n`` indices into ``pairs`` drawn by weight."""
    weights = np.array([weight for _, weight in pairs], dtype=np.float64)
    return rng.choice(len(pairs), size=n, p=weights / weights.sum())


def delay(rng: Rng, n: int, mean_us: float, minimum_us: int = MINUTE) -> np.ndarray:
    """Waiting times of ``n`` events: at least ``minimum_us``, then exponential with mean ``mean_us``."""
    return minimum_us + rng.exponential(mean_us, n).astype(np.int64)


def forward_fill(values: np.ndarray, is_set: np.ndarray) -> np.ndarray:
    """Each position takes the value of the last position at or before it where ``is_set`` (the first must be)."""
    positions = np.where(is_set, np.arange(len(values)), 0)
    np.maximum.accumulate(positions, out=positions)
    return values[positions]


def concat(frames: Sequence[Frame]) -> Frame:
    names = frames[0].keys()
    return {name: np.concatenate([frame[name] for frame in frames]) for name in names}


def take(frame: Frame, index: np.ndarray) -> Frame:
    return {name: column[index] for name, column in frame.items()}


def events(n: int, t: np.ndarray, kind: int, op: int, seq: int | np.ndarray = 0, tx: np.ndarray | None = None) -> Frame:
    """The ordering columns every change has: time, transaction key, statement number in it, operation."""
    return {
        "t": t.astype(np.int64),
        "tx": kind * TX_SPAN + (np.arange(n, dtype=np.int64) if tx is None else tx.astype(np.int64)),
        "seq": np.broadcast_to(np.asarray(seq, dtype=np.int16), (n,)).copy(),
        "op": np.full(n, op, dtype=np.int8),
    }


def pick_existing(rng: Rng, since: np.ndarray, at: np.ndarray, skew: float = 1.0) -> np.ndarray:
    """For each instant of ``at``, an index into ``since`` (sorted: when each candidate came to exist) of one that
    existed then; ``skew`` > 1 favours older candidates. -1 where none existed."""
    count = np.searchsorted(since, at, side="right")
    chosen = np.floor(rng.random(len(at)) ** skew * count).astype(np.int64)
    return np.where(count > 0, np.minimum(chosen, count - 1), -1)


def strings(values: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def digits(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(values.astype(np.int64)).cast(pa.string()), width=width, padding="0")


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def decimal(cents: np.ndarray, null: np.ndarray | None = None, precision: int = 12) -> pa.Array:
    """Cents as DECIMAL(precision, 2): the 128-bit unscaled values written straight into an Arrow buffer."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    array = pa.Array.from_buffers(pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(words.tobytes())])
    if null is not None and null.any():
        array = pc.if_else(pa.array(null), pa.scalar(None, array.type), array)
    return array


def naive_time(offsets_us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """µs since START as naive UTC ``timestamp(us)`` (the catalog's ``timestamp`` columns)."""
    return pa.array(offsets_us + START_US, pa.int64(), mask=null).cast(pa.timestamp("us"))


def utc_time(offsets_us: np.ndarray) -> pa.Array:
    return pa.array(offsets_us + START_US, pa.int64()).cast(pa.timestamp("us", tz="UTC"))


# --------------------------------------------------------------------------------------------------------------
# The simulation: one frame of changes per table, in no particular order yet.


@dataclass
class Simulation:
    rng: Rng
    orders: int  # orders placed over the horizon
    horizon_us: int

    def run(self) -> dict[str, Frame]:
        products, price_at = self.products()
        customers, live_customers = self.customers()
        return {"customer": customers, "product": products, **self.order_flow(live_customers, price_at)}

    def stream_times(self, n: int) -> np.ndarray:
        return np.sort(self.rng.integers(SNAPSHOT_US, SNAPSHOT_US + self.horizon_us, n))

    # -- customers ----------------------------------------------------------------------------------------------

    def customers(self) -> tuple[Frame, tuple[np.ndarray, np.ndarray]]:
        """Customer changes, and (ids, since when) of the customers orders may reference (never deleted)."""
        rng = self.rng
        snapshot = max(50, self.orders // 2)
        signups = int(0.3 * self.orders)
        total = snapshot + signups
        ids = np.arange(1, total + 1, dtype=np.int64)
        since = np.concatenate([np.arange(snapshot) * (SNAPSHOT_US // 2) // snapshot, self.stream_times(signups)])
        created = np.concatenate([-rng.integers(DAY, 3 * 365 * DAY, snapshot), since[snapshot:]])
        closing = rng.random(total) < 0.08

        inserts = events(snapshot, since[:snapshot], TX_SNAPSHOT, R, tx=np.zeros(snapshot))
        inserts = concat([inserts, events(signups, since[snapshot:], TX_CUSTOMER_SIGNUP, C)])
        inserts |= {"index": np.arange(total), "updated": created.copy()}

        n = int(0.45 * self.orders)
        at = self.stream_times(n)
        who = pick_existing(rng, since, at, skew=1.5)
        kind = weighted(rng, n, (("moved", 4), ("segment", 2), ("loyalty", 3)))
        updates = events(n, at, TX_CUSTOMER_UPDATE, U) | {"index": who, "updated": at, "kind": kind}

        close_at = np.maximum(since, SNAPSHOT_US) + delay(rng, total, self.horizon_us / 2)
        closers = np.flatnonzero(closing)
        closes = events(len(closers), close_at[closers], TX_CUSTOMER_CLOSED, D) | {"index": closers}
        closes["updated"] = np.zeros(len(closers), dtype=np.int64)
        updates = take(updates, np.flatnonzero((who >= 0) & ~(closing[who] & (at >= close_at[who]))))

        inserts["kind"] = np.full(total, -1)
        closes["kind"] = np.full(len(closers), -2)
        frame = concat([inserts, updates, closes])
        frame = take(frame, np.lexsort((frame["op"], frame["t"], frame["index"])))  # per key, in time order
        m = len(frame["t"])
        fresh = frame["kind"] == -1
        moved = fresh | (frame["kind"] == 0)
        frame["updated"] = forward_fill(frame["updated"], frame["op"] != D)
        for name, size in (("number", 9899), ("street", len(vocabulary.STREET_NAMES))):
            frame[name] = forward_fill(rng.integers(0, size, m), moved)
        frame["suffix"] = forward_fill(rng.integers(0, len(vocabulary.STREET_SUFFIXES), m), moved)
        frame["unit"] = forward_fill(rng.integers(0, 400, m), moved)
        frame["place"] = forward_fill(rng.integers(0, len(vocabulary.PLACES), m), moved)
        frame["zip"] = forward_fill(rng.integers(0, 100, m), moved)
        segment_changed = fresh | (frame["kind"] == 1)
        frame["segment"] = forward_fill(weighted(rng, m, vocabulary.SEGMENTS), segment_changed)
        loyalty_changed = fresh | (frame["kind"] == 2)
        frame["loyalty"] = forward_fill(weighted(rng, m, vocabulary.LOYALTY_TIERS), loyalty_changed)

        # what never changes, per customer
        static = {
            "first": rng.integers(0, len(vocabulary.FIRST_NAMES), total),
            "last": rng.integers(0, len(vocabulary.LAST_NAMES), total),
            "domain": rng.integers(0, len(vocabulary.EMAIL_DOMAINS), total),
            "area": rng.integers(201, 989, total),
            "phone": rng.integers(0, 10_000_000, total),
            "no_phone": rng.random(total) < 0.125,
            "birth": rng.integers(-10_957, 13_513, total),  # days since 1970: born 1940-2006
            "no_birth": rng.random(total) < 0.17,
            "created": created,
            "id": ids,
        }
        frame |= take(static, frame["index"])
        live = np.flatnonzero(~closing)
        return frame, (ids[live], since[live])

    # -- products -----------------------------------------------------------------------------------------------

    def products(self) -> tuple[Frame, Callable[[np.ndarray], np.ndarray]]:
        """Product changes, and a lookup: (product index, price in cents then) of a sellable product picked for
        each instant given (bestsellers - the oldest products - more often)."""
        rng = self.rng
        snapshot = max(50, self.orders // 40)
        launches = int(0.04 * self.orders)
        total = snapshot + launches
        since = np.concatenate(
            [SNAPSHOT_US // 2 + np.arange(snapshot) * (SNAPSHOT_US // 2) // snapshot, self.stream_times(launches)]
        )
        sellable = rng.random(total) >= 0.08
        sub = rng.integers(0, len(SUBCATEGORIES), total)
        low = np.array([int(s.min_price * 100) for _, s in SUBCATEGORIES])[sub]
        high = np.array([int(s.max_price * 100) for _, s in SUBCATEGORIES])[sub]
        amount = low + (rng.random(total) * (high - low)).astype(np.int64)
        price = np.clip(amount // 100 * 100 + np.where(amount < 1000, 49, 99), low, high)  # ends in .99 (.49)
        static = {
            "id": np.arange(1, total + 1, dtype=np.int64),
            "created": np.concatenate([-rng.integers(DAY, 2 * 365 * DAY, snapshot), since[snapshot:]]),
            "first_sub": sub,
            "brand": rng.integers(0, 1_000_000, total),
            "adjective": rng.integers(0, len(vocabulary.PRODUCT_ADJECTIVES), total),
            "noun": rng.integers(0, 1_000_000, total),
            "color": rng.integers(0, len(vocabulary.PRODUCT_COLORS), total),
            "no_description": rng.random(total) < 0.1,
            "cost_share": rng.integers(45, 76, total),
            "no_cost": rng.random(total) < 0.05,
        }

        def changes(tx_kind: int, op: int, at: np.ndarray, index: np.ndarray, **values: np.ndarray) -> Frame:
            n = len(index)
            frame = events(n, at, tx_kind, op, tx=None if tx_kind != TX_SNAPSHOT else np.zeros(n)) | {"index": index}
            frame |= {"kind": np.full(n, -1), "price": np.full(n, -1), "factor": np.full(n, 100)}
            frame |= {"sub": np.zeros(n, dtype=np.int64), "active": np.ones(n, dtype=np.int8)}
            frame["updated"] = at if op != D else np.zeros(n, dtype=np.int64)
            return frame | values

        everything = np.arange(total)
        inserts = [
            changes(TX_SNAPSHOT, R, since[:snapshot], everything[:snapshot]),
            changes(TX_PRODUCT_LAUNCH, C, since[snapshot:], everything[snapshot:]),
        ]
        for frame in inserts:
            frame |= {"updated": static["created"][frame["index"]], "price": price[frame["index"]]}
            frame["sub"] = sub[frame["index"]]

        n = int(0.19 * self.orders)
        at = self.stream_times(n)
        which = pick_existing(rng, since, at)
        kind = weighted(rng, n, (("repriced", 3), ("recategorised", 1)))
        factor = rng.integers(85, 121, n)  # a new price 15 % below to 20 % above the current one
        updates = changes(TX_PRODUCT_UPDATE, U, at, which, kind=kind, factor=factor)
        updates["sub"] = rng.integers(0, len(SUBCATEGORIES), n)

        unsold = np.flatnonzero(~sellable)  # discontinued some time after their launch, most deleted later
        stop_at = np.maximum(since[unsold], SNAPSHOT_US) + delay(rng, len(unsold), self.horizon_us / 3)
        stops = changes(TX_PRODUCT_DISCONTINUED, U, stop_at, unsold, kind=np.full(len(unsold), 2))
        stops["active"] = np.zeros(len(unsold), dtype=np.int8)
        deleted = rng.random(len(unsold)) < 0.6
        gone_at = np.full(total, np.iinfo(np.int64).max)
        gone_at[unsold[deleted]] = stop_at[deleted] + delay(rng, int(deleted.sum()), self.horizon_us / 4)
        deletes = changes(TX_PRODUCT_DELETED, D, gone_at[unsold[deleted]], unsold[deleted])
        deletes["kind"] = np.full(len(deletes["t"]), -2)
        updates = take(updates, np.flatnonzero((which >= 0) & (at < gone_at[np.maximum(which, 0)])))

        frame = concat([*inserts, updates, stops, deletes])
        frame = take(frame, np.lexsort((frame["op"], frame["t"], frame["index"])))  # per key, in time order
        self._product_state(frame)
        frame |= take(static, frame["index"])
        return frame, self._price_lookup(frame, np.flatnonzero(sellable), since)

    @staticmethod
    def _product_state(frame: Frame) -> None:
        """Each change's full row image: the key's attributes as set by its latest change so far."""
        first = frame["kind"] == -1
        # each repricing multiplies the key's price so far: a running product, restarted at each key's insert
        log_factor = np.where(frame["kind"] == 0, np.log(frame["factor"] / 100), 0.0)
        running = np.cumsum(log_factor)
        running -= forward_fill(running - log_factor, first)
        frame["price"] = np.maximum(1, np.round(forward_fill(frame["price"], first) * np.exp(running))).astype(np.int64)
        frame["sub"] = forward_fill(frame["sub"], first | (frame["kind"] == 1))
        frame["active"] = forward_fill(frame["active"], first | (frame["kind"] == 2))
        frame["updated"] = forward_fill(frame["updated"], frame["op"] != D)

    def _price_lookup(
        self, frame: Frame, sellable: np.ndarray, since: np.ndarray
    ) -> Callable[[np.ndarray], np.ndarray]:
        span = int(frame["t"].max()) + 1
        position_key = frame["index"] * span + frame["t"]  # sorted: the frame is in (index, t) order
        sellable_since = since[sellable]
        prices = frame["price"]
        rng = self.rng

        def price_at(at: np.ndarray) -> np.ndarray:
            chosen = sellable[pick_existing(rng, sellable_since, at, skew=2.0)]
            position = np.searchsorted(position_key, chosen * span + at, side="right") - 1
            return np.stack([chosen, prices[position]])

        return price_at

    # -- orders, items, payments, shipments ---------------------------------------------------------------------

    def order_flow(
        self, live_customers: tuple[np.ndarray, np.ndarray], price_at: Callable[[np.ndarray], np.ndarray]
    ) -> dict[str, Frame]:
        """Orders and their items, payments and shipments; ``book`` holds one value per order, ``lines`` one per
        order line."""
        rng = self.rng
        n = self.orders
        placed = self.stream_times(n)
        customer_ids, customer_since = live_customers
        book: Frame = {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "placed": placed,
            "customer": customer_ids[pick_existing(rng, customer_since, placed)],
            "channel": weighted(rng, n, vocabulary.CHANNELS),
            "count": np.array([count for count, _ in LINE_COUNTS])[weighted(rng, n, LINE_COUNTS)],
        }
        owner = np.repeat(np.arange(n), book["count"])
        book["first_line"] = np.cumsum(book["count"]) - book["count"]
        product, unit = price_at(placed[owner])
        quantity = np.array([q for q, _ in QUANTITIES])[weighted(rng, len(owner), QUANTITIES)]
        gross = quantity * unit
        discount = np.where(rng.random(len(owner)) < 0.2, gross * rng.integers(5, 31, len(owner)) // 100, 0)
        lines: Frame = {
            "owner": owner,
            "line_no": np.arange(len(owner)) - book["first_line"][owner] + 1,
            "product": product,
            "quantity": quantity,
            "unit": unit,
            "discount": discount,
            "total": gross - discount,
        }
        book["total"] = np.bincount(owner, lines["total"], minlength=n).astype(np.int64)
        book["discount"] = np.bincount(owner, discount, minlength=n).astype(np.int64)
        self._life_cycle(book, lines)
        return {
            "orders": self._orders(book),
            "order_item": self._items(book, lines),
            "payment": self._payments(book),
            "shipment": self._shipments(book),
        }

    def _life_cycle(self, book: Frame, lines: Frame) -> None:
        """When each order takes each step (a flag per step says whether it does)."""
        rng, n, placed = self.rng, self.orders, book["placed"]
        book["paid"] = rng.random(n) < 0.9
        book["paid_at"] = placed + delay(rng, n, 30 * MINUTE)
        book["cancelled"] = ~book["paid"] & (rng.random(n) < 0.4)
        book["cancelled_at"] = placed + delay(rng, n, 2 * HOUR)
        book["shipped"] = book["paid"] & (rng.random(n) < 0.94)
        book["shipped_at"] = book["paid_at"] + delay(rng, n, 4 * HOUR)
        book["refunded"] = book["paid"] & ~book["shipped"] & (rng.random(n) < 0.8)
        book["refunded_at"] = book["paid_at"] + delay(rng, n, 3 * HOUR)
        book["purged"] = book["refunded"] & (rng.random(n) < 0.5)
        book["purged_at"] = book["refunded_at"] + delay(rng, n, 12 * HOUR)
        book["delivered"] = book["shipped"] & (rng.random(n) < 0.97)
        book["delivered_at"] = book["shipped_at"] + delay(rng, n, 12 * HOUR)
        # a line removed before the next step: the order's amounts change from then on
        next_step = np.where(
            book["paid"], book["paid_at"], np.where(book["cancelled"], book["cancelled_at"], placed + 20 * MINUTE)
        )
        book["removal"] = (book["count"] >= 2) & (rng.random(n) < 0.05)
        book["removal_at"] = placed + ((next_step - placed) * rng.uniform(0.2, 0.8, n)).astype(np.int64)
        book["last_line"] = book["first_line"] + book["count"] - 1
        removed = np.where(book["removal"], book["last_line"], 0)
        book["total_after"] = np.where(book["removal"], book["total"] - lines["total"][removed], book["total"])
        book["discount_after"] = np.where(
            book["removal"], book["discount"] - lines["discount"][removed], book["discount"]
        )

    @staticmethod
    def _orders(book: Frame) -> Frame:
        steps: list[Frame] = []
        for step, kind, status, op, seq in (
            ("placed", TX_ORDER_PLACED, PLACED, C, 0),
            ("removal", TX_LINE_REMOVED, PLACED, U, 1),
            ("paid", TX_ORDER_PAID, PAID, U, 1),
            ("shipped", TX_ORDER_SHIPPED, SHIPPED, U, 1),
            ("delivered", TX_ORDER_DELIVERED, DELIVERED, U, 1),
            ("cancelled", TX_ORDER_CANCELLED, CANCELLED, U, 0),
            ("refunded", TX_ORDER_CANCELLED, CANCELLED, U, 1),
        ):
            index = np.arange(len(book["id"])) if step == "placed" else np.flatnonzero(book[step])
            at = book[step if step == "placed" else f"{step}_at"][index]
            frame = events(len(index), at, kind, op, seq, tx=index) | {"index": index}
            frame["status"] = np.full(len(index), status, dtype=np.int8)
            after = book["removal"][index] & (at >= book["removal_at"][index])
            frame["total"] = np.where(after, book["total_after"][index], book["total"][index])
            frame["discount"] = np.where(after, book["discount_after"][index], book["discount"][index])
            steps.append(frame)
        orders = concat(steps)
        return orders | take({name: book[name] for name in ("id", "customer", "placed", "channel")}, orders["index"])

    @staticmethod
    def _items(book: Frame, lines: Frame) -> Frame:
        owner = lines["owner"]
        inserts = events(len(owner), book["placed"][owner], TX_ORDER_PLACED, C, lines["line_no"], tx=owner)
        removal = np.flatnonzero(book["removal"])
        deletes = events(len(removal), book["removal_at"][removal], TX_LINE_REMOVED, D, 0, tx=removal)
        items = concat([inserts | {"line": np.arange(len(owner))}, deletes | {"line": book["last_line"][removal]}])
        items |= take(lines, items["line"])
        items["order_id"] = book["id"][items["owner"]]
        return items

    def _payments(self, book: Frame) -> Frame:
        """Captured when the order is paid, refunded if it is cancelled before shipping, then maybe deleted."""
        payer = np.flatnonzero(book["paid"])
        payment_id = np.zeros(len(book["id"]), dtype=np.int64)  # ids in creation order, like a sequence
        payment_id[payer[np.argsort(book["paid_at"][payer], kind="stable")]] = np.arange(1, len(payer) + 1)
        method = weighted(self.rng, len(book["id"]), vocabulary.PAYMENT_METHODS)
        steps = []
        for step, kind, op in (
            ("paid", TX_ORDER_PAID, C),
            ("refunded", TX_ORDER_CANCELLED, U),
            ("purged", TX_REFUND_PURGED, D),
        ):
            index = np.flatnonzero(book[step])
            steps.append(events(len(index), book[f"{step}_at"][index], kind, op, 0, tx=index) | {"index": index})
        payments = concat(steps)
        who = payments["index"]
        payments["status"] = (payments["op"] != C).astype(np.int8)  # captured at first, refunded after
        payments |= {"id": payment_id[who], "order_id": book["id"][who], "method": method[who]}
        return payments | {"amount": book["total_after"][who], "paid_at": book["paid_at"][who]}

    def _shipments(self, book: Frame) -> Frame:
        """In transit when the order ships, delivered later."""
        sender = np.flatnonzero(book["shipped"])
        shipment_id = np.zeros(len(book["id"]), dtype=np.int64)
        shipment_id[sender[np.argsort(book["shipped_at"][sender], kind="stable")]] = np.arange(1, len(sender) + 1)
        carrier = weighted(self.rng, len(book["id"]), vocabulary.CARRIERS)
        tracking = self.rng.integers(0, 10**12, (len(book["id"]), 2))
        steps = []
        for step, kind, op in (("shipped", TX_ORDER_SHIPPED, C), ("delivered", TX_ORDER_DELIVERED, U)):
            index = np.flatnonzero(book[step])
            steps.append(events(len(index), book[f"{step}_at"][index], kind, op, 0, tx=index) | {"index": index})
        shipments = concat(steps)
        who = shipments["index"]
        shipments["status"] = (shipments["op"] == U).astype(np.int8)
        shipments |= {"id": shipment_id[who], "order_id": book["id"][who], "carrier": carrier[who]}
        shipments |= {"shipped_at": book["shipped_at"][who], "delivered_at": book["delivered_at"][who]}
        return shipments | {"tracking_a": tracking[who, 0], "tracking_b": tracking[who, 1]}


# --------------------------------------------------------------------------------------------------------------
# Rows: the landing columns of the changes kept, in source order.


def customer_columns(f: Frame) -> dict[str, pa.Array]:
    first = strings(vocabulary.FIRST_NAMES, f["first"])
    last = strings(vocabulary.LAST_NAMES, f["last"])
    local = pc.replace_substring(pc.utf8_lower(join(first, ".", last)), "'", "")
    local = pc.replace_substring(local, " ", "")
    email = join(local, pa.array(f["id"]).cast(pa.string()), "@", strings(vocabulary.EMAIL_DOMAINS, f["domain"]))
    phone = join("+1-", pa.array(f["area"]).cast(pa.string()), "-", digits(f["phone"] // 10_000, 3), "-")
    phone = join(phone, digits(f["phone"] % 10_000, 4))
    phone = pc.if_else(pa.array(f["no_phone"]), pa.scalar(None, pa.string()), phone)
    street = join(
        pa.array(f["number"] + 1).cast(pa.string()),
        " ",
        strings(vocabulary.STREET_NAMES, f["street"]),
        " ",
        strings(vocabulary.STREET_SUFFIXES, f["suffix"]),
    )
    unit = join(" ", strings(vocabulary.UNIT_PREFIXES, f["unit"] % 3), " ", pa.array(f["unit"] + 1).cast(pa.string()))
    street = pc.if_else(pa.array(f["unit"] < 60), join(street, unit), street)
    places = vocabulary.PLACES
    loyalty = [tier for tier, _ in vocabulary.LOYALTY_TIERS]
    return {
        "customer_id": pa.array(f["id"], pa.int64()),
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "birth_date": pa.array(f["birth"], pa.int32(), mask=f["no_birth"]).cast(pa.date32()),
        "segment": strings([s for s, _ in vocabulary.SEGMENTS], f["segment"]),
        "address_line1": street,
        "city": strings([p.city for p in places], f["place"]),
        "state": strings([p.state for p in places], f["place"]),
        "postal_code": join(strings([p.zip_prefix for p in places], f["place"]), digits(f["zip"], 2)),
        "country": pa.array(np.full(len(f["id"]), "US")),
        "loyalty_tier": pa.array(loyalty, pa.string()).take(pa.array(f["loyalty"])),
        "created_at": naive_time(f["created"]),
        "updated_at": naive_time(f["updated"]),
    }


def product_columns(f: Frame) -> dict[str, pa.Array]:
    category_of = np.array([vocabulary.CATEGORIES.index(c) for c, _ in SUBCATEGORIES])
    first_category = category_of[f["first_sub"]]
    brand_names = [brand for c in vocabulary.CATEGORIES for brand in c.brands]
    brand_offset = np.cumsum([0] + [len(c.brands) for c in vocabulary.CATEGORIES])
    brand_count = np.array([len(c.brands) for c in vocabulary.CATEGORIES])
    brand = strings(brand_names, brand_offset[first_category] + f["brand"] % brand_count[first_category])
    noun_names = [noun for _, s in SUBCATEGORIES for noun in s.nouns]
    noun_offset = np.cumsum([0] + [len(s.nouns) for _, s in SUBCATEGORIES])
    noun_count = np.array([len(s.nouns) for _, s in SUBCATEGORIES])
    noun = strings(noun_names, noun_offset[f["first_sub"]] + f["noun"] % noun_count[f["first_sub"]])
    adjective = strings(vocabulary.PRODUCT_ADJECTIVES, f["adjective"])
    color = strings(vocabulary.PRODUCT_COLORS, f["color"])
    codes = [f"{c.code}-{s.name[:3].upper()}-" for c, s in SUBCATEGORIES]
    description = join(
        "The ",
        pc.utf8_lower(adjective),
        " ",
        pc.utf8_lower(noun),
        " by ",
        brand,
        ". Available in ",
        pc.utf8_lower(color),
    )
    description = pc.if_else(pa.array(f["no_description"]), pa.scalar(None, pa.string()), description)
    cost = f["price"] * f["cost_share"] // 100
    return {
        "product_id": pa.array(f["id"], pa.int64()),
        "sku": join(strings(codes, f["first_sub"]), digits(f["id"], 7)),
        "name": join(brand, " ", adjective, " ", noun, ", ", color),
        "description": description,
        "category": strings([c.name for c, _ in SUBCATEGORIES], f["sub"]),
        "subcategory": strings([s.name for _, s in SUBCATEGORIES], f["sub"]),
        "brand": brand,
        "unit_price": decimal(f["price"]),
        "cost": decimal(cost, f["no_cost"]),
        "active": pa.array(f["active"].astype(bool)),
        "created_at": naive_time(f["created"]),
        "updated_at": naive_time(f["updated"]),
    }


def orders_columns(f: Frame) -> dict[str, pa.Array]:
    return {
        "order_id": pa.array(f["id"], pa.int64()),
        "customer_id": pa.array(f["customer"], pa.int64()),
        "order_ts": naive_time(f["placed"]),
        "status": strings(ORDER_STATUSES, f["status"]),
        "channel": strings([name for name, _ in vocabulary.CHANNELS], f["channel"]),
        "currency": pa.array(np.full(len(f["id"]), "USD")),
        "total_amount": decimal(f["total"]),
        "discount_amount": decimal(f["discount"]),
        "updated_at": naive_time(f["t"]),
    }


def order_item_columns(f: Frame) -> dict[str, pa.Array]:
    return {
        "order_id": pa.array(f["order_id"], pa.int64()),
        "line_no": pa.array(f["line_no"], pa.int32()),
        "product_id": pa.array(f["product"] + 1, pa.int64()),
        "quantity": pa.array(f["quantity"], pa.int32()),
        "unit_price": decimal(f["unit"]),
        "discount": decimal(f["discount"]),
    }


def payment_columns(f: Frame) -> dict[str, pa.Array]:
    return {
        "payment_id": pa.array(f["id"], pa.int64()),
        "order_id": pa.array(f["order_id"], pa.int64()),
        "method": strings([name for name, _ in vocabulary.PAYMENT_METHODS], f["method"]),
        "amount": decimal(f["amount"]),
        "status": strings(PAYMENT_STATUSES, f["status"]),
        "paid_at": naive_time(f["paid_at"]),
    }


def shipment_columns(f: Frame) -> dict[str, pa.Array]:
    carriers = [carrier for carrier, _ in vocabulary.CARRIERS]
    tracking = join(
        strings([c.tracking_prefix for c in carriers], f["carrier"]),
        digits(f["tracking_a"], 12),
        digits(f["tracking_b"], 12),
    )
    return {
        "shipment_id": pa.array(f["id"], pa.int64()),
        "order_id": pa.array(f["order_id"], pa.int64()),
        "carrier": strings([c.name for c in carriers], f["carrier"]),
        "tracking_no": tracking,
        "status": strings(SHIPMENT_STATUSES, f["status"]),
        "shipped_at": naive_time(f["shipped_at"]),
        "delivered_at": naive_time(f["delivered_at"], null=f["status"] == 0),
    }


COLUMNS: Final[Mapping[str, Callable[[Frame], dict[str, pa.Array]]]] = {
    "customer": customer_columns,
    "product": product_columns,
    "orders": orders_columns,
    "order_item": order_item_columns,
    "payment": payment_columns,
    "shipment": shipment_columns,
}
KEY_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "customer": ("id",),
    "product": ("id",),
    "orders": ("id",),
    "order_item": ("order_id", "line_no"),
    "payment": ("id",),
    "shipment": ("id",),
}


# --------------------------------------------------------------------------------------------------------------
# Putting it together


def generate(
    catalog: Catalog, tables: Sequence[str], changes: int, seed: int, changes_per_hour: int
) -> dict[str, pa.Table]:
    """The first ``changes`` changes of ``tables`` in source order, one Arrow table per table (landing columns,
    rows in source order). Widens the simulated horizon until it holds enough changes."""
    scale = 1.15
    for attempt in range(8):
        rng = np.random.default_rng([seed, attempt])
        hours = changes / changes_per_hour * scale
        orders = max(20, math.ceil(hours * changes_per_hour / CHANGES_PER_ORDER))
        horizon = int(hours * HOUR)
        frames = Simulation(rng, orders, horizon).run()
        try:
            return _landing_tables(catalog, tables, changes, frames, rng, SNAPSHOT_US + horizon)
        except NotEnoughChanges as exc:
            scale *= max(1.3, float(str(exc)) * 1.1)
    raise RuntimeError(f"could not simulate {changes} changes of {', '.join(tables)}")


def _landing_tables(
    catalog: Catalog, tables: Sequence[str], changes: int, frames: Mapping[str, Frame], rng: Rng, end_us: int
) -> dict[str, pa.Table]:
    """The first ``changes`` changes of ``tables`` as landing rows; NotEnoughChanges (with the shortfall as a
    factor) when the horizon ``[0, end_us)`` holds fewer (changes after it are only the tail of its orders)."""
    names = list(frames)
    codes = np.concatenate([np.full(len(frames[name]["t"]), code, dtype=np.int8) for code, name in enumerate(names)])
    local = np.concatenate([np.arange(len(frames[name]["t"])) for name in names])
    t = np.concatenate([frames[name]["t"] for name in names])
    tx = np.concatenate([frames[name]["tx"] for name in names])
    seq = np.concatenate([frames[name]["seq"] for name in names])
    order = np.lexsort((seq, tx, t))
    chosen = np.isin(codes[order], [names.index(name) for name in tables])
    counted = np.cumsum(chosen & (t[order] < end_us))
    if counted[-1] < changes:
        raise NotEnoughChanges(str(changes / max(1, counted[-1])))
    prefix = order[: int(np.searchsorted(counted, changes)) + 1]

    # source positions over the whole prefix (changes of tables not landed still used their LSNs)
    new_tx = np.ones(len(prefix), dtype=bool)
    new_tx[1:] = tx[prefix][1:] != tx[prefix][:-1]
    lsn = BASE_LSN + np.cumsum(rng.integers(56, 480, len(prefix)) + np.where(new_tx, 120, 0))
    tx_id = BASE_TX + np.cumsum(new_tx) * 4 - 4

    result: dict[str, pa.Table] = {}
    for name in tables:
        mine = codes[prefix] == names.index(name)
        frame = take(frames[name], local[prefix[mine]])
        table = catalog.table(name)
        schema_id = 1 + [t.name for t in catalog.tables].index(name)
        result[name] = _landing_table(table, schema_id, frame, lsn[mine], tx_id[mine], rng)
    return result


def _landing_table(
    table: Table, schema_id: int, frame: Frame, lsn: np.ndarray, tx_id: np.ndarray, rng: Rng
) -> pa.Table:
    n = len(lsn)
    schema = landing_schema(envelope_schema(table))
    columns = COLUMNS[table.name](frame)
    key = frame[KEY_COLUMNS[table.name][0]].astype(np.int64)
    if len(KEY_COLUMNS[table.name]) > 1:
        key = key * 31 + frame[KEY_COLUMNS[table.name][1]]
    partition = ((key * 2_654_435_761) >> 7) % PARTITIONS
    by_partition = np.argsort(partition, kind="stable")
    starts = np.searchsorted(partition[by_partition], np.arange(PARTITIONS))
    offset = np.empty(n, dtype=np.int64)
    offset[by_partition] = np.arange(n) - starts[partition[by_partition]]
    kafka_time = frame["t"] + rng.integers(3_000, 400_000, n)
    metadata = {
        "_op": strings(OPS, frame["op"]),
        "_source_ts": utc_time(frame["t"]),
        "_lsn": pa.array(lsn, pa.int64()),
        "_tx_id": pa.array(tx_id).cast(pa.string()),
        "_snapshot": pa.array(frame["op"] == R),
        "_schema_id": pa.array(np.full(n, schema_id, dtype=np.int32)),
        "_kafka_topic": pa.array(np.full(n, table.topic)),
        "_kafka_partition": pa.array(partition.astype(np.int32)),
        "_kafka_offset": pa.array(offset),
        "_kafka_timestamp": utc_time(kafka_time),
        "_ingested_at": utc_time(kafka_time + rng.integers(500_000, 6_000_000, n)),
    }
    fields = [pa.field(column.name, column.arrow_type) for column in (*schema.row, *schema.metadata)]
    arrays = [({**columns, **metadata})[f.name].cast(f.type) for f in fields]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def hour_folder(offset_us: int) -> str:
    """``year=/month=/day=/hour=`` of an instant (µs since START), unpadded as Spark writes it."""
    at = START + timedelta(microseconds=int(offset_us))
    return f"year={at.year}/month={at.month}/day={at.day}/hour={at.hour}"


def write_landing(
    location: LakeLocation,
    data: Mapping[str, pa.Table],
    *,
    seed: int,
    max_rows_per_file: int = DEFAULT_MAX_ROWS_PER_FILE,
) -> dict[str, LandedTable]:
    """Write each table's rows (in source order) as hour files plus one sink-log batch per hour; what was written."""
    names = np.random.default_rng([seed, 7])  # deterministic file names
    landed: dict[str, LandedTable] = {}
    for name, table in data.items():
        folder = Path(location.fs_path("landing", name))
        log = folder / "_spark_metadata"
        log.mkdir(parents=True, exist_ok=True)
        micros = table.column("_source_ts").cast(pa.int64()).to_numpy() - START_US
        hours = micros // HOUR
        bounds = np.flatnonzero(np.diff(hours)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(hours)]
        files: list[str] = []
        for batch, (start, end) in enumerate(zip(starts, ends, strict=True)):
            entries = []
            for part, first in enumerate(range(start, end, max_rows_per_file)):
                name_id = uuid.UUID(bytes=names.bytes(16), version=4)
                relative = f"{hour_folder(micros[start])}/part-{part:05d}-{name_id}.c000.snappy.parquet"
                path = folder / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(
                    table.slice(first, min(end, first + max_rows_per_file) - first), path, compression="snappy"
                )
                stat = path.stat()
                entries.append(
                    {
                        "path": "file://" + quote(str(path), safe="/="),  # as Spark logs it: '=' unescaped
                        "size": stat.st_size,
                        "isDir": False,
                        "modificationTime": int(stat.st_mtime * 1000),
                        "blockReplication": 1,
                        "blockSize": 33_554_432,
                        "action": "add",
                    }
                )
                files.append(relative)
            lines = [json.dumps(entry, separators=(",", ":")) for entry in entries]
            (log / str(batch)).write_text("\n".join(["v1", *lines]))
        ops = table.column("_op")
        landed[name] = LandedTable(
            table=name,
            files=tuple(files),
            rows=table.num_rows,
            hours=len(starts),
            deletes=int(pc.sum(pc.equal(ops, "d")).as_py() or 0),
        )
    return landed
