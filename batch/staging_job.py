"""The staging job: committed landing files → one current row per primary key in ``staging/<table>/`` (ADR 0011).

Per table, in ``Catalog.referenced_first()`` order (so ``references`` rules see this run's staging of the tables
they name): the landing files committed since the staging table's bookmark are read, the winning change per key
is kept, changes older than the staged row are dropped, the rest is checked against the catalog's quality rules,
failing rows go to ``quarantine/<table>/run=<run>-<nonce>/`` and the others are merged into the buckets they
touch. One commit of the versioned table (``batch.table_store``) then lists the untouched buckets' files
unchanged, the rewritten buckets' new files, and the bookmark: the landing files consumed and every committed
quarantine file. A crash anywhere before that commit leaves the previous version as it was; the next run reads
the same input again, and the crashed run's data and quarantine files stay unlisted (``vacuum`` removes data
files; quarantine readers must use ``batch.staging_files.committed_quarantine_files``, never a glob).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final, Literal

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.quality import RULES, check_quality, invalid_rows, valid_rows
from batch.staging_files import (
    LANDING_FILES,
    QUARANTINE_FILES,
    QUARANTINE_ZONE,
    ZONE,
    bookmark_paths,
    carried_files,
    new_run_id,
    pending_landing_files,
)
from batch.staging_schema import (
    BUCKET,
    BUCKET_FOLDER,
    DELETED,
    RUN_ID,
    landing_read_ddl,
    position_columns,
    staging_columns,
    staging_ddl,
)
from batch.staging_transforms import latest_changes, merge_into_current, newer_than_current, to_staging_rows
from batch.table_store import TableStore, TableVersion
from common.errors import ConfigError
from common.lake import LakeLocation
from common.landing_files import LandingState, LandingTableNotFoundError, landing_state
from common.logging import get_logger
from schemas.catalog import Catalog, Table

QUARANTINED_AT: Final = "_quarantined_at"
Status = Literal["staged", "up to date", "no landing data"]

log = get_logger(__name__)


@dataclass(frozen=True)
class StagingReport:
    """What one table's staging run did (``version``: the table's version after the run, None if never staged)."""

    table: str
    status: Status
    version: int | None = None
    new_files: int = 0
    input_changes: int = 0  # landing rows read
    changed_keys: int = 0  # keys with a winning change in this run's input
    late_changes: int = 0  # winners not newer than the staged row of their key (ignored)
    rows_merged: int = 0  # accepted rows merged into staging (upserts and deletes)
    deletes: int = 0
    quarantined: Mapping[str, int] = field(default_factory=dict)  # rows per broken rule
    quarantined_rows: int = 0
    buckets_rewritten: int = 0
    rows_written: int = 0  # rows in the rewritten buckets' new files
    rows_total: int | None = None  # rows of the committed version
    seconds: float = 0.0


@dataclass
class _TableRun:
    """The inputs of one table's run and the DataFrames it cached (unpersisted when the run ends)."""

    table: Table
    store: TableStore
    current: TableVersion | None
    state: LandingState
    new_files: list[str]
    run_id: str
    now: datetime
    cached: list[DataFrame] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return list(self.current.files) if self.current else []

    def bookmarked(self, name: str) -> list[str]:
        return bookmark_paths(self.current.bookmark, name) if self.current else []

    def cache(self, frame: DataFrame) -> DataFrame:
        self.cached.append(frame.cache())
        return frame


class StagingJob:
    """Runs staging for the catalog's tables on one Spark session; holds no state between runs."""

    def __init__(
        self,
        spark: SparkSession,
        location: LakeLocation,
        catalog: Catalog,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spark = spark
        self.location = location
        self.catalog = catalog
        self.clock = clock

    def run(self, tables: Sequence[str] | None = None, *, run_id: str | None = None) -> list[StagingReport]:
        """Stage ``tables`` (default: all) in referenced-first order; one report per table."""
        known = {table.name for table in self.catalog.tables}
        unknown = sorted(set(tables or ()) - known)
        if unknown:
            raise ConfigError(f"unknown table(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        run_id = run_id or new_run_id(self.clock())
        ordered = self.catalog.referenced_first()
        return [self.stage(table, run_id) for table in ordered if not tables or table.name in tables]

    def stage(self, table: Table, run_id: str) -> StagingReport:
        """One table's run: read new landing files, check, quarantine, merge, commit (or report up to date)."""
        started = time.monotonic()
        store = TableStore(self.location, ZONE, table.name)
        current = store.current()
        version = current.version if current else None
        try:
            state = landing_state(self.location, table.name)
        except LandingTableNotFoundError:
            return StagingReport(table.name, "no landing data", version, seconds=_since(started))
        new_files = pending_landing_files(state, bookmark_paths(current.bookmark, LANDING_FILES) if current else [])
        if not new_files:
            return StagingReport(table.name, "up to date", version, seconds=_since(started))
        run = _TableRun(table, store, current, state, new_files, run_id, self.clock())
        try:
            report = replace(self._stage(run), seconds=_since(started))
        finally:
            for frame in run.cached:
                frame.unpersist()
        log.info("staging.committed", **{k: v for k, v in vars(report).items() if k != "quarantined"})
        return report

    def _stage(self, run: _TableRun) -> StagingReport:
        table = run.table
        paths = [self.location.path("landing", table.name, path) for path in run.new_files]
        changes = self.spark.read.schema(landing_read_ddl(table)).parquet(*paths)
        candidates = run.cache(to_staging_rows(latest_changes(changes, table), table, run.run_id, run.now))
        per_bucket = {row[BUCKET]: row["count"] for row in candidates.groupBy(BUCKET).count().collect()}
        _, candidate_files = carried_files(run.files, per_bucket)
        # Keys in buckets with no staged file yet (every first run) are all new: no join against an empty frame.
        fresh = (
            newer_than_current(candidates, self._read_staged(table, run.store, candidate_files), table)
            if candidate_files
            else candidates
        )
        everything = self._read_staged(table, run.store, run.files) if table.quality.unique else None
        references = self._referenced_keys(table, run.store, run.files, fresh)
        checked = run.cache(check_quality(fresh, table, current=everything, referenced_keys=references))
        stats = checked.groupBy(BUCKET, DELETED, RULES).count().collect()  # few rule combinations: small
        accepted = [row for row in stats if not row[RULES]]
        quarantined = Counter[str]()
        for row in stats:
            quarantined.update(dict.fromkeys(row[RULES], row["count"]))
        quarantined_rows = sum(row["count"] for row in stats if row[RULES])
        quarantine_files = run.bookmarked(QUARANTINE_FILES)
        if quarantined_rows:
            quarantine_files += self._quarantine(table, checked, run.run_id, run.now)
        touched = sorted({row[BUCKET] for row in accepted})
        carried, replaced = carried_files(run.files, touched)
        written: list[str] = []
        if touched:
            # Candidates hold one change per key, so with nothing staged in the touched buckets they are the merge
            # (the union with the empty staged frame keeps the files' schema: every column nullable, as after a merge).
            staged = self._read_staged(table, run.store, replaced)
            merged = (
                merge_into_current(staged, valid_rows(checked), table)
                if replaced
                else valid_rows(checked).select(*staging_columns(table)).unionByName(staged)
            )
            written = self._write_buckets(run.store, merged, run.run_id)
        committed = self._commit(run, carried, replaced, written, quarantine_files)
        merged_rows = sum(row["count"] for row in accepted)
        filesystem, _ = self.location.filesystem()
        return StagingReport(
            table=table.name,
            status="staged",
            version=committed.version,
            new_files=len(run.new_files),
            input_changes=_parquet_rows(
                filesystem, [self.location.fs_path("landing", table.name, p) for p in run.new_files]
            ),
            changed_keys=sum(per_bucket.values()),
            late_changes=sum(per_bucket.values()) - merged_rows - quarantined_rows,
            rows_merged=merged_rows,
            deletes=sum(row["count"] for row in accepted if row[DELETED]),
            quarantined=dict(sorted(quarantined.items())),
            quarantined_rows=quarantined_rows,
            buckets_rewritten=len(touched),
            rows_written=_parquet_rows(filesystem, [f"{run.store.folder()}/{path}" for path in written]),
            rows_total=committed.rows,
        )

    def _commit(
        self, run: _TableRun, carried: list[str], replaced: list[str], written: list[str], quarantine: list[str]
    ) -> TableVersion:
        """The one step that makes the run visible: data files, consumed landing files and quarantine together."""
        filesystem, _ = self.location.filesystem()
        folder = run.store.folder()
        if run.current is not None and run.current.rows is not None:
            kept = run.current.rows - _parquet_rows(filesystem, [f"{folder}/{path}" for path in replaced])
        else:
            kept = _parquet_rows(filesystem, [f"{folder}/{path}" for path in carried])
        return run.store.commit(
            [*carried, *written],
            expected_version=run.current.version if run.current else 0,
            bookmark={LANDING_FILES: sorted(run.state.committed), QUARANTINE_FILES: quarantine},
            run_id=run.run_id,
            rows=kept + _parquet_rows(filesystem, [f"{folder}/{path}" for path in written]),
        )

    def _read_staged(self, table: Table, store: TableStore, files: Sequence[str]) -> DataFrame:
        """Staged rows of ``files`` (relative to the table folder); an empty frame of the same shape for none."""
        if not files:
            return self.spark.createDataFrame([], staging_ddl(table))
        return self.spark.read.schema(staging_ddl(table)).parquet(*[store.uri(path) for path in files])

    def _referenced_keys(
        self, table: Table, store: TableStore, files: Sequence[str], fresh: DataFrame
    ) -> dict[str, DataFrame]:
        """Current, non-deleted keys of each table a ``references`` rule names, as one column.

        Other tables ran earlier in this run (referenced-first order), so their current version includes this
        run's changes. A table referencing itself sees its own keys after this run's changes.
        """
        keys: dict[str, DataFrame] = {}
        for target in sorted(set(table.quality.references.values())):
            if target == table.name:
                rows = merge_into_current(self._read_staged(table, store, files), fresh, table)
                (key,) = table.primary_key
            else:
                referenced = self.catalog.table(target)
                (key,) = referenced.primary_key
                target_store = TableStore(self.location, ZONE, target)
                target_version = target_store.current()
                rows = self._read_staged(referenced, target_store, target_version.files if target_version else ())
            keys[target] = rows.where(~F.coalesce(F.col(DELETED), F.lit(False))).select(key)
        return keys

    def _write_buckets(self, store: TableStore, merged: DataFrame, run_id: str) -> list[str]:
        """Write ``merged`` as one file per bucket under a new run folder; the new files (relative paths)."""
        folder = store.new_data_folder(run_id)
        with_folder = merged.withColumn(BUCKET_FOLDER, F.format_string("%02d", F.col(BUCKET)))
        with_folder.repartition(BUCKET_FOLDER).write.partitionBy(BUCKET_FOLDER).parquet(store.uri(folder))
        return store.list_data_files(folder)

    def _quarantine(self, table: Table, checked: DataFrame, run_id: str, now: datetime) -> list[str]:
        """Write the rows that broke a rule to ``quarantine/<table>/run=<run>-<nonce>/``; their paths relative to
        ``quarantine/<table>/`` (listed in the bookmark of the commit that follows, or by nobody)."""
        columns = [*(column.name for column in table.columns), "_op", "_source_ts"]
        columns += [*position_columns(table.connector), RULES]
        rows = invalid_rows(checked).select(
            *columns, F.lit(run_id).alias(RUN_ID), F.lit(now).cast("timestamp").alias(QUARANTINED_AT)
        )
        folder = f"run={run_id}-{uuid.uuid4().hex[:8]}"
        rows.coalesce(1).write.parquet(self.location.path(QUARANTINE_ZONE, table.name, folder))
        filesystem, _ = self.location.filesystem()
        base = self.location.fs_path(QUARANTINE_ZONE, table.name)
        selector = pafs.FileSelector(f"{base}/{folder}", recursive=True)
        names = [info.path[len(base) + 1 :] for info in filesystem.get_file_info(selector) if info.is_file]
        return sorted(path for path in names if path.endswith(".parquet") and "/." not in path and "/_" not in path)


def _parquet_rows(filesystem: pafs.FileSystem, paths: Sequence[str]) -> int:
    """Rows of Parquet files from their footers (no Spark job)."""
    return sum(pq.ParquetFile(path, filesystem=filesystem).metadata.num_rows for path in paths)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
