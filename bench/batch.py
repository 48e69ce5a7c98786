"""Batch bench: the staging and curated jobs (Spark, local[2]) on N landed changes vs DuckDB on the same files.

Prints, all measured in this run, on a temporary lake whose landing zone holds N changes (default 1,000,000) of the
catalog's six retail tables, generated (untimed) by ``bench/_landing_data.py``: a snapshot of customers and
products, then the workload's transactions at a steady rate - sign-ups, moves, segment and tier changes, closed
accounts, product launches, repricing, deletions, orders placed with their items, paid, shipped, delivered,
cancelled and refunded - in the landing job's layout and columns (hour folders by source time, one sink-log batch per
hour, files of up to 250,000 rows), every row passing the catalog's quality rules:
1. staging: ``StagingJob(spark, lake, catalog).run(tables)`` on a fresh lake (every table's first run: read all
   committed landing files, latest change per key by ``_lsn``, quality rules, bucketed write, commit), on a session
   already started (its startup is printed, not counted) but cold, as a scheduled run finds it: the first table
   also pays the JVM's warm-up (``--warm-up`` runs both jobs on 5,000 other changes first, untimed).
   staging rows/s = landed changes / seconds.
2. baseline, same run and same files: DuckDB (as many threads as the Spark master has cores) computing the same
   result - per table, the committed files (``common.landing_files``) read, the latest change per primary key by
   source position (``_lsn``, then ``_kafka_offset``; never arrival), deletes kept as ``_deleted = true``, written
   as one Parquet file per table. It runs no quality rules (they quarantine nothing here) and writes no buckets.
   ratio = Spark staging seconds / DuckDB seconds; goal <= 3x (the Spark job must also scale out on Glue).
   Before any figure is printed, the Spark result must equal DuckDB's - per table the same row count and the same
   rows (catalog columns, ``_op``, ``_source_ts``, ``_lsn``, ``_deleted``) compared as multisets by DuckDB over both
   outputs - with one row per key, every landed change read and nothing quarantined or dropped as late; or the
   bench fails (exit 1).
3. curated: ``CuratedJob(spark, lake, catalog).run()`` right after (all steps: dimensions, facts, aggregates; only
   when all six tables are chosen). curated rows/s = input rows / seconds, input rows = the landed changes of
   customer, product, payment and shipment (the change histories the SCD2 and member dimensions read) + the staged
   rows of orders, order_item, payment and shipment (what dim_date and the facts read); the job's re-reads of its own
   dimensions and facts are not counted.

    .venv/bin/python bench/batch.py [--changes 1000000] [--seed 42] [--tables customer,orders,...] [--keep]
                                    [--spark-master local[2]] [--changes-per-hour 100000] [--warm-up]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
from pyspark.sql import SparkSession
from rich.console import Console
from rich.table import Table as RichTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _landing_data import DEFAULT_MAX_ROWS_PER_FILE, LandedTable, generate, write_landing

from batch.curated_job import FACT_SOURCES, CuratedJob, CuratedReport
from batch.staging_job import StagingJob, StagingReport
from batch.table_store import TableStore
from common.lake import LakeLocation
from common.landing_files import spark_landing_paths
from common.spark import local_session
from schemas.catalog import Catalog, Table, load_catalog

RATIO_GOAL: Final = 3.0  # Spark staging seconds / DuckDB seconds
WARM_UP_CHANGES: Final = 5_000
CURATED_LANDING_SOURCES: Final = ("customer", "product", "payment", "shipment")  # histories the dimensions read
POSITION_ORDER: Final = "_lsn DESC NULLS LAST, _kafka_offset DESC NULLS LAST"


class BenchFailed(Exception):
    """The two staging results differ, or the job dropped input: the numbers would mean nothing."""


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def master_cores(master: str) -> int | None:
    """Cores of a ``local[N]`` / ``local[*]`` / ``local`` master (None for a cluster master)."""
    if master == "local":
        return 1
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\d+)?\]", master)
    if match is None:
        return None
    if match[1] == "*":
        return os.cpu_count() or 1
    return int(match[1])


# --------------------------------------------------------------------------------------------------------------
# The DuckDB baseline and the comparison


def staged_columns(table: Table) -> list[str]:
    """The columns both results are compared on (staging's columns without its run and bucket bookkeeping)."""
    return [*(column.name for column in table.columns), "_op", "_source_ts", "_lsn", "_deleted"]


def duckdb_staging(
    lake: LakeLocation, tables: Sequence[Table], out: Path, threads: int | None
) -> tuple[float, dict[str, int]]:
    """Seconds and rows per table of DuckDB's staging result, one Parquet file per table under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if threads is not None:
            con.execute(f"SET threads = {threads}")
        for table in tables:
            files = ", ".join(literal(path) for path in spark_landing_paths(lake, table.name))
            keys = ", ".join(quoted(key) for key in table.primary_key)
            columns = ", ".join(quoted(column.name) for column in table.columns)
            target = literal(str(out / f"{table.name}.parquet"))
            result = con.execute(
                f"COPY (SELECT {columns}, _op, _source_ts, _lsn, coalesce(_op = 'd', false) AS _deleted "  # noqa: S608
                f"FROM read_parquet([{files}]) "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {POSITION_ORDER}) = 1) "
                f"TO {target} (FORMAT parquet, COMPRESSION snappy)"
            ).fetchone()
            rows[table.name] = int(result[0]) if result else 0
    finally:
        con.close()
    return time.perf_counter() - started, rows


def compare(lake: LakeLocation, tables: Sequence[Table], out: Path) -> None:
    """Spark's committed staging version of each table must hold exactly DuckDB's rows, one per key."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    problems: list[str] = []
    for table in tables:
        store = TableStore(lake, "staging", table.name)
        version = store.current()
        if version is None or not version.files:
            problems.append(f"{table.name}: Spark committed no staging version")
            continue
        files = ", ".join(literal(store.uri(path)) for path in version.files)
        columns = ", ".join(quoted(name) for name in staged_columns(table))
        keys = ", ".join(quoted(key) for key in table.primary_key)
        con.execute(f"CREATE OR REPLACE VIEW spark AS SELECT {columns} FROM read_parquet([{files}])")  # noqa: S608
        duck = literal(str(out / f"{table.name}.parquet"))
        con.execute(f"CREATE OR REPLACE VIEW duck AS SELECT {columns} FROM read_parquet({duck})")  # noqa: S608
        counted = con.execute(
            f"SELECT (SELECT count(*) FROM spark), (SELECT count(*) FROM duck), "  # noqa: S608
            f"(SELECT count(DISTINCT ({keys})) FROM spark), "
            "(SELECT count(*) FROM (SELECT * FROM spark EXCEPT ALL SELECT * FROM duck)), "
            "(SELECT count(*) FROM (SELECT * FROM duck EXCEPT ALL SELECT * FROM spark))"
        ).fetchone()
        assert counted is not None
        spark_rows, duck_rows, spark_keys, only_spark, only_duck = (int(value) for value in counted)
        if spark_rows != duck_rows or only_spark or only_duck or spark_keys != spark_rows:
            sample = con.execute(
                f"SELECT {keys}, _lsn, _deleted FROM (SELECT * FROM spark EXCEPT ALL SELECT * FROM duck) LIMIT 3"  # noqa: S608
            ).fetchall()
            problems.append(
                f"{table.name}: Spark {spark_rows:,} rows ({spark_keys:,} keys), DuckDB {duck_rows:,}; "
                f"{only_spark:,} rows only in Spark's, {only_duck:,} only in DuckDB's (e.g. {sample})"
            )
    con.close()
    if problems:
        raise BenchFailed("the Spark staging result differs from DuckDB's: " + "; ".join(problems))


def check_reports(reports: Sequence[StagingReport], landed: dict[str, LandedTable]) -> None:
    """Every landed change read, nothing quarantined, nothing dropped as late (generated rows pass every rule)."""
    problems = []
    for report in reports:
        expected = landed[report.table].rows
        if report.status != "staged" or report.input_changes != expected:
            problems.append(f"{report.table}: {report.status}, read {report.input_changes:,} of {expected:,} changes")
        if report.quarantined_rows or report.late_changes:
            problems.append(
                f"{report.table}: {report.quarantined_rows:,} rows quarantined {dict(report.quarantined)}, "
                f"{report.late_changes:,} dropped as late (the generator should produce neither)"
            )
    if problems:
        raise BenchFailed("; ".join(problems))


# --------------------------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Figures:
    landed: dict[str, LandedTable]
    generate_s: float
    startup_s: float
    staging_s: float
    staging: list[StagingReport]
    duckdb_s: float
    duckdb_rows: dict[str, int]
    curated_s: float | None
    curated: CuratedReport | None

    @property
    def changes(self) -> int:
        return sum(table.rows for table in self.landed.values())

    @property
    def staged_rows(self) -> int:
        return sum(report.rows_total or 0 for report in self.staging)

    @property
    def curated_input(self) -> int:
        staged = {report.table: report.rows_total or 0 for report in self.staging}
        return sum(self.landed[name].rows for name in CURATED_LANDING_SOURCES) + sum(
            staged[name] for name in FACT_SOURCES
        )

    @property
    def ratio(self) -> float:
        return self.staging_s / self.duckdb_s if self.duckdb_s > 0 else float("inf")


def warm_up_jobs(
    spark: SparkSession, catalog: Catalog, names: Sequence[str], folder: Path, seed: int, console: Console
) -> None:
    """Both jobs once on a small lake of their own, so the timed runs find a JVM whose code is already compiled."""
    lake = LakeLocation(str(folder))
    write_landing(lake, generate(catalog, names, WARM_UP_CHANGES, seed + 1, 10 * WARM_UP_CHANGES), seed=seed + 1)
    started = time.perf_counter()
    StagingJob(spark, lake, catalog).run(names)
    if len(names) == len(catalog.tables):
        CuratedJob(spark, lake, catalog).run()
    console.print(f"warm-up: both jobs on {WARM_UP_CHANGES:,} other changes in {time.perf_counter() - started:.1f} s")


def run(
    catalog: Catalog,
    tables: Sequence[Table],
    folder: Path,
    *,
    changes: int,
    seed: int,
    changes_per_hour: int,
    master: str,
    warm_up: bool,
    console: Console,
) -> Figures:
    lake = LakeLocation(str(folder / "lake"))
    names = [table.name for table in tables]
    started = time.perf_counter()
    data = generate(catalog, names, changes, seed, changes_per_hour)
    landed = write_landing(lake, data, seed=seed, max_rows_per_file=DEFAULT_MAX_ROWS_PER_FILE)
    del data
    generate_s = time.perf_counter() - started
    files = sum(len(table.files) for table in landed.values())
    hours = max(table.hours for table in landed.values())
    console.print(
        f"landed {changes:,} changes of {len(tables)} tables in {files} files over {hours} hour folders "
        f"(generated and written in {generate_s:.1f} s, not timed)"
    )

    started = time.perf_counter()
    spark = local_session("cdc-bench-batch", master=master)
    startup_s = time.perf_counter() - started
    try:
        if warm_up:
            warm_up_jobs(spark, catalog, names, folder / "warm-up-lake", seed, console)
        console.print(f"staging job on {master} ...")
        started = time.perf_counter()
        staging = StagingJob(spark, lake, catalog).run(names)
        staging_s = time.perf_counter() - started
        check_reports(staging, landed)

        console.print("DuckDB baseline ...")
        out = folder / "duckdb"
        duckdb_s, duckdb_rows = duckdb_staging(lake, tables, out, master_cores(master))
        compare(lake, tables, out)

        curated_s: float | None = None
        curated: CuratedReport | None = None
        if len(tables) == len(catalog.tables):
            console.print("curated job ...")
            started = time.perf_counter()
            curated = CuratedJob(spark, lake, catalog).run()
            curated_s = time.perf_counter() - started
    finally:
        spark.stop()
    return Figures(landed, generate_s, startup_s, staging_s, staging, duckdb_s, duckdb_rows, curated_s, curated)


def report(figures: Figures, master: str, console: Console) -> None:
    details = RichTable(title="per table", title_justify="left")
    for name in ("table", "landed", "deletes", "files", "staged rows", "Spark s", "DuckDB rows"):
        details.add_column(name, justify="left" if name == "table" else "right")
    for staged in figures.staging:
        landed = figures.landed[staged.table]
        details.add_row(
            staged.table,
            f"{landed.rows:,}",
            f"{landed.deletes:,}",
            str(len(landed.files)),
            f"{staged.rows_total or 0:,}",
            f"{staged.seconds:.1f}",
            f"{figures.duckdb_rows[staged.table]:,}",
        )
    console.print(details)

    phases = RichTable(title=f"throughput (Spark {master})", title_justify="left")
    for name in ("phase", "rows", "seconds", "rows/s"):
        phases.add_column(name, justify="left" if name == "phase" else "right")
    phases.add_row(
        "Spark staging job",
        f"{figures.changes:,}",
        f"{figures.staging_s:.1f}",
        f"{rate(figures.changes, figures.staging_s):,.0f}",
    )
    phases.add_row(
        "DuckDB staging baseline",
        f"{figures.changes:,}",
        f"{figures.duckdb_s:.1f}",
        f"{rate(figures.changes, figures.duckdb_s):,.0f}",
    )
    if figures.curated is not None and figures.curated_s is not None:
        phases.add_row(
            "Spark curated job",
            f"{figures.curated_input:,}",
            f"{figures.curated_s:.1f}",
            f"{rate(figures.curated_input, figures.curated_s):,.0f}",
        )
    console.print(phases)
    console.print(f"(Spark session startup {figures.startup_s:.1f} s, not counted)")

    if figures.curated is not None:
        built = RichTable(title="curated tables", title_justify="left")
        for name in ("table", "rows", "seconds"):
            built.add_column(name, justify="left" if name == "table" else "right")
        for table in figures.curated.tables:
            built.add_row(table.table, f"{table.rows or 0:,}", f"{table.seconds:.1f}")
        console.print(built)

    ok = figures.ratio <= RATIO_GOAL
    console.print(
        f"staging   Spark {rate(figures.changes, figures.staging_s):,.0f} rows/s "
        f"({figures.changes:,} landed changes in {figures.staging_s:.1f} s -> {figures.staged_rows:,} staged rows)"
    )
    console.print(
        f"duckdb    {rate(figures.changes, figures.duckdb_s):,.0f} rows/s "
        f"({figures.changes:,} landed changes in {figures.duckdb_s:.1f} s), same rows as Spark's staging"
    )
    console.print(f"ratio     Spark staging / DuckDB: {figures.ratio:.2f}x   (goal <= {RATIO_GOAL:g}x)   {verdict(ok)}")
    if figures.curated is not None and figures.curated_s is not None:
        console.print(
            f"curated   Spark {rate(figures.curated_input, figures.curated_s):,.0f} rows/s "
            f"({figures.curated_input:,} input rows in {figures.curated_s:.1f} s)"
        )
        console.print(
            f"          (input = landed {'/'.join(CURATED_LANDING_SOURCES)} changes "
            f"+ staged {'/'.join(FACT_SOURCES)} rows)"
        )
    else:
        console.print("curated   skipped: it needs all six tables (choose them all with --tables or leave it out)")


def parse_tables(value: str | None, catalog: Catalog, parser: argparse.ArgumentParser) -> list[Table]:
    """The chosen tables in catalog order; each must come with the tables its ``references`` rules name."""
    if value is None:
        return list(catalog.tables)
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    known = {table.name for table in catalog.tables}
    unknown = sorted(chosen - known)
    if unknown or not chosen:
        parser.error(f"--tables: unknown table(s) {', '.join(unknown) or '(none)'} (known: {', '.join(sorted(known))})")
    for name in sorted(chosen):
        missing = sorted(set(catalog.table(name).quality.references.values()) - chosen)
        if missing:
            parser.error(
                f"--tables: {name} needs {', '.join(missing)} too (its references rules check staged keys there)"
            )
    return [table for table in catalog.tables if table.name in chosen]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000_000, help="landed changes over the chosen tables")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated changes")
    parser.add_argument("--tables", help="comma-separated tables to land and stage [all six]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary lake (its path is printed)")
    parser.add_argument("--spark-master", default="local[2]", help="Spark master of the jobs' session")
    parser.add_argument(
        "--changes-per-hour", type=int, default=100_000, help="source rate: spreads the changes over hour folders"
    )
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help=f"run both jobs on {WARM_UP_CHANGES:,} other changes first, untimed (excludes JVM warm-up)",
    )
    args = parser.parse_args()
    if args.changes < 100:
        parser.error("--changes must be at least 100")
    if args.changes_per_hour <= 0:
        parser.error("--changes-per-hour must be positive")
    if args.seed < 0:
        parser.error("--seed must not be negative")
    catalog = load_catalog()
    tables = parse_tables(args.tables, catalog, parser)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    # This machine is small and often shared: a load average well above 0 before the run means noisy numbers.
    console.print(f"load average before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        figures = run(
            catalog,
            tables,
            folder,
            changes=args.changes,
            seed=args.seed,
            changes_per_hour=args.changes_per_hour,
            master=args.spark_master,
            warm_up=args.warm_up,
            console=console,
        )
        report(figures, args.spark_master, console)
    except BenchFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            console.print(f"kept the lake in {folder / 'lake'} (DuckDB's result in {folder / 'duckdb'})")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(f"\nload average after: {os.getloadavg()[0]:.1f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
