"""The curated job: rebuilds the star schema of the lake from its inputs when they changed (ADR 0011 decision 4).

Steps, in this order: ``dimensions`` (``dim_customer``, ``dim_product`` from the landing change history;
``dim_payment_method``, ``dim_shipment_status`` from the landing history of payment and shipment, every value ever
seen like the warehouse's members; ``dim_date``), ``facts`` (``fact_order_items`` from the staging tables and the
curated dimensions), ``aggregates`` (``agg_daily_sales``).

Each curated table's version bookmark holds the inputs it was built from (``{"inputs": ...}``): a landing table
as its committed file count plus a SHA-256 of the sorted file list, a staging or curated table as its version
number. A table whose inputs are unchanged is not touched ("up to date"); otherwise it is rebuilt whole and
committed as the next version of zone ``curated``. The facts' inputs include the dimensions' curated versions and
the aggregate's the fact's, so a rebuilt dimension rebuilds what depends on it, a crash between two commits is
repaired by the next run, and a run with no new input writes nothing.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch.dimensions import (
    DateRange,
    catalog_schema,
    change_schema,
    conform_changes,
    date_dimension,
    payment_method_dimension,
    scd2_dimension,
    shipment_status_dimension,
    surrogate_key_name,
)
from batch.facts import current_rows, daily_sales, fact_order_items
from batch.table_store import TableStore, TableVersion
from common.errors import CdcError, ConfigError
from common.lake import LakeLocation
from common.landing_files import LandingTableNotFoundError, landing_base_path, landing_state
from common.logging import get_logger
from schemas.catalog import Catalog, Table

log = get_logger(__name__)

Step = Literal["dimensions", "facts", "aggregates"]
STEPS: Final[tuple[Step, ...]] = ("dimensions", "facts", "aggregates")
ZONE: Final = "curated"
FACT_SOURCES: Final = ("orders", "order_item", "payment", "shipment")
STEP_TABLES: Final[Mapping[Step, tuple[str, ...]]] = {
    "dimensions": ("dim_customer", "dim_product", "dim_date", "dim_payment_method", "dim_shipment_status"),
    "facts": ("fact_order_items",),
    "aggregates": ("agg_daily_sales",),
}


MemberBuild = Callable[..., DataFrame]  # payment_method_dimension / shipment_status_dimension


class CuratedError(CdcError):
    """A curated table cannot be built (e.g. two rows drew the same surrogate key)."""


@dataclass(frozen=True)
class TableReport:
    """What a run did to one curated table."""

    table: str
    step: Step
    status: Literal["built", "up to date"]
    rows: int | None
    seconds: float
    version: int | None


@dataclass(frozen=True)
class CuratedReport:
    """The tables of one run, in build order."""

    run_id: str
    tables: tuple[TableReport, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return all(report.status == "up to date" for report in self.tables)

    def summary(self) -> str:
        """One line for logs and the DAG runner."""
        if self.up_to_date:
            return f"up to date ({len(self.tables)} tables)"
        parts = [
            f"{r.table} {r.rows} rows v{r.version} {r.seconds:.1f}s" if r.status == "built" else f"{r.table} up to date"
            for r in self.tables
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class _Plan:
    """One table to (maybe) rebuild: its inputs' identity, how to build it, what must be unique in it."""

    table: str
    step: Step
    inputs: Mapping[str, Any]
    build: Callable[[], DataFrame]
    unique: tuple[str, ...]
    files: int | None = 1  # output files (None: as many as Spark's partitions)


@dataclass(frozen=True)
class _Landing:
    """The committed files of one landing table at one instant, and their identity for a bookmark."""

    table: str
    paths: tuple[str, ...]  # relative to landing/<table>/

    @property
    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join(self.paths).encode("utf-8")).hexdigest()
        return {"files": len(self.paths), "sha256": digest}


def new_run_id(now: datetime | None = None) -> str:
    """``20260301T120000Z-1a2b3c4d``: sortable, unique, valid in a data folder name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass
class CuratedJob:
    """Builds the curated tables of ``location`` with ``spark`` (thin I/O around the pure transforms)."""

    spark: SparkSession
    location: LakeLocation
    catalog: Catalog
    dates: DateRange = field(default_factory=DateRange)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self, steps: Collection[str] = STEPS, *, run_id: str | None = None) -> CuratedReport:
        """Run the chosen steps (in dependency order, whatever the order given); returns a report per table."""
        unknown = sorted(set(steps) - set(STEPS))
        if unknown or not steps:
            raise ConfigError(f"unknown curated step(s) {unknown or '(none)'}: choose from {', '.join(STEPS)}")
        run_id = run_id or new_run_id()
        loaded_at = self.clock()
        reports: list[TableReport] = []
        for step in STEPS:
            if step in steps:
                # plans are made one by one: a fact plan reads the dimension versions just committed
                reports.extend(self._apply(plan, run_id) for plan in self._plans(step, loaded_at))
        report = CuratedReport(run_id, tuple(reports))
        log.info("curated.run", run_id=run_id, summary=report.summary())
        return report

    # -- plans --------------------------------------------------------------------------------------------------

    def _plans(self, step: Step, loaded_at: datetime) -> Iterator[_Plan]:
        if step == "dimensions":
            yield from self._dimension_plans(loaded_at)
        elif step == "facts":
            yield self._fact_plan(loaded_at)
        else:
            yield self._aggregate_plan(loaded_at)

    def _dimension_plans(self, loaded_at: datetime) -> Iterator[_Plan]:
        for table in self.catalog.tables:
            if table.dimension is None or not table.scd_columns(2):
                continue
            name = table.dimension.name
            landing = self._landing(table.name)
            yield _Plan(
                name,
                "dimensions",
                {f"landing.{table.name}": landing.identity},
                partial(self._scd2, table, landing, loaded_at),
                (surrogate_key_name(name),),
            )
        orders_store, orders = self._staging("orders")
        date_inputs = {
            "range": [self.dates.first.isoformat(), self.dates.last.isoformat()],
            "staging.orders": _v(orders),
        }
        yield _Plan("dim_date", "dimensions", date_inputs, lambda: self._dates(orders_store, orders), ("date_key",))
        members: tuple[tuple[str, str, MemberBuild], ...] = (
            ("payment", "dim_payment_method", payment_method_dimension),
            ("shipment", "dim_shipment_status", shipment_status_dimension),
        )
        for source, name, build in members:
            landing = self._landing(source)
            yield _Plan(
                name,
                "dimensions",
                {f"landing.{source}": landing.identity},
                partial(self._members, build, self.catalog.table(source), landing, loaded_at),
                (surrogate_key_name(name),),
            )

    def _scd2(self, table: Table, landing: _Landing, loaded_at: datetime) -> DataFrame:
        return scd2_dimension(self._changes(table, landing), table, loaded_at=loaded_at)

    def _members(self, build: MemberBuild, table: Table, landing: _Landing, loaded_at: datetime) -> DataFrame:
        return build(self._changes(table, landing), loaded_at=loaded_at)

    def _fact_plan(self, loaded_at: datetime) -> _Plan:
        staged = {name: self._staging(name) for name in FACT_SOURCES}
        dims = {name: self._curated(name) for name in STEP_TABLES["dimensions"] if name != "dim_date"}
        inputs = {f"staging.{n}": _v(version) for n, (_, version) in staged.items()}
        inputs.update({f"curated.{n}": _v(version) for n, (_, version) in dims.items()})
        self._require(dims, "facts")

        def build() -> DataFrame:
            frames = {name: self._read_staging(name, *staged[name]) for name in FACT_SOURCES}
            return fact_order_items(
                frames["orders"],
                frames["order_item"],
                frames["payment"],
                frames["shipment"],
                dim_customer=self._read_curated(*dims["dim_customer"]),
                dim_product=self._read_curated(*dims["dim_product"]),
                dim_payment_method=self._read_curated(*dims["dim_payment_method"]),
                dim_shipment_status=self._read_curated(*dims["dim_shipment_status"]),
                loaded_at=loaded_at,
            )

        return _Plan("fact_order_items", "facts", inputs, build, ("order_item_key",), files=None)

    def _aggregate_plan(self, loaded_at: datetime) -> _Plan:
        needed = {name: self._curated(name) for name in ("fact_order_items", "dim_product")}
        self._require(needed, "aggregates")
        inputs = {f"curated.{n}": _v(version) for n, (_, version) in needed.items()}
        facts, products = needed["fact_order_items"], needed["dim_product"]
        return _Plan(
            "agg_daily_sales",
            "aggregates",
            inputs,
            lambda: daily_sales(self._read_curated(*facts), self._read_curated(*products), loaded_at=loaded_at),
            ("date_key", "category"),
        )

    @staticmethod
    def _require(tables: Mapping[str, tuple[TableStore, TableVersion | None]], step: str) -> None:
        missing = sorted(name for name, (_, version) in tables.items() if version is None)
        if missing:
            raise CuratedError(f"curated step {step} needs {', '.join(missing)}: run the earlier steps first")

    # -- applying a plan ------------------------------------------------------------------------------------------

    def _apply(self, plan: _Plan, run_id: str) -> TableReport:
        started = time.perf_counter()
        store = TableStore(self.location, ZONE, plan.table)
        current = store.current()
        inputs = dict(plan.inputs)
        if current is not None and current.bookmark.get("inputs") == inputs:
            seconds = time.perf_counter() - started
            return TableReport(plan.table, plan.step, "up to date", current.rows, seconds, current.version)
        frame = plan.build()
        if plan.files is not None:
            frame = frame.coalesce(plan.files)
        folder = store.new_data_folder(run_id)
        frame.write.mode("errorifexists").parquet(store.uri(folder))
        files = store.list_data_files(folder)
        rows = self._check_unique(store, files, plan)
        version = store.commit(
            files,
            expected_version=current.version if current else 0,
            bookmark={"inputs": inputs, "step": plan.step},
            run_id=run_id,
            rows=rows,
        )
        seconds = time.perf_counter() - started
        log.info("curated.table", table=plan.table, rows=rows, version=version.version, seconds=round(seconds, 2))
        return TableReport(plan.table, plan.step, "built", rows, seconds, version.version)

    def _check_unique(self, store: TableStore, files: list[str], plan: _Plan) -> int:
        """Rows written, after checking ``plan.unique`` is a key of them (a hash collision fails the run here,
        before the commit: the written files stay invisible and ``vacuum`` removes them)."""
        written = self.spark.read.parquet(*[store.uri(path) for path in files])
        counts = written.agg(
            F.count(F.lit(1)).alias("rows"), F.count_distinct(F.struct(*plan.unique)).alias("keys")
        ).first()
        assert counts is not None
        rows, keys = int(counts["rows"]), int(counts["keys"])
        if keys != rows:
            raise CuratedError(
                f"curated {plan.table}: {rows - keys} row(s) share a value of ({', '.join(plan.unique)}); "
                "for a surrogate key that is a hash collision, for anything else an input error: not committed"
            )
        return rows

    # -- inputs -------------------------------------------------------------------------------------------------

    def _landing(self, table: str) -> _Landing:
        try:
            paths = landing_state(self.location, table).committed
        except LandingTableNotFoundError:
            paths = frozenset()
        return _Landing(table, tuple(sorted(paths)))

    def _changes(self, table: Table, landing: _Landing) -> DataFrame:
        """The landing change history of ``table`` (exactly ``landing``'s files), conformed."""
        if not landing.paths:
            return self.spark.createDataFrame([], change_schema(table))
        uris = [self.location.path("landing", table.name, path) for path in landing.paths]
        frame = (
            self.spark.read.option("basePath", landing_base_path(self.location, table.name))
            .option("mergeSchema", "true")
            .parquet(*uris)
        )
        return conform_changes(frame, table)

    def _staging(self, name: str) -> tuple[TableStore, TableVersion | None]:
        store = TableStore(self.location, "staging", name)
        return store, store.current()

    def _curated(self, name: str) -> tuple[TableStore, TableVersion | None]:
        store = TableStore(self.location, ZONE, name)
        return store, store.current()

    def _read_staging(self, name: str, store: TableStore, version: TableVersion | None) -> DataFrame:
        """The staging table's rows at ``version``: catalog columns and ``_deleted`` (empty if never staged)."""
        schema = catalog_schema(self.catalog.table(name), T.StructField("_deleted", T.BooleanType()))
        if version is None or not version.files:
            return self.spark.createDataFrame([], schema)
        frame = self.spark.read.option("mergeSchema", "true").parquet(*[store.uri(p) for p in version.files])
        present = set(frame.columns)
        return frame.select(
            *[
                (F.col(f.name) if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
                for f in schema.fields
            ]
        )

    def _read_curated(self, store: TableStore, version: TableVersion | None) -> DataFrame:
        assert version is not None and version.files  # every committed curated version has a file (Spark writes one)
        return self.spark.read.parquet(*[store.uri(path) for path in version.files])

    def _dates(self, orders_store: TableStore, orders: TableVersion | None) -> DataFrame:
        """dim_date over the configured range, widened to every staged order's day (as the fact load does)."""
        current_orders = current_rows(self._read_staging("orders", orders_store, orders))
        span = current_orders.agg(
            F.min(F.to_date("order_ts")).alias("first"), F.max(F.to_date("order_ts")).alias("last")
        ).first()
        days = self.dates.covering([span["first"], span["last"]] if span is not None else [])
        return date_dimension(self.spark, days)


def _v(version: TableVersion | None) -> int:
    """A table's version number for a bookmark (0: never committed)."""
    return version.version if version is not None else 0
