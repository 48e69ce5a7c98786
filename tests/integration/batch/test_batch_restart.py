"""`cdc batch run` is incremental and restart-safe, driven through the CLI as users run it (a subprocess each time).

One generated landing zone (written with test_curated's sink-log writer ``land``: Parquet files listed by
``_spark_metadata``, as the streaming sink leaves them): a snapshot of customers and products in hour 08 of
2026-03-01, then four hours (09-12) of orders, order lines, payments, shipments, customer and product updates and a
few deletes, plus rows breaking quality rules, two landing files per table and hour: about 3,200 changes in 52
files, so a run spends seconds in each phase (staging of six tables, dimensions, facts, aggregates).

- a second run in a row reports every step up to date and leaves every file of the lake as it was;
- a run SIGKILLed (its process group: the CLI and Spark's JVM) at random moments, three times, then run to the end
  gives the same staging, quarantine and curated tables (and version numbers) as an uninterrupted run; readers see
  none of the crashed runs' files, and `cdc batch vacuum` removes the unlisted data files without changing what
  readers see (unlisted quarantine files of the killed runs included);
- changes landed late into an hour folder that was already processed are picked up by the next run: the latest by
  source position wins in staging whatever the arrival order, and the SCD2 history gets the version at its place.

Seed of the kill moments: ``CDC_CRASH_SEED`` (default: the time; the seed is printed).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.query_engine import LakeQueryEngine, versioned_tables
from batch.staging_files import QUARANTINE_FILES, bookmark_paths, committed_quarantine_files
from batch.table_store import VERSIONS_FOLDER, TableStore, parse_version
from common.lake import LakeLocation
from tests.integration.batch.test_curated import c, curated, land
from tests.integration.redshift.test_scd_support import (
    CATALOG,
    OPEN,
    Change,
    Op,
    customer,
    order,
    order_item,
    payment,
    product,
    shipment,
)

REPO = Path(__file__).resolve().parents[3]
HOURS = (8, 9, 10, 11, 12)  # hour folders of 2026-03-01 (test_curated's ``land`` writes that day)
LATE_HOUR = 9
T0 = datetime(2026, 3, 1, 12, 0)  # ``at(0)`` of the helpers: hour h starts at T0 + (h - 12) h
LSN_STEP = 10  # gaps between source positions leave room for the late changes
KILLS = 3
CURATED_TABLES = (
    "dim_customer",
    "dim_product",
    "dim_date",
    "dim_payment_method",
    "dim_shipment_status",
    "fact_order_items",
    "agg_daily_sales",
)
# Columns that differ between two correct runs of the same input: which run wrote a row, and when.
RUN_COLUMNS = {
    "staging": ("_run_id", "_staged_at"),
    "quarantine": ("_run_id", "_quarantined_at"),
    "curated": ("updated_at",),  # the load time of curated rows (source times are ``source_updated_at`` & co.)
}
# Each test runs one or two Spark jobs of 1-2 minutes (plus the shared uninterrupted run): more than the suite's
# 300 s when the two cores are shared with other Spark jobs.
pytestmark = pytest.mark.timeout(600)
STEP_LINE = re.compile(r"^(?P<mark>[✓✗-]) (?P<step>[a-z_:]+) \((?P<seconds>[\d.]+)s\): (?P<summary>.*)$")


# --------------------------------------------------------------------------------------------------------------
# The landing zone


@dataclass
class History:
    """The generated changes in source order, and what the late-arrival test needs to know about them."""

    changes: list[Change] = field(default_factory=list)
    last_lsn_of: dict[int, int] = field(default_factory=dict)  # hour -> highest source position in it
    snapshot_only: list[int] = field(default_factory=list)  # customers never changed after the snapshot
    changed_once_later: dict[int, int] = field(default_factory=dict)  # customer -> hour of its only update


class Workload:
    """A seeded retail workload at the source: every change in commit order, positions and times increasing."""

    def __init__(self, seed: int) -> None:
        self.chance = random.Random(seed)
        self.history = History()
        self.lsn = 0
        self.hour = HOURS[0]
        self.second = 0.0
        self.customers: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.lines: dict[tuple[int, int], dict[str, Any]] = {}
        self.shipments: dict[int, dict[str, Any]] = {}
        self.updates: Counter[int] = Counter()  # changes after the snapshot per customer (2 for a disqualifying one)
        self.update_hour: dict[int, int] = {}
        self.next_payment = 1

    def now(self) -> datetime:
        return T0 + timedelta(hours=self.hour - 12, seconds=self.second)

    def add(self, table: str, op: Op, row: dict[str, Any]) -> None:
        self.lsn += LSN_STEP
        self.second += 0.9
        self.history.changes.append(c(table, op, row, self.lsn, (self.hour - 12) * 3600 + self.second))
        self.history.last_lsn_of[self.hour] = self.lsn

    def snapshot(self) -> None:
        created = T0 - timedelta(hours=4)
        for customer_id in range(1, 301):
            self.customers[customer_id] = customer(customer_id, created_at=created, updated_at=created)
            self.add("customer", "r", self.customers[customer_id])
        for product_id in range(1, 61):
            price = Decimal(f"{self.chance.randint(2, 90)}.{self.chance.randint(0, 99):02d}")
            category = self.chance.choice(["garden", "outdoor", "kitchen"])
            self.products[product_id] = product(product_id, category=category, unit_price=price)
            self.add("product", "r", self.products[product_id])

    def hour_of_changes(self, hour: int, actions: int) -> None:
        self.hour, self.second = hour, 0.0
        for _ in range(actions):
            action = self.chance.random()
            if action < 0.10:
                self.customer_update()
            elif action < 0.13:
                self.product_update()
            elif action < 0.30 and self.orders:
                self.order_moves_on()
            elif action < 0.32 and self.lines:
                self.add("order_item", "d", self.lines.pop(self.chance.choice(sorted(self.lines))))
            elif action < 0.33 and len(self.customers) > 250:
                self.customer_delete()
            else:
                self.new_order()

    def customer_update(self) -> None:
        """A type-2 (segment, tier, city) or type-1 (email) change; customers 1-20 stay as snapshotted."""
        customer_id = self.chance.randint(21, 300)
        if customer_id not in self.customers:
            return
        row = dict(self.customers[customer_id])
        kind = self.chance.choice(["segment", "loyalty_tier", "city", "email"])
        value = {
            "segment": self.chance.choice(["consumer", "small_business", "corporate"]),
            "loyalty_tier": self.chance.choice(["bronze", "silver", "gold", "platinum"]),
            "city": self.chance.choice(["Chicago", "Peoria", "Naperville"]),
            "email": f"c{customer_id}.{self.lsn}@example.com",
        }[kind]
        if row[kind] == value:
            return
        row.update({kind: value, "updated_at": self.now()})
        self.customers[customer_id] = row
        self.add("customer", "u", row)
        self.updates[customer_id] += 1 if kind != "email" else 2  # only type-2 changes open a version
        self.update_hour[customer_id] = self.hour

    def customer_delete(self) -> None:
        customer_id = self.chance.choice(sorted(self.customers)[20:])
        self.add("customer", "d", self.customers.pop(customer_id))
        self.updates[customer_id] += 2

    def product_update(self) -> None:
        product_id = self.chance.randint(1, 60)
        row = dict(self.products[product_id])
        row.update({"unit_price": row["unit_price"] + Decimal("1.00"), "updated_at": self.now()})
        self.products[product_id] = row
        self.add("product", "u", row)

    def order_moves_on(self) -> None:
        order_id = self.chance.choice(sorted(self.orders))
        row = dict(self.orders[order_id])
        status = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}.get(row["status"], row["status"])
        row.update({"status": status, "updated_at": self.now()})
        self.orders[order_id] = row
        self.add("orders", "u", row)
        if status == "delivered" and order_id in self.shipments:
            self.shipments[order_id] = {**self.shipments[order_id], "status": "delivered", "delivered_at": self.now()}
            self.add("shipment", "u", self.shipments[order_id])

    def new_order(self) -> None:
        """An order with 1-3 lines, a payment, usually a shipment; about 1 in 30 breaks a quality rule somewhere."""
        order_id = len(self.orders) + 1
        bad = self.chance.random()
        row = order(order_id, self.chance.choice(sorted(self.customers)), self.now())
        if bad < 0.01:
            row["total_amount"] = Decimal("-1.00")  # range:total_amount (its lines fail references:order_id)
        self.orders[order_id] = row
        self.add("orders", "c", row)
        for line_no in range(1, self.chance.randint(1, 3) + 1):
            product_id = self.chance.randint(1, 60)
            quantity = 0 if bad > 0.995 else self.chance.randint(1, 5)  # range:quantity
            line = order_item(order_id, line_no, product_id, quantity=quantity)
            self.lines[(order_id, line_no)] = line
            self.add("order_item", "c", line)
        method = "cash" if 0.01 <= bad < 0.02 else self.chance.choice(["card", "paypal", "gift_card", "bank_transfer"])
        self.add("payment", "c", payment(self.next_payment, order_id, method, paid_at=self.now()))  # allowed:method
        self.next_payment += 1
        if self.chance.random() < 0.7:
            self.shipments[order_id] = shipment(order_id, order_id, "in_transit", shipped_at=self.now())
            self.add("shipment", "c", self.shipments[order_id])
        if 0.02 <= bad < 0.03:  # allowed:segment
            broken = self.chance.choice(sorted(self.customers)[20:])
            self.add("customer", "u", {**self.customers[broken], "segment": "vip", "updated_at": self.now()})
            self.updates[broken] += 2


def generate(seed: int = 20260301) -> History:
    """About 3,200 changes over all catalog tables: a snapshot in hour 08, then four hours of business."""
    workload = Workload(seed)
    workload.snapshot()
    for hour in HOURS[1:]:
        workload.hour_of_changes(hour, 200)
    history = workload.history
    history.snapshot_only = [key for key in range(1, 21) if key in workload.customers]
    history.changed_once_later = {
        key: workload.update_hour[key]
        for key, count in workload.updates.items()
        if count == 1 and workload.update_hour[key] > LATE_HOUR
    }
    return history


def land_history(lake: LakeLocation, changes: Sequence[Change], first_batch: dict[str, int]) -> None:
    """Land ``changes`` hour by hour, each table's changes of an hour split in two sink-log batches (files)."""
    for hour in sorted({hour_of(change) for change in changes}):
        for table in (t.name for t in CATALOG.tables):
            of_hour = [change for change in changes if change.table == table and hour_of(change) == hour]
            halves = [of_hour[: len(of_hour) // 2], of_hour[len(of_hour) // 2 :]] if len(of_hour) > 1 else [of_hour]
            for half in (part for part in halves if part):
                batch = first_batch.get(table, 0)
                land(lake, table, hour, half, batch, batch * 10_000)
                first_batch[table] = batch + 1


def hour_of(change: Change) -> int:
    return change.ts.hour


# --------------------------------------------------------------------------------------------------------------
# Running the CLI


@dataclass
class Run:
    """One `cdc batch` process: exit code (None if killed), wall time, the step lines it printed, its output."""

    returncode: int | None
    seconds: float
    steps: dict[str, str]  # step -> "✓ summary" (or ✗, -), in the order they finished
    stdout: str
    stderr: str

    @property
    def step_seconds(self) -> dict[str, float]:
        return {m["step"]: float(m["seconds"]) for m in map(STEP_LINE.match, self.stdout.splitlines()) if m}


def cdc_command(*args: str) -> list[str]:
    installed = Path(sys.executable).with_name("cdc")
    prefix = [str(installed)] if installed.exists() else [sys.executable, "-c", "from cli.main import entry; entry()"]
    return [*prefix, *args]


def cdc_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "LAKE_ROOT"}
    return {
        **env,
        # the checkout's packages, whatever the editable install maps (its package list may lag a new package)
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
        "CDC_HOME": str(home),
        "PYTHONUNBUFFERED": "1",  # step lines reach the pipe as they are printed
        "BATCH_SPARK_MASTER": "local[2]",
        "BATCH_RETRY_WAIT_SECONDS": "0.5",
        "COLUMNS": "200",  # rich wraps nothing: one line per step
    }


def parse_steps(stdout: str) -> dict[str, str]:
    steps = {}
    for line in stdout.splitlines():
        match = STEP_LINE.match(line)
        if match:
            steps[match["step"]] = f"{match['mark']} {match['summary']}"
    return steps


@dataclass(frozen=True)
class KillPoint:
    """Kill ``seconds`` after the process printed the line of step ``after`` (None: after the process started)."""

    after: str | None
    seconds: float

    def __str__(self) -> str:
        return f"{self.seconds:.1f}s after {self.after or 'the start'}"


def batch(command: str, lake: Path, home: Path, *args: str, kill: KillPoint | None = None) -> Run:
    """Run `cdc batch <command> --lake-root <lake>`; with ``kill``, SIGKILL its process group at that point."""
    started = time.monotonic()
    process = subprocess.Popen(
        cdc_command("batch", command, "--lake-root", str(lake), "--home", str(home), *args),
        env=cdc_env(home), cwd=home.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: the CLI, Spark's JVM and Python workers die together
    )  # fmt: skip
    out: list[tuple[float, str]] = []  # (when it arrived, line)
    err: list[str] = []

    def read_out() -> None:
        for line in iter(process.stdout.readline, ""):  # type: ignore[union-attr]
            out.append((time.monotonic(), line))

    readers = [
        threading.Thread(target=read_out, daemon=True),
        threading.Thread(target=lambda: err.extend(iter(process.stderr.readline, "")), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    killed = False
    try:
        while process.poll() is None and time.monotonic() - started < 600:
            if kill is not None:
                origin = started if kill.after is None else _printed(out, kill.after)
                if origin is not None and time.monotonic() >= origin + kill.seconds:
                    os.killpg(process.pid, signal.SIGKILL)
                    killed = True
                    break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    for reader in readers:
        reader.join(10)
    stdout = "".join(line for _, line in out)
    returncode = None if killed else process.returncode
    return Run(returncode, time.monotonic() - started, parse_steps(stdout), stdout, "".join(err))


def _printed(out: Sequence[tuple[float, str]], step: str) -> float | None:
    """When the line of ``step`` arrived (None: not yet)."""
    for arrived, line in list(out):
        match = STEP_LINE.match(line)
        if match and match["step"] == step:
            return arrived
    return None


def completed(run: Run) -> Run:
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


# --------------------------------------------------------------------------------------------------------------
# Reading the lake as readers do


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and folder under ``root``: kind, size and modification time (ns) by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        kind = "dir" if path.is_dir() else "file"
        found[str(path.relative_to(root))] = (
            kind,
            0 if kind == "dir" else info.st_size,
            0 if kind == "dir" else info.st_mtime_ns,
        )
    return found


def rows_of(paths: Sequence[str], exclude: Sequence[str]) -> Counter[tuple[Any, ...]]:
    """The rows of Parquet files as a multiset of tuples (columns by name, ``exclude`` left out)."""
    if not paths:
        return Counter()
    table = pa.concat_tables([pq.read_table(path) for path in paths], promote_options="default")
    columns = sorted(name for name in table.column_names if name not in exclude)
    return Counter(tuple(hashable(row[name]) for name in columns) for row in table.select(columns).to_pylist())


def hashable(value: Any) -> Any:
    """Lists (quarantine's ``_rules``) as tuples, so rows can be counted."""
    return tuple(hashable(item) for item in value) if isinstance(value, list) else value


def contents(lake: LakeLocation) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every staging, quarantine and curated table of the lake, from its committed version (run columns left out)."""
    tables: dict[str, Counter[tuple[Any, ...]]] = {}
    for zone in ("staging", "curated"):
        for name in versioned_tables(lake, zone):
            store = TableStore(lake, zone, name)
            version = store.current()
            assert version is not None
            tables[f"{zone}.{name}"] = rows_of([f"{store.folder()}/{p}" for p in version.files], RUN_COLUMNS[zone])
    for name in versioned_tables(lake, "staging"):
        tables[f"quarantine.{name}"] = rows_of(committed_quarantine_files(lake, name), RUN_COLUMNS["quarantine"])
    return tables


def visible_counts(lake: LakeLocation) -> dict[str, int]:
    """Rows per table as `cdc query` sees them (DuckDB views over the current versions)."""
    engine = LakeQueryEngine(lake, zones=("staging", "curated"))
    try:
        return {
            view.name: engine.query(f"SELECT count(*) AS n FROM {view.name}").column("n")[0].as_py()
            for view in engine.views
        }
    finally:
        engine.close()


def parquet_files(folder: Path) -> set[str]:
    """Visible Parquet files under ``folder`` (what a reader globbing the folder would pick up), relative paths."""
    if not folder.exists():
        return set()
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*.parquet")
        if path.is_file() and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts[-1:])
    }


def leftovers(lake: LakeLocation) -> dict[str, list[str]]:
    """What crashed runs left that no reader may see: Parquet data files no version of their table lists,
    quarantine files no committed bookmark lists, temporary version files."""
    found: dict[str, list[str]] = {}
    for zone in ("staging", "curated"):
        for name in versioned_tables(lake, zone):
            folder = Path(TableStore(lake, zone, name).folder())
            listed: set[str] = set()
            for version_file in (folder / VERSIONS_FOLDER).glob("*.json"):
                listed.update(parse_version(version_file.read_text(), name=str(version_file)).files)
            unlisted = sorted(f"data/{path}" for path in parquet_files(folder / "data") if f"data/{path}" not in listed)
            temporary = sorted(str(p.relative_to(folder)) for p in (folder / VERSIONS_FOLDER).glob(".*"))
            if unlisted or temporary:
                found[f"{zone}.{name}"] = unlisted + temporary
    for name in versioned_tables(lake, "staging"):
        version = TableStore(lake, "staging", name).current()
        listed = set(bookmark_paths(version.bookmark, QUARANTINE_FILES)) if version else set()
        unlisted = sorted(parquet_files(Path(lake.fs_path("quarantine", name))) - listed)
        if unlisted:
            found[f"quarantine.{name}"] = unlisted
    return found


def unlisted_data_files(lake: LakeLocation) -> dict[str, list[str]]:
    """Data files of staging/curated tables that the *current* version does not list (what vacuum removes)."""
    found = {}
    for zone in ("staging", "curated"):
        for name in versioned_tables(lake, zone):
            store = TableStore(lake, zone, name)
            version = store.current()
            listed = set(version.files) if version else set()
            folder = Path(store.folder())
            extra = sorted(str(p.relative_to(folder)) for p in (folder / "data").rglob("*") if p.is_file())
            extra = [path for path in extra if path not in listed]
            if extra:
                found[f"{zone}.{name}"] = extra
    return found


def differences(actual: dict[str, Counter[Any]], expected: dict[str, Counter[Any]]) -> list[str]:
    problems = []
    for name in sorted(set(actual) | set(expected)):
        mine, theirs = actual.get(name, Counter()), expected.get(name, Counter())
        if mine != theirs:
            problems.append(
                f"{name}: {sum((mine - theirs).values())} row(s) only in A, {sum((theirs - mine).values())} only in B"
            )
    return problems


# --------------------------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class Landing:
    """The template lake (landing zone only) and the generated history."""

    root: Path
    history: History


@dataclass(frozen=True)
class Baseline:
    """Lake B: the template after one uninterrupted `cdc batch run`."""

    root: Path
    lake: LakeLocation
    run: Run
    order: tuple[str, ...]  # the DAG's steps in the order they ran

    @property
    def start_up(self) -> float:
        """Seconds before the first step began (imports, Spark's JVM and session)."""
        return self.run.seconds - sum(self.run.step_seconds.values())


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Landing:
    root = tmp_path_factory.mktemp("template") / "lake"
    history = generate()
    land_history(LakeLocation(str(root)), history.changes, {})
    return Landing(root, history)


@pytest.fixture(scope="module")
def baseline(landing: Landing, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("b") / "lake"
    shutil.copytree(landing.root, root)
    run = completed(batch("run", root, root.parent / "home"))
    steps = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in run.step_seconds.items())
    print(f"\nuninterrupted run: {run.seconds:.1f}s ({steps})")
    assert all(summary.startswith("✓") for summary in run.steps.values()), run.steps
    assert len(run.steps) == len(CATALOG.tables) + 3
    return Baseline(root, LakeLocation(str(root)), run, tuple(run.steps))


# --------------------------------------------------------------------------------------------------------------
# Tests


def test_a_second_run_in_a_row_changes_nothing(baseline: Baseline) -> None:
    before = snapshot(baseline.root)
    versions_before = {
        f"{zone}.{name}": TableStore(baseline.lake, zone, name).current()
        for zone in ("staging", "curated")
        for name in versioned_tables(baseline.lake, zone)
    }
    staged = {name for name in baseline.order if name.startswith("staging:")}
    assert all("version 1:" in baseline.run.steps[name] for name in staged)

    second = completed(batch("run", baseline.root, baseline.root.parent / "home"))

    assert set(second.steps) == set(baseline.order)
    for name, summary in second.steps.items():
        expected = "✓ up to date (version 1)" if name in staged else "✓ up to date ("
        assert summary.startswith(expected), (name, summary)
    assert snapshot(baseline.root) == before  # no file written, deleted, rewritten or touched; no folder made
    assert {
        f"{zone}.{name}": TableStore(baseline.lake, zone, name).current()
        for zone in ("staging", "curated")
        for name in versioned_tables(baseline.lake, zone)
    } == versions_before
    print(f"\nsecond run: {second.seconds:.1f} s")


@pytest.mark.integration
@pytest.mark.crash
@pytest.mark.timeout(900)  # ~2 uninterrupted runs' time; far more than 300 s on a machine busy with other Spark jobs
def test_runs_killed_at_random_moments_then_completed_equal_an_uninterrupted_run(
    landing: Landing, baseline: Baseline, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(landing.root, root)
    home = tmp_path / "home"
    seed = int(os.environ.get("CDC_CRASH_SEED", time.time()))
    chance = random.Random(seed)
    # Kill moments: 20-90 % into the uninterrupted run, one in each third of that span (so they spread over the
    # steps), each found again on the restart's own timeline: the step the uninterrupted run was in at that moment,
    # as far into it (the steps committed before are quick "up to date" ones then).
    span = 0.7 / KILLS
    points = [kill_point(baseline.run, chance.uniform(0.2 + i * span, 0.2 + (i + 1) * span)) for i in range(KILLS)]
    kills: list[str] = []
    while points and len(kills) < 2 * KILLS:
        point = points.pop(0)
        run = batch("run", root, home, kill=point)
        if run.returncode is not None:  # done before the kill point (this machine got faster): kill a later one
            completed(run)
            kills.append(f"{point}: finished first")
            points.append(KillPoint(None, chance.uniform(0.2, 0.9) * baseline.start_up))  # in Spark's start-up
        else:
            running = next(step for step in (*baseline.order, "the summary") if step not in run.steps)
            kills.append(f"{point}: killed in {running}" + ("" if run.steps else " (or Spark start-up)"))
        print(f"\n{kills[-1]} ({run.seconds:.1f}s)", flush=True)
    final = completed(batch("run", root, home))
    lake = LakeLocation(str(root))
    left = leftovers(lake)
    print(
        f"\nseed {seed}; uninterrupted {baseline.run.seconds:.0f}s; kills after {'; '.join(kills)}; "
        f"final run {final.seconds:.0f}s; leftovers: "
        + (", ".join(f"{name} {len(files)}" for name, files in sorted(left.items())) or "none")
    )
    assert len([kill for kill in kills if "killed in" in kill]) == KILLS, kills
    assert all(summary.startswith("✓") for summary in final.steps.values()), final.steps

    expected = contents(baseline.lake)
    assert {f"curated.{name}" for name in CURATED_TABLES} <= set(expected)
    assert not leftovers(baseline.lake)
    # Same content, and each table committed exactly once: no version was written twice for the same input.
    assert not differences(contents(lake), expected)
    assert version_numbers(lake) == version_numbers(baseline.lake)
    # `cdc query` (DuckDB views over the current versions) sees exactly the uninterrupted run's rows.
    assert visible_counts(lake) == visible_counts(baseline.lake)

    time.sleep(0.01)
    vacuum = completed(batch("vacuum", root, home, "--older-than", "1ms"))
    assert "staging.customer" in vacuum.stdout
    assert not unlisted_data_files(lake)  # crash leftovers (and Spark's _SUCCESS/.crc files) are gone
    assert not leftovers(lake)  # quarantine files of the killed runs too
    assert not differences(contents(lake), expected)
    assert visible_counts(lake) == visible_counts(baseline.lake)


def kill_point(run: Run, fraction: float) -> KillPoint:
    """Where ``fraction`` of ``run``'s wall time fell: after which step's line, how many seconds later."""
    target = fraction * run.seconds
    durations = run.step_seconds
    begins = run.seconds - sum(durations.values())  # the first step begins after the start-up
    previous = None
    for step, seconds in durations.items():
        if target < begins + seconds:
            break
        begins += seconds
        previous = step
    return KillPoint(previous, target - begins) if previous else KillPoint(None, target)


def version_numbers(lake: LakeLocation) -> dict[str, int | None]:
    return {
        f"{zone}.{name}": getattr(TableStore(lake, zone, name).current(), "version", None)
        for zone in ("staging", "curated")
        for name in versioned_tables(lake, zone)
    }


def test_late_changes_in_an_already_processed_hour_are_picked_up_by_the_next_run(
    landing: Landing, baseline: Baseline, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    shutil.copytree(baseline.root, root)  # a lake after a completed run (sink-log paths are cut at landing/<t>/)
    lake = LakeLocation(str(root))
    history = landing.history
    changes_of = {
        key: [ch for ch in history.changes if ch.table == "customer" and ch.row["customer_id"] == key]
        for key in (history.snapshot_only[0], min(history.changed_once_later))
    }
    (p, [p_snapshot]), (q, [q_snapshot, q_update]) = changes_of.items()
    assert hour_of(q_update) > LATE_HOUR and q_update.lsn > history.last_lsn_of[LATE_HOUR]
    position = history.last_lsn_of[LATE_HOUR]  # positions up to +9 still belong to the hour, by commit order
    end = (LATE_HOUR - 12) * 3600 + 3590  # 09:59:50, after every change of the hour, before any of hour 10
    newer = c(
        "customer", "u", {**p_snapshot.row, "segment": "corporate", "loyalty_tier": "platinum"}, position + 6, end + 6
    )
    older = c("customer", "u", {**p_snapshot.row, "segment": "small_business", "city": "Peoria"}, position + 3, end + 3)
    between = c("customer", "u", {**q_snapshot.row, "city": "Latetown"}, position + 8, end + 8)
    batches = len(list(Path(lake.fs_path("landing", "customer", "_spark_metadata")).iterdir()))
    land(lake, "customer", LATE_HOUR, [newer, between], batches, 900_000)
    land(lake, "customer", LATE_HOUR, [older], batches + 1, 900_002)  # arrives last, older position

    run = completed(batch("run", root, tmp_path / "home"))

    assert run.steps["staging:customer"].startswith(
        "✓ version 2: 2 new file(s), 3 change(s), 1 merged (0 deletes, 1 late ignored)"
    ), run.steps
    assert all(
        run.steps[f"staging:{t.name}"] == "✓ up to date (version 1)" for t in CATALOG.tables if t.name != "customer"
    )
    assert "dim_customer v2" in run.steps["dimensions"] and "dim_product" not in run.steps["dimensions"]
    assert "fact_order_items v2" in run.steps["facts"] and "agg_daily_sales v2" in run.steps["aggregates"]

    # Staging: the newer position won for p whatever the arrival order; q kept its later row.
    before, after = staged_customers(baseline.lake), staged_customers(lake)
    assert values(after[p], ("segment", "loyalty_tier", "city", "_lsn")) == (
        "corporate", "platinum", "Springfield", newer.lsn,
    )  # fmt: skip
    assert after[q] == before[q] and after[q]["_lsn"] == q_update.lsn and after[q]["city"] != "Latetown"
    assert {k: v for k, v in after.items() if k != p} == {k: v for k, v in before.items() if k != p}

    # Curated: each late change is a version of its own, at its place in the history (by source position).
    columns = ("segment", "loyalty_tier", "city")
    history_before, history_after = dim_customer_history(baseline.lake, columns), dim_customer_history(lake, columns)
    assert history_after[p] == [
        (*values(p_snapshot.row, columns), p_snapshot.ts, older.ts, False, False, p_snapshot.lsn),
        (*values(older.row, columns), older.ts, newer.ts, False, False, older.lsn),
        (*values(newer.row, columns), newer.ts, OPEN, True, False, newer.lsn),
    ]
    assert history_after[q] == [
        (*values(q_snapshot.row, columns), q_snapshot.ts, between.ts, False, False, q_snapshot.lsn),
        (*values(between.row, columns), between.ts, q_update.ts, False, False, between.lsn),
        (*values(q_update.row, columns), q_update.ts, OPEN, True, False, q_update.lsn),
    ]
    assert history_before[p] == [(*history_after[p][0][:4], OPEN, True, False, p_snapshot.lsn)]
    assert {k: v for k, v in history_after.items() if k not in (p, q)} == {
        k: v for k, v in history_before.items() if k not in (p, q)
    }
    print(f"\nlate run: {run.seconds:.1f} s")


def values(row: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[name] for name in columns)


def staged_customers(lake: LakeLocation) -> dict[int, dict[str, Any]]:
    """The current staging.customer rows by key (run columns left out)."""
    store = TableStore(lake, "staging", "customer")
    version = store.current()
    assert version is not None
    rows = pa.concat_tables([pq.read_table(f"{store.folder()}/{path}") for path in version.files]).to_pylist()
    return {row["customer_id"]: {k: v for k, v in row.items() if k not in RUN_COLUMNS["staging"]} for row in rows}


def dim_customer_history(lake: LakeLocation, columns: Sequence[str]) -> dict[int, list[tuple[Any, ...]]]:
    """Per customer, ``(columns..., valid_from, valid_to, is_current, is_deleted, version_lsn)``, oldest first."""
    history: dict[int, list[tuple[Any, ...]]] = {}
    for row in sorted(
        curated(lake, "dim_customer"), key=lambda r: (r["customer_id"], r["valid_from"], r["version_lsn"])
    ):
        history.setdefault(row["customer_id"], []).append(
            (*values(row, columns), *values(row, ("valid_from", "valid_to", "is_current", "is_deleted", "version_lsn")))
        )
    return history
