"""The warehouse end to end: workload → native capture → Avro topics → JSON bridge → local MV refresh → procedures
(`staging.run_all()` through the runner), twice with more source changes in between, then once more with nothing new.

Nothing is mocked: the source and warehouse databases, the broker and the schema registry are the stack's. The
expectations are computed independently of the warehouse SQL, from the source database and from the change events
as the capture published them (the Avro topics, read back with confluent-kafka's own deserializer):

* dim_customer's current rows equal the source ``customer`` table; a customer deleted at the source has a current
  row with ``is_deleted`` (ADR 0010 decision 6: a delete opens a version);
* every key of dim_customer and dim_product has exactly the versions its change log implies (ADR 0010 decision 6):
  in source-position order, the state reached by each source transaction; a version starts at the first one, where
  a type2 attribute differs from the previous state, at a delete and at a re-insert after it; ``valid_from`` = the
  commit time, ``valid_to`` = the next version's ``valid_from``; type1 attributes are the latest change's values on
  every version;
* fact_order_items holds one row per source order line (deleted lines and orders are gone) with the source's values
  and line_total, and its customer_key/product_key are the versions valid at ``order_ts`` (V006: the first version
  of a key also covers the time before it);
* a run with no new input changes nothing.

Besides the workload (random changes of every kind, including customer deletes), a scripted part adds what the
workload does not do on purpose: type1-only updates, two updates of one customer in one transaction (one net change,
one back and forth), orders stamped with the database clock *between* versions (so facts must pick later versions,
not just the first), a deleted customer with orders, a re-insert after a delete, deleted order lines and orders.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cli.warehouse_commands import template_parameters
from redshift.connections import PsycopgSession
from redshift.refresh import MvRefresher
from redshift.runner import RunReport, WarehouseRunner
from redshift.settings import RedshiftSettings
from schemas.catalog import Catalog, Column, Table
from tests.integration.redshift.test_bridge import run_bridge
from tests.integration.redshift.test_bridge_crash import wait_for_inactive_slots
from tests.support.kafka import Record, read_topics
from tests.support.landing import expected_value, populate, run_workload
from tests.support.running import InThread, native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

EPOCH = datetime(1970, 1, 1)
OPEN = datetime(9999, 12, 31)
NOW_UTC = "(clock_timestamp() AT TIME ZONE 'UTC')"  # the source's clock, as the naive UTC the columns hold
DIMENSIONS = ("customer", "product")
SCRIPTED_CUSTOMER = 1_000_000  # an id far above the workload's, so its sign-ups never reuse it after the delete


# --------------------------------------------------------------------------------------------------------------
# The source: scripted changes and waiting for the capture


class Source:
    """An autocommit connection to the source database; every scripted transaction records the WAL position it
    reached before committing (the capture acknowledges a transaction past that position)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.mark = 0

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self.conn.transaction():
            yield self.conn
            self.mark = self.value("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")

    def value(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return row[0]

    def customer(self, customer_id: int) -> dict[str, Any]:
        cursor = self.conn.execute("SELECT * FROM customer WHERE customer_id = %s", (customer_id,))
        names = [column.name for column in cursor.description or ()]
        row = cursor.fetchone()
        assert row is not None, customer_id
        return dict(zip(names, row, strict=True))

    def update_customer(self, customer_id: int, **values: Any) -> None:
        with self.transaction() as conn:
            self.change_customer(conn, customer_id, values)

    def change_customer(self, conn: psycopg.Connection[Any], customer_id: int, values: dict[str, Any]) -> None:
        assignments = [sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in values]
        assignments.append(sql.SQL("updated_at = " + NOW_UTC))  # type: ignore[arg-type]
        conn.execute(
            sql.SQL("UPDATE customer SET {} WHERE customer_id = %s").format(sql.SQL(", ").join(assignments)),
            (*values.values(), customer_id),
        )

    def place_order(self, customer_id: int, products: list[int]) -> int:
        """An order stamped with the source clock (so after every change committed before it), lines at the
        products' current prices; items and order in one transaction, like the workload."""
        with self.transaction() as conn:
            order_id = int(self.value("SELECT COALESCE(MAX(order_id), 0) + 1 FROM orders"))
            for line_no, product_id in enumerate(products, start=1):
                conn.execute(
                    "INSERT INTO order_item (order_id, line_no, product_id, quantity, unit_price, discount) "
                    "SELECT %s, %s, product_id, %s, unit_price, 0.50 FROM product WHERE product_id = %s",
                    (order_id, line_no, line_no + 1, product_id),
                )
            conn.execute(
                "INSERT INTO orders (order_id, customer_id, order_ts, status, channel, currency, total_amount, "
                f"discount_amount, updated_at) SELECT %s, %s, t, 'placed', 'web', 'USD', "
                "(SELECT SUM(quantity * unit_price - discount) FROM order_item WHERE order_id = %s), 0, t "
                f"FROM (SELECT {NOW_UTC} AS t) AS now",
                (order_id, customer_id, order_id),
            )
        return order_id


@dataclass
class Scripted:
    """The ids the scripted changes used, for the targeted assertions."""

    moved: int = 0  # type1-only updates, then a segment change, an order, a move, another order, ...
    net_change: int = 0  # two segment updates in one transaction
    back_and_forth: int = 0  # a loyalty tier changed and changed back in one transaction
    deleted: int = 0  # an existing customer deleted
    reinserted: int = SCRIPTED_CUSTOMER  # inserted, ordered, deleted; later re-inserted as it was, ordered again
    reinserted_row: dict[str, Any] = field(default_factory=dict)
    repriced: int = 0  # a product repriced between the two orders of `moved`
    first_order: int = 0
    second_order: int = 0
    order_of_deleted: int = 0
    order_after_reinsert: int = 0


def scripted_changes_1(source: Source) -> Scripted:
    customers = [row[0] for row in source.conn.execute("SELECT customer_id FROM customer ORDER BY customer_id LIMIT 4")]
    products = [
        row[0] for row in source.conn.execute("SELECT product_id FROM product WHERE active ORDER BY product_id LIMIT 2")
    ]
    done = Scripted(
        moved=customers[0],
        net_change=customers[1],
        back_and_forth=customers[2],
        deleted=customers[3],
        repriced=products[0],
    )
    # type1 only: no new version
    source.update_customer(done.moved, email="moved@e2e.example", phone="+1-555-0100")
    source.update_customer(done.moved, segment="e2e_gold")
    done.first_order = source.place_order(done.moved, products)
    source.update_customer(done.moved, city="E2E City", state="E2", postal_code="00001")
    with source.transaction() as conn:
        conn.execute("UPDATE product SET unit_price = unit_price + 1 WHERE product_id = %s", (done.repriced,))
    done.second_order = source.place_order(done.moved, products)
    with source.transaction() as conn:  # a deleted line
        conn.execute("DELETE FROM order_item WHERE order_id = %s AND line_no = 2", (done.second_order,))
    source.update_customer(done.moved, segment="e2e_gold")  # the same value: only updated_at (type1) changes

    with source.transaction() as conn:
        source.change_customer(conn, done.net_change, {"segment": "e2e_b1"})
        source.change_customer(conn, done.net_change, {"segment": "e2e_b2"})
    tier = source.customer(done.back_and_forth)["loyalty_tier"]
    with source.transaction() as conn:
        source.change_customer(conn, done.back_and_forth, {"loyalty_tier": "e2e_c"})
        source.change_customer(conn, done.back_and_forth, {"loyalty_tier": tier})

    with source.transaction() as conn:
        conn.execute(
            "INSERT INTO customer SELECT %s, 'new@e2e.example', first_name, last_name, phone, birth_date, "
            f"'consumer', address_line1, city, state, postal_code, country, NULL, {NOW_UTC}, {NOW_UTC} "
            "FROM customer WHERE customer_id = %s",
            (done.reinserted, done.deleted),
        )
    done.order_of_deleted = source.place_order(done.reinserted, products[:1])
    done.reinserted_row = source.customer(done.reinserted)
    with source.transaction() as conn:
        conn.execute("DELETE FROM customer WHERE customer_id IN (%s, %s)", (done.reinserted, done.deleted))
    return done


def scripted_changes_2(source: Source, done: Scripted) -> None:
    # back with the type2 attributes it was deleted with (the re-insert alone opens the version), a new email
    row = {**done.reinserted_row, "email": "back@e2e.example"}
    with source.transaction() as conn:
        conn.execute(
            sql.SQL("INSERT INTO customer ({}) VALUES ({})").format(
                sql.SQL(", ").join(sql.Identifier(name) for name in row),
                sql.SQL(", ").join(sql.Placeholder() for _ in row),
            ),
            tuple(row.values()),
        )
    done.order_after_reinsert = source.place_order(done.reinserted, [done.repriced])
    source.update_customer(done.moved, loyalty_tier="e2e_platinum")  # versions of a key with facts: re-resolved
    with source.transaction() as conn:  # a whole order deleted
        conn.execute("DELETE FROM order_item WHERE order_id = %s", (done.order_of_deleted,))
        conn.execute("DELETE FROM orders WHERE order_id = %s", (done.order_of_deleted,))
    with source.transaction() as conn:  # a line updated
        conn.execute(
            "UPDATE order_item SET quantity = quantity + 2 WHERE order_id = %s AND line_no = 1", (done.first_order,)
        )


def wait_captured(capture: InThread, dsn: str, position: int, timeout: float = 120.0) -> None:
    """Until the capture confirmed the source position (it confirms only what Kafka acknowledged)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            if capture.error is not None:
                raise capture.error
            row = conn.execute(
                "SELECT MAX(confirmed_flush_lsn - '0/0'::pg_lsn) FROM pg_replication_slots "
                "WHERE database = current_database()"
            ).fetchone()
            if row is not None and row[0] is not None and int(row[0]) > position:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the capture did not confirm position {position} (at {row})")
            time.sleep(0.2)


# --------------------------------------------------------------------------------------------------------------
# What the change events imply (independent of the warehouse SQL)


@dataclass(frozen=True)
class Version:
    valid_from: datetime
    valid_to: datetime
    is_current: bool
    is_deleted: bool
    version_lsn: int
    type2: tuple[Any, ...]
    type1: tuple[Any, ...]


# Per dimension: the versions per key the change log implies, and (surrogate key, version) per key in the warehouse.
Found = tuple[dict[int, list[Version]], dict[int, list[tuple[int, Version]]]]


@dataclass(frozen=True)
class Event:
    lsn: int
    committed: datetime
    op: str
    image: dict[str, Any]


def events_by_key(table: Table, records: list[Record]) -> dict[int, list[Event]]:
    """The table's change events per key in source-position order (tombstones aside)."""
    key = table.primary_key[0]
    events: dict[int, list[Event]] = defaultdict(list)
    for record in records:
        if record.topic != table.topic or record.value is None:
            continue
        value = record.value
        image = value["before"] if value["op"] == "d" else value["after"]
        source = value["source"]
        committed = EPOCH + timedelta(microseconds=source["ts_us"])
        events[image[key]].append(Event(source["lsn"], committed, value["op"], image))
    for changes in events.values():
        changes.sort(key=lambda event: event.lsn)
        lsns = [event.lsn for event in changes]
        assert len(set(lsns)) == len(lsns), f"two changes of one key at one source position: {changes}"
    return events


def values_of(columns: tuple[Column, ...], image: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(expected_value(column, image[column.name]) for column in columns)


def expected_versions(table: Table, events: dict[int, list[Event]]) -> dict[int, list[Version]]:
    """Per key, the versions ADR 0010 decision 6 implies. Changes committed together (one transaction: the same
    commit time) are one step, the state after the last of them; the SQL keeps commit times from running
    backwards along source positions, and so does this (it never happens within one key in practice)."""
    type2, type1 = table.scd_columns(2), table.scd_columns(1)
    result: dict[int, list[Version]] = {}
    for key, changes in events.items():
        steps: list[tuple[datetime, Event]] = []
        for event in changes:
            at = max(event.committed, steps[-1][0]) if steps else event.committed
            if steps and steps[-1][0] == at:
                steps[-1] = (at, event)
            else:
                steps.append((at, event))
        starts: list[tuple[datetime, Event]] = []
        previous: tuple[bool, tuple[Any, ...]] | None = None
        for at, event in steps:
            state = (event.op == "d", values_of(type2, event.image))
            if state != previous:
                starts.append((at, event))
            previous = state
        latest = values_of(type1, changes[-1].image)
        versions = []
        for number, (at, event) in enumerate(starts):
            valid_to = starts[number + 1][0] if number + 1 < len(starts) else OPEN
            versions.append(
                Version(
                    at, valid_to, valid_to == OPEN, event.op == "d", event.lsn, values_of(type2, event.image), latest
                )
            )
        result[key] = versions
    return result


# --------------------------------------------------------------------------------------------------------------
# What the warehouse holds


def dim_column(column: Column) -> str:
    """The dimension's name for a source column (the source's updated_at is kept as source_updated_at)."""
    return "source_updated_at" if column.name == "updated_at" else column.name


def dimension_rows(wh: psycopg.Connection[Any], table: Table) -> dict[int, list[tuple[int, Version]]]:
    """Per natural key, (surrogate key, version) in valid_from order."""
    assert table.dimension is not None
    key = table.primary_key[0]
    type2, type1 = table.scd_columns(2), table.scd_columns(1)
    columns = [
        table.dimension.name.removeprefix("dim_") + "_key",
        key,
        "valid_from",
        "valid_to",
        "is_current",
        "is_deleted",
        "version_lsn",
        *(dim_column(c) for c in type2),
        *(dim_column(c) for c in type1),
    ]
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}, valid_from").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier("analytics", table.dimension.name),
        sql.Identifier(key),
    )
    rows: dict[int, list[tuple[int, Version]]] = defaultdict(list)
    for row in wh.execute(query):
        surrogate, natural, valid_from, valid_to, is_current, is_deleted, lsn = row[:7]
        attributes = row[7:]
        rows[natural].append(
            (
                surrogate,
                Version(
                    valid_from,
                    valid_to,
                    is_current,
                    is_deleted,
                    lsn,
                    tuple(attributes[: len(type2)]),
                    tuple(attributes[len(type2) :]),
                ),
            )
        )
    return rows


def version_at(versions: list[Version], moment: datetime) -> int:
    """The index of the version valid at ``moment``; the first version also covers the time before it (V006)."""
    for number, version in enumerate(versions):
        if version.valid_from <= moment < version.valid_to:
            return number
    assert moment < versions[0].valid_from, (moment, versions)
    return 0


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every staging and analytics table."""
    with psycopg.connect(dsn) as conn:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'analytics') AND table_type = 'BASE TABLE' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": sorted(
                conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, name))).fetchall(), key=repr
            )
            for schema, name in names
        }


# --------------------------------------------------------------------------------------------------------------
# The checks


def check_run(report: RunReport) -> None:
    assert report.ok, report.summary()
    assert [call.name for call in report.procedures] == ["staging.run_all"]
    checked = {(check.relation, check.name) for check in report.checks}
    assert {
        ("analytics.dim_customer", "one current row per key"),
        ("analytics.dim_customer", "no overlapping validity"),
        ("analytics.dim_product", "one current row per key"),
        ("analytics.dim_product", "no overlapping validity"),
        ("analytics.fact_order_items", "no orphan customer_key"),
        ("analytics.fact_order_items", "no orphan product_key"),
    } <= checked, checked


def check_dimensions(
    catalog: Catalog, records: list[Record], source: Source, wh: psycopg.Connection[Any]
) -> dict[str, Found]:
    """Current rows against the source, then every key's versions against its change log; returns both."""
    found = {}
    for name in DIMENSIONS:
        table = catalog.table(name)
        events = events_by_key(table, records)
        expected = expected_versions(table, events)
        actual = dimension_rows(wh, table)

        # The capture's view of the source: the last image of each live key is the source row.
        source_rows = {
            row[0]: row
            for row in source.conn.execute(
                sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns), sql.Identifier(name)
                )
            )
        }
        assert {k for k, changes in events.items() if changes[-1].op != "d"} == set(source_rows)
        stale = [k for k, row in source_rows.items() if values_of(table.columns, events[k][-1].image) != row]
        assert stale == [], f"{name}: the capture's last images differ from the source for {stale[:5]}"

        # Current rows: the live ones equal the source, row for row; the others are deletions of captured keys.
        current = {k: [v for _, v in versions if v.is_current] for k, versions in actual.items()}
        assert all(len(rows) == 1 for rows in current.values()), name
        live = {k: rows[0] for k, rows in current.items() if not rows[0].is_deleted}
        deleted = {k for k, rows in current.items() if rows[0].is_deleted}
        assert set(live) == set(source_rows), (name, set(live) ^ set(source_rows))
        assert deleted == {k for k, changes in events.items() if changes[-1].op == "d"}, name
        type2, type1 = table.scd_columns(2), table.scd_columns(1)
        positions = {column.name: number for number, column in enumerate(table.columns)}
        mismatched = [
            (k, row, live[k])
            for k, row in source_rows.items()
            if (
                tuple(row[positions[c.name]] for c in type2) != live[k].type2
                or tuple(row[positions[c.name]] for c in type1) != live[k].type1
            )
        ]
        assert mismatched == [], f"{name}: {len(mismatched)} current rows differ from the source: {mismatched[:3]}"

        # History: per key, as many versions as distinct consecutive type2 states (deletes and re-inserts
        # included), then each version exactly.
        counts = {k: len(v) for k, v in actual.items()}
        wrong = {k: (counts.get(k), len(v)) for k, v in expected.items() if counts.get(k) != len(v)}
        assert set(counts) == set(expected), name
        assert wrong == {}, f"{name}: version counts (warehouse, expected) differ for {len(wrong)} keys: {wrong}"
        differing = [
            (k, [v for _, v in actual[k]], versions)
            for k, versions in expected.items()
            if [v for _, v in actual[k]] != versions
        ]
        assert differing == [], f"{name}: {len(differing)} keys' versions differ, e.g. {differing[:2]}"
        assert sum(len(v) for v in expected.values()) > len(expected) + 10, f"too little {name} history to test"
        found[name] = (expected, actual)
    return found


def check_facts(
    versions: dict[str, Found],
    source: Source,
    wh: psycopg.Connection[Any],
) -> dict[tuple[int, int], tuple[Any, ...]]:
    """Fact lines against the source lines; keys against the versions valid at order_ts. Returns the lines by
    (order_id, line_no) as (customer_key, product_key, order_ts)."""
    source_lines = {
        (row[0], row[1]): row[2:]
        for row in source.conn.execute(
            "SELECT i.order_id, i.line_no, o.customer_id, i.product_id, o.order_ts, o.status, o.channel, o.currency, "
            "i.quantity, i.unit_price, i.discount FROM order_item i JOIN orders o ON o.order_id = i.order_id"
        )
    }
    assert len(source_lines) == source.value("SELECT COUNT(*) FROM order_item")  # every line has its order
    facts = {
        (row[0], row[1]): row[2:]
        for row in wh.execute(
            "SELECT order_id, line_no, customer_id, product_id, order_ts, order_status, channel, currency, "
            "quantity, unit_price, discount, line_total, customer_key, product_key FROM analytics.fact_order_items"
        )
    }
    assert wh.execute("SELECT COUNT(*) FROM analytics.fact_order_items").fetchone() == (len(source_lines),)
    assert set(facts) == set(source_lines), set(facts) ^ set(source_lines)
    wrong_values = [(k, facts[k], v) for k, v in source_lines.items() if facts[k][:9] != v]
    assert wrong_values == [], wrong_values[:3]
    wrong_totals = [(k, f[9]) for k, f in facts.items() if f[9] != (f[6] * f[7] - f[8]).quantize(Decimal("0.01"))]
    assert wrong_totals == [], wrong_totals[:3]
    source_total = source.value("SELECT SUM(quantity * unit_price - discount) FROM order_item")
    assert wh.execute("SELECT SUM(line_total) FROM analytics.fact_order_items").fetchone() == (source_total,)

    customer_expected, customer_rows = versions["customer"]
    product_expected, product_rows = versions["product"]
    by_key = {
        "customer": {s: (k, v) for k, rows in customer_rows.items() for s, v in rows},
        "product": {s: (k, v) for k, rows in product_rows.items() for s, v in rows},
    }
    wrong_keys: list[tuple[Any, ...]] = []
    later_versions = 0
    for line, fact in facts.items():
        customer_id, product_id, order_ts = fact[:3]
        customer_key, product_key = fact[10:12]
        for dimension, natural, surrogate, expected, rows in (
            ("customer", customer_id, customer_key, customer_expected, customer_rows),
            ("product", product_id, product_key, product_expected, product_rows),
        ):
            number = version_at(expected[natural], order_ts)
            later_versions += number > 0
            # the version the change log says was valid at order_ts ...
            if surrogate != rows[natural][number][0]:
                wrong_keys.append((line, dimension, surrogate, number, rows[natural]))
            # ... and, read directly, the row the key points to is the key's version covering order_ts
            pointed = by_key[dimension].get(surrogate)
            first = rows[natural][0][0] == surrogate
            if (
                pointed is None
                or pointed[0] != natural
                or not order_ts < pointed[1].valid_to
                or not (first or pointed[1].valid_from <= order_ts)
            ):
                wrong_keys.append((line, dimension, surrogate, pointed))
    assert wrong_keys == [], f"{len(wrong_keys)} wrong dimension keys, e.g. {wrong_keys[:3]}"
    assert later_versions > 0, "every fact resolves to a first version: the test would not tell versions apart"
    return {line: (fact[10], fact[11], fact[2]) for line, fact in facts.items()}


def attributes(
    versions: dict[str, Found],
    catalog: Catalog,
    key: int,
) -> list[dict[str, Any]]:
    """dim_customer versions of one customer as dicts of their type2 attributes plus is_deleted."""
    names = [column.name for column in catalog.table("customer").scd_columns(2)]
    return [
        {**dict(zip(names, version.type2, strict=True)), "is_deleted": version.is_deleted, "surrogate": surrogate}
        for surrogate, version in versions["customer"][1][key]
    ]


def check_scripted(
    versions: dict[str, Found],
    facts: dict[tuple[int, int], tuple[Any, ...]],
    catalog: Catalog,
    done: Scripted,
    *,
    second_phase: bool,
) -> None:
    """The scripted cases, spelled out (the workload may change the same keys later, never earlier)."""
    moved = attributes(versions, catalog, done.moved)
    gold = [v for v in moved if v["segment"] == "e2e_gold" and v["city"] != "E2E City"]
    gold_moved = [v for v in moved if v["segment"] == "e2e_gold" and v["city"] == "E2E City"]
    assert len(gold) == 1 and len(gold_moved) >= 1, moved
    if not second_phase:  # type1-only and same-value updates added no version
        assert moved[-2:] == [gold[0], gold_moved[0]], moved
    assert facts[(done.first_order, 1)][0] == gold[0]["surrogate"]
    assert facts[(done.first_order, 2)][0] == gold[0]["surrogate"]
    assert facts[(done.second_order, 1)][0] == gold_moved[0]["surrogate"]
    assert (done.second_order, 2) not in facts  # the deleted line
    products = versions["product"][1][done.repriced]
    assert facts[(done.first_order, 1)][1] != facts[(done.second_order, 1)][1]  # repriced in between
    assert facts[(done.second_order, 1)][1] in {surrogate for surrogate, _ in products[1:]}

    net = attributes(versions, catalog, done.net_change)
    assert [v["segment"] for v in net].count("e2e_b2") >= 1 and "e2e_b1" not in [v["segment"] for v in net]
    assert "e2e_c" not in [v["loyalty_tier"] for v in attributes(versions, catalog, done.back_and_forth)]
    assert attributes(versions, catalog, done.deleted)[-1]["is_deleted"]

    reinserted = attributes(versions, catalog, done.reinserted)
    if not second_phase:
        assert [v["is_deleted"] for v in reinserted] == [False, True]
        assert facts[(done.order_of_deleted, 1)][0] == reinserted[0]["surrogate"]
        return
    assert [v["is_deleted"] for v in reinserted] == [False, True, False]
    assert {**reinserted[2], "surrogate": 0} == {**reinserted[0], "surrogate": 0}
    assert facts[(done.order_after_reinsert, 1)][0] == reinserted[2]["surrogate"]
    assert (done.order_of_deleted, 1) not in facts  # the deleted order
    assert "e2e_platinum" in [v["loyalty_tier"] for v in moved]


# --------------------------------------------------------------------------------------------------------------
# The test


def test_workload_to_warehouse_end_to_end(stack_endpoints: dict[str, str], tmp_path: Path) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    catalog, catalog_path = catalog_copy(tmp_path)
    bootstrap = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    group = f"e2e-{uuid.uuid4().hex[:8]}"

    with (
        isolated_database(stack_endpoints["SOURCE_DSN"], "e2e") as source_dsn,
        isolated_database(stack_endpoints["WAREHOUSE_DSN"], "e2ewh") as warehouse_dsn,
    ):
        create_source_tables(source_dsn, catalog)
        populate(source_dsn, catalog_path, customers=120, products=40, orders=120)
        source = Source(source_dsn)
        slot = f"cdc_{group.replace('-', '_')}"  # slot names are per server: unique, like the topics
        capture = native_capture(source_dsn, catalog, stack_endpoints, tmp_path / "state.json", slot=slot, partitions=2)
        refresher_conn = psycopg.connect(warehouse_dsn, autocommit=True)
        wh = psycopg.connect(warehouse_dsn, autocommit=True)
        try:
            capture.wait_for(events=1)
            runner = WarehouseRunner(
                connect=lambda: PsycopgSession.connect(warehouse_dsn),
                dialect="postgres",
                catalog=catalog,
                parameters=template_parameters(RedshiftSettings(dialect="postgres"), catalog, bootstrap, None),
            )
            assert runner.parameters["customer_topic"] == f'"{catalog.table("customer").topic}.json"'
            assert runner.migrate().applied and runner.status().pending == []
            refresher = MvRefresher(refresher_conn, {"bootstrap.servers": bootstrap}, catalog)
            timings["setup"] = time.monotonic() - started

            def load(name: str) -> tuple[RunReport, list[Record]]:
                """Capture confirmed everything → bridge to idle → one warehouse run; the Avro events."""
                mark = time.monotonic()
                wait_captured(capture, source_dsn, source.mark)
                timings[f"capture {name}"] = time.monotonic() - mark
                progress = run_bridge(stack_endpoints, catalog_path, tmp_path, group=group, stop_when_idle=0.5)
                assert progress.written > 0 and progress.dead_letters == 0
                timings[f"capture+bridge {name}"] = time.monotonic() - mark
                mark = time.monotonic()
                report = runner.run_once(lambda: refresher.refresh().summary())
                timings[f"warehouse {name}"] = time.monotonic() - mark
                check_run(report)
                mark = time.monotonic()
                topics = [catalog.table(table).topic for table in DIMENSIONS]
                records = read_topics(bootstrap, stack_endpoints["SCHEMA_REGISTRY_URL"], topics)
                timings[f"read {name}"] = time.monotonic() - mark
                return report, records

            # Run 1: the snapshot, a first workload and the scripted changes.
            mark = time.monotonic()
            run_workload(source_dsn, catalog_path, changes=700, seed=11)
            done = scripted_changes_1(source)
            timings["source 1"] = time.monotonic() - mark
            _, records = load("1")
            mark = time.monotonic()
            versions = check_dimensions(catalog, records, source, wh)
            facts = check_facts(versions, source, wh)
            check_scripted(versions, facts, catalog, done, second_phase=False)
            timings["checks 1"] = time.monotonic() - mark
            first_keys = {
                name: {k: [s for s, _ in rows] for k, rows in versions[name][1].items()} for name in DIMENSIONS
            }

            # Run 2, incremental: more workload, and scripted changes to keys the warehouse holds already.
            mark = time.monotonic()
            run_workload(source_dsn, catalog_path, changes=600, seed=23)
            scripted_changes_2(source, done)
            timings["source 2"] = time.monotonic() - mark
            _, records = load("2")
            mark = time.monotonic()
            versions = check_dimensions(catalog, records, source, wh)
            facts = check_facts(versions, source, wh)
            check_scripted(versions, facts, catalog, done, second_phase=True)
            timings["checks 2"] = time.monotonic() - mark
            for name in DIMENSIONS:  # versions seen before keep their surrogate keys; new ones come after them
                now = {k: [s for s, _ in rows] for k, rows in versions[name][1].items()}
                moved = [k for k, keys in first_keys[name].items() if now[k][: len(keys)] != keys]
                assert moved == [], (name, moved[:5])

            # Run 3: nothing new: the refresh appends nothing, and the run changes nothing.
            mark = time.monotonic()
            before = snapshot(warehouse_dsn)
            report = runner.run_once(lambda: refresher.refresh().summary())
            check_run(report)
            assert report.refreshed.startswith("0 row(s) appended"), report.refreshed
            after = snapshot(warehouse_dsn)
            assert after.keys() == before.keys()
            assert [name for name in before if before[name] != after[name]] == []
            timings["run 3"] = time.monotonic() - mark
            mark = time.monotonic()
        finally:
            wh.close()
            refresher_conn.close()
            source.close()
            capture.close()
            wait_for_inactive_slots(source_dsn)
    timings["teardown"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    print("e2e timings: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items()))
