"""Compaction of the landing zone: the many small committed files of a closed hour become a few large ones.

The streaming job writes a handful of files per table every micro-batch; after a day an hour folder holds
hundreds of them, which every reader pays for. Compaction rewrites the small committed files of *closed*
hours (ended at least ``older_than`` ago) while the stream keeps running, in three steps, each leaving the
committed view of ``common.landing_files`` correct (every row exactly once):

a. write ``compacted-<uuid>.parquet`` next to the files it replaces: listed by neither the log nor a manifest,
   so no reader sees it yet;
b. write a manifest ``_compactions/<UTC timestamp>-<uuid>.json`` atomically: from this instant the view is
   ``(log | added) - replaced``;
c. delete the replaced files (readers of the view stopped listing them at b).

A crash between steps leaves unreferenced compacted files (before b) or replaced files still present (before
the end of c); the next run deletes both. The stream only ever adds files and log entries and compaction never
writes ``_spark_metadata``, so they do not interfere. Part files outside the log (a killed batch) are removed
once older than ``older_than``, so a batch in flight is never touched.

One compaction at a time per table: locally an ``fcntl`` lock on ``_compactions/.lock``; on S3 there is no
lock, so run a single compactor (one scheduled job), never two at once.
"""

from __future__ import annotations

import fcntl
import json
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from common.errors import CdcError, ConfigError
from common.lake import LakeLocation, write_parquet_atomically
from common.landing_files import (
    COMPACTED_PREFIX,
    COMPACTIONS_FOLDER,
    Hour,
    LandingState,
    Manifest,
    StoredFile,
    UncommittedFile,
    classify_uncommitted,
    hour_of,
    is_compactor_file,
    is_data_file,
    landing_state,
    manifest_name,
    stored_files,
    table_folder,
    write_manifest,
)
from common.logging import get_logger

log = get_logger(__name__)

DEFAULT_OLDER_THAN: Final = timedelta(hours=2)
DEFAULT_MIN_FILES: Final = 4
DEFAULT_MAX_RECORDS_PER_FILE: Final = 1_000_000
HOURS_PER_MANIFEST: Final = 24
LOCK_FILE: Final = ".lock"
SPARK_ROW_METADATA: Final = b"org.apache.spark.sql.parquet.row.metadata"
UTC_INSTANT: Final = pa.timestamp("us", tz="UTC")

Progress = Callable[[str, int, int], None]  # (table, hours done, hours planned)


class CompactionError(CdcError):
    """A compaction could not complete; the committed view is unchanged or already complete."""


class CompactionBusyError(CompactionError):
    """Another compaction of the same table holds the lock."""


@dataclass(frozen=True)
class CompactionOptions:
    """What to compact and what to clean; defaults match ``cdc lake compact``."""

    older_than: timedelta = DEFAULT_OLDER_THAN
    min_files: int = DEFAULT_MIN_FILES
    max_records_per_file: int = DEFAULT_MAX_RECORDS_PER_FILE
    remove_orphans: bool = True
    dry_run: bool = False
    hours_per_manifest: int = HOURS_PER_MANIFEST

    def __post_init__(self) -> None:
        if self.min_files < 2:
            raise ConfigError(f"--min-files must be at least 2 (one file has nothing to merge), got {self.min_files}")
        if self.max_records_per_file < 1:
            raise ConfigError(f"--max-records-per-file must be positive, got {self.max_records_per_file}")
        if self.older_than < timedelta(0):
            raise ConfigError("--older-than must not be negative")
        if self.hours_per_manifest < 1:
            raise ConfigError("hours per manifest must be positive")


@dataclass(frozen=True)
class SourceFile:
    """A committed file considered for compaction: relative path, rows and Arrow schema from its footer.

    ``sequence`` is its position in the sink log (commit order), which breaks ties between equal mtimes.
    ``int96_columns`` were written as legacy INT96 and are read as UTC instants (see :func:`read_source`).
    """

    path: str
    rows: int
    modified: datetime
    schema: pa.Schema
    sequence: int = 0
    int96_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class HourPlan:
    """The small files of one closed hour, oldest first, and the schema their rows are written with."""

    hour: Hour
    files: tuple[SourceFile, ...]
    schema: pa.Schema

    @property
    def rows(self) -> int:
        return sum(source.rows for source in self.files)

    def output_files(self, max_records_per_file: int) -> int:
        return math.ceil(self.rows / max_records_per_file)


@dataclass
class TableReport:
    """What one table's run did (or, dry run, would do)."""

    table: str
    files_before: int
    files_after: int = 0
    hours_compacted: int = 0
    files_replaced: int = 0
    files_written: int = 0
    rows_rewritten: int = 0
    orphans_removed: int = 0
    orphans_kept: int = 0
    leftovers_removed: int = 0
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.hours_compacted or self.orphans_removed or self.leftovers_removed)


class _SchemaConflictError(Exception):
    """Files of one hour disagree on a column's type beyond "missing in older files"."""


# --------------------------------------------------------------------------------------------------------------
# Planning (pure apart from reading footers).


def closed_hour_files(
    state: LandingState, stored: dict[str, StoredFile], now: datetime, options: CompactionOptions
) -> dict[Hour, list[StoredFile | str]]:
    """Committed data files of closed hours holding at least ``min_files`` of them (a missing file as its path)."""
    by_hour: dict[Hour, list[StoredFile | str]] = {}
    for path in state.committed:
        hour = hour_of(path)
        if hour is None or not is_data_file(path) or not hour.is_closed(now, options.older_than):
            continue
        by_hour.setdefault(hour, []).append(stored.get(path, path))
    return {hour: files for hour, files in sorted(by_hour.items()) if len(files) >= options.min_files}


def plan_hour(hour: Hour, files: Sequence[SourceFile], options: CompactionOptions) -> HourPlan | None:
    """The hour's plan when it holds at least ``min_files`` small files (fewer rows than a full file).

    Full files are left alone, so an hour compacts to full files plus at most one small remainder and a
    second run finds nothing to do.
    """
    small = sorted(
        (f for f in files if f.rows < options.max_records_per_file), key=lambda f: (f.modified, f.sequence, f.path)
    )
    if len(small) < options.min_files:
        return None
    return HourPlan(hour, tuple(small), unified_schema([f.schema for f in reversed(small)]))


def unified_schema(newest_first: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for rows of files written before and after a column was added (added columns NULL before).

    The newest file's column order wins. Spark's row metadata (the schema Spark reads back) is rebuilt for the
    union, or dropped if some file has none.
    """
    try:
        unified = pa.unify_schemas(list(newest_first), promote_options="default")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise _SchemaConflictError(str(exc)) from None
    metadata = dict(newest_first[0].metadata or {})
    row_metadata = spark_row_metadata(newest_first, unified.names)
    metadata.pop(SPARK_ROW_METADATA, None)
    if row_metadata is not None:
        metadata[SPARK_ROW_METADATA] = row_metadata
    return unified.with_metadata(metadata)


def spark_row_metadata(newest_first: Sequence[pa.Schema], names: Sequence[str]) -> bytes | None:
    """Spark's struct JSON for ``names``, each field as the newest file declaring it has it; None if unknown."""
    fields: dict[str, object] = {}
    for schema in reversed(newest_first):
        raw = (schema.metadata or {}).get(SPARK_ROW_METADATA)
        if raw is None:
            return None
        try:
            fields.update({item["name"]: item for item in json.loads(raw)["fields"]})
        except (ValueError, KeyError, TypeError):
            return None
    if any(name not in fields for name in names):
        return None
    return json.dumps({"type": "struct", "fields": [fields[name] for name in names]}, separators=(",", ":")).encode()


def plan_table(
    location: LakeLocation, state: LandingState, stored: Sequence[StoredFile], now: datetime, options: CompactionOptions
) -> tuple[list[HourPlan], list[str]]:
    """Plans of the hours worth compacting, plus why some candidate hours were skipped."""
    filesystem, _ = location.filesystem()
    folder = table_folder(location, state.table)
    plans, skipped = [], []
    candidates = closed_hour_files(state, {item.path: item for item in stored}, now, options)
    # Compacted files are not in the log; they sort after it (their mtime normally decides first anyway).
    sequence = {path: number for number, path in enumerate(state.log_files)}
    for hour, files in candidates.items():
        missing = sorted(item for item in files if isinstance(item, str))
        if missing:
            skipped.append(f"{hour}: committed file {missing[0]} is missing from storage")
            continue
        try:
            sources = [
                _source_file(filesystem, folder, item, sequence.get(item.path, len(sequence)))
                for item in files
                if isinstance(item, StoredFile)
            ]
            plan = plan_hour(hour, sources, options)
        except FileNotFoundError as exc:
            skipped.append(f"{hour}: a committed file vanished ({exc})")
            continue
        except _SchemaConflictError as exc:
            skipped.append(f"{hour}: files disagree on a column type ({exc})")
            continue
        if plan is not None:
            plans.append(plan)
    return plans, skipped


def _source_file(filesystem: pafs.FileSystem, folder: str, stored: StoredFile, sequence: int) -> SourceFile:
    footer = _open_parquet(filesystem, f"{folder}/{stored.path}")
    int96 = tuple(column.path for column in footer.schema if column.physical_type == "INT96" and "." not in column.path)
    schema = as_utc_instants(footer.schema_arrow, int96)
    return SourceFile(stored.path, footer.metadata.num_rows, stored.modified, schema, sequence, int96)


def _open_parquet(filesystem: pafs.FileSystem, path: str) -> pq.ParquetFile:
    """INT96 read as microseconds: Spark writes no finer, so nothing is lost."""
    return pq.ParquetFile(path, filesystem=filesystem, coerce_int96_timestamp_unit="us")


def as_utc_instants(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    """``names`` (legacy INT96 columns, which readers get as naive timestamps) typed as UTC instants.

    INT96 is how Spark wrote TIMESTAMP (an instant) before the stream set ``outputTimestampType`` to
    TIMESTAMP_MICROS; the compacted file holds them as INT64 microseconds adjusted to UTC, exactly what the
    stream writes now, so an hour mixing old and new files unifies and Spark reads the same TIMESTAMP.
    """
    for name in names:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(index).with_type(UTC_INSTANT))
    return schema


def read_source(filesystem: pafs.FileSystem, folder: str, source: SourceFile) -> pa.Table:
    """A source file's rows, INT96 columns as UTC instants (the naive values are UTC: a relabel, no shift)."""
    rows = _open_parquet(filesystem, f"{folder}/{source.path}").read()
    for name in source.int96_columns:
        index = rows.schema.get_field_index(name)
        rows = rows.set_column(index, rows.field(index).with_type(UTC_INSTANT), rows.column(index).cast(UTC_INSTANT))
    return rows


# --------------------------------------------------------------------------------------------------------------
# The three steps.


def write_compacted_files(location: LakeLocation, table: str, plan: HourPlan, max_records_per_file: int) -> list[str]:
    """Step a: the plan's rows in files of at most ``max_records_per_file``; returns their relative paths.

    Reads one source file at a time, so memory holds about one output file. The files are invisible to
    readers until a manifest adds them; on failure the ones already written are deleted (best effort).
    """
    filesystem, _ = location.filesystem()
    folder = table_folder(location, table)
    written: list[str] = []
    try:
        for chunk in _chunks(filesystem, folder, plan, max_records_per_file):
            relative = f"{plan.hour.folder}/{COMPACTED_PREFIX}{uuid.uuid4().hex}.parquet"
            write_parquet_atomically(chunk, location, "landing", table, relative)
            written.append(relative)
        _verify_rows(filesystem, folder, written, plan)
    except BaseException:
        delete_files(location, table, written)
        raise
    return written


def _chunks(filesystem: pafs.FileSystem, folder: str, plan: HourPlan, max_records: int) -> Iterator[pa.Table]:
    """Tables of exactly ``max_records`` rows, then the remainder, all with the plan's schema."""
    empty = plan.schema.empty_table()
    buffered: list[pa.Table] = []
    count = 0
    for source in plan.files:
        rows = read_source(filesystem, folder, source)
        # Missing columns become NULL, columns take the plan's order: concat with an empty unified table.
        buffered.append(pa.concat_tables([empty, rows], promote_options="default"))
        count += rows.num_rows
        while count >= max_records:
            combined = pa.concat_tables(buffered)
            yield combined.slice(0, max_records).replace_schema_metadata(plan.schema.metadata)
            rest = combined.slice(max_records)
            buffered, count = [rest], rest.num_rows
    if count:
        yield pa.concat_tables(buffered).replace_schema_metadata(plan.schema.metadata)


def _verify_rows(filesystem: pafs.FileSystem, folder: str, written: Sequence[str], plan: HourPlan) -> None:
    """Read back the written footers: the rows must add up before any manifest points at them."""
    rows = sum(_open_parquet(filesystem, f"{folder}/{path}").metadata.num_rows for path in written)
    if rows != plan.rows:
        raise CompactionError(f"compacting {plan.hour} wrote {rows:,} rows instead of {plan.rows:,}; nothing committed")


def commit_manifest(
    location: LakeLocation, table: str, plans: Sequence[HourPlan], added: Sequence[str], now: datetime | None = None
) -> Manifest:
    """Step b: the atomic switch of readers from the replaced files to the added ones (named by ``now``)."""
    now = now or datetime.now(UTC)
    manifest = Manifest(
        name=manifest_name(now),
        replaced=tuple(source.path for plan in plans for source in plan.files),
        added=tuple(added),
        created_at=now.astimezone(UTC).isoformat(),
        table=table,
        hours=tuple(plan.hour.folder for plan in plans),
        rows=sum(plan.rows for plan in plans),
    )
    write_manifest(location, table, manifest)
    return manifest


def delete_files(location: LakeLocation, table: str, paths: Sequence[str]) -> int:
    """Step c (and clean-up): delete files (and Hadoop's ``.<name>.crc`` sidecars); already gone is fine."""
    filesystem, _ = location.filesystem()
    folder = table_folder(location, table)
    deleted = 0
    for path in paths:
        directory, _, name = path.rpartition("/")
        for target in (path, f"{directory}/.{name}.crc"):
            try:
                filesystem.delete_file(f"{folder}/{target}")
            except FileNotFoundError:
                continue
            deleted += target == path
    return deleted


# --------------------------------------------------------------------------------------------------------------
# A table's run.


@contextmanager
def compaction_lock(location: LakeLocation, table: str) -> Iterator[bool]:
    """Hold the table's compaction lock; yields whether the lock is real (local) or absent (S3).

    fcntl locks vanish with the process, so a killed compaction never leaves a stale lock behind.
    """
    if location.is_s3:
        yield False
        return
    folder = Path(table_folder(location, table)) / COMPACTIONS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompactionBusyError(
                f"another compaction of landing table {table!r} is running (lock {folder / LOCK_FILE})"
            ) from None
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compact_table(
    location: LakeLocation,
    table: str,
    options: CompactionOptions | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> TableReport:
    """Finish any interrupted compaction, remove old orphans, then compact the table's closed hours."""
    options = options or CompactionOptions()
    now = now or datetime.now(UTC)
    if options.dry_run:
        return _run(location, table, options, now, progress, exclusive=not location.is_s3)
    with compaction_lock(location, table) as exclusive:
        return _run(location, table, options, now, progress, exclusive=exclusive)


def compact_tables(
    location: LakeLocation,
    tables: Sequence[str],
    options: CompactionOptions | None = None,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> list[TableReport]:
    """:func:`compact_table` for each table, in order."""
    return [compact_table(location, table, options, now=now, progress=progress) for table in tables]


def _run(
    location: LakeLocation,
    table: str,
    options: CompactionOptions,
    now: datetime,
    progress: Progress | None,
    *,
    exclusive: bool,
) -> TableReport:
    state = landing_state(location, table)
    stored = stored_files(location, table)
    report = TableReport(table, files_before=len(state.committed), dry_run=options.dry_run)
    _clean_up(location, state, stored, now, options, report, exclusive=exclusive)
    plans, report.skipped = plan_table(location, state, stored, now, options)
    done = 0
    if progress is not None:
        progress(table, done, len(plans))
    for group in _groups(plans, options.hours_per_manifest):
        written = _compact_group(location, table, group, options)
        report.hours_compacted += len(group)
        report.files_replaced += sum(len(plan.files) for plan in group)
        report.files_written += written
        report.rows_rewritten += sum(plan.rows for plan in group)
        done += len(group)
        if progress is not None:
            progress(table, done, len(plans))
    if options.dry_run:
        report.files_after = report.files_before - report.files_replaced + report.files_written
    else:
        report.files_after = len(landing_state(location, table).committed)
    for reason in report.skipped:
        log.info("compaction_hour_skipped", table=table, reason=reason)
    return report


def _groups(plans: Sequence[HourPlan], size: int) -> Iterator[Sequence[HourPlan]]:
    """Hours committed together: one manifest per group bounds both lost work on a crash and manifest count."""
    for start in range(0, len(plans), size):
        yield plans[start : start + size]


def _compact_group(location: LakeLocation, table: str, group: Sequence[HourPlan], options: CompactionOptions) -> int:
    """Steps a, b, c for a group of hours committed by one manifest; returns the number of files written."""
    if options.dry_run:
        return sum(plan.output_files(options.max_records_per_file) for plan in group)
    added: list[str] = []
    try:
        for plan in group:
            added.extend(write_compacted_files(location, table, plan, options.max_records_per_file))
    except BaseException:
        delete_files(location, table, added)  # best effort; uncommitted, so the next run would remove them too
        raise
    # Never delete ``added`` once the manifest write started: a failed call may still have left the manifest.
    manifest = commit_manifest(location, table, group, added)  # named by the wall clock, not the planning time
    delete_files(location, table, manifest.replaced)
    log.info("compaction_committed", table=table, manifest=manifest.name, hours=len(group), rows=manifest.rows)
    return len(added)


def _clean_up(
    location: LakeLocation,
    state: LandingState,
    stored: Sequence[StoredFile],
    now: datetime,
    options: CompactionOptions,
    report: TableReport,
    *,
    exclusive: bool,
) -> None:
    """Delete what an interrupted compaction left (always) and old stream orphans (``remove_orphans``)."""
    found = classify_uncommitted(stored, state, now=now, older_than=options.older_than, exclusive=exclusive)
    doomed = [item for item in found if item.removable and _should_remove(item, options)]
    report.orphans_kept = sum(1 for item in found if item.kind == "orphan" and item not in doomed)
    if doomed and not options.dry_run:
        # A file committed after our log read looks orphaned; read the view again before deleting anything.
        committed_now = landing_state(location, state.table).committed
        doomed = [item for item in doomed if item.file.path not in committed_now]
        delete_files(location, state.table, [item.file.path for item in doomed])
    report.leftovers_removed = sum(1 for item in doomed if item.kind == "replaced")
    report.orphans_removed = sum(1 for item in doomed if item.kind == "orphan")


def _should_remove(item: UncommittedFile, options: CompactionOptions) -> bool:
    """Replaced files and the compactor's own leftovers always go; stream orphans only with remove_orphans."""
    return item.kind == "replaced" or is_compactor_file(item.file.path) or options.remove_orphans
