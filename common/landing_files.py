"""The readers' contract of the landing zone: which Parquet files of ``landing/<table>/`` hold committed rows.

Spark's file sink commits a batch by adding its files to ``landing/<table>/_spark_metadata`` (the sink log); a
batch killed half-way leaves part files the log never lists, and Spark replays it under new names. Compaction
(``streaming.compaction``) rewrites small files and records each rewrite in a manifest under
``landing/<table>/_compactions/``. The committed view of a table is therefore::

    (files listed by the sink log, plus files added by manifests) minus files replaced by manifests

Readers that do not go through Spark's own sink-log index (DuckDB, pyarrow, Spark batch jobs reading file
lists) must use this view instead of globbing the folder, or they see the rows of a crashed batch twice.

Paths inside this module are relative to the table folder (``year=2026/month=11/day=22/hour=4/part-….parquet``),
so the contract does not depend on how the lake root was spelled (``s3://`` or ``s3a://``, a moved local folder).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from common.errors import CdcError, ConfigError
from common.lake import LakeLocation

SINK_LOG_FOLDER: Final = "_spark_metadata"
COMPACTIONS_FOLDER: Final = "_compactions"
SINK_LOG_VERSION: Final = 1
MANIFEST_VERSION: Final = 1
COMPACTED_PREFIX: Final = "compacted-"

_TABLE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_FILE: Final = re.compile(r"^(?P<batch>\d+)(?P<compact>\.compact)?$")
_HOUR_FILE: Final = re.compile(
    r"^year=(?P<year>\d{1,4})/month=(?P<month>\d{1,2})/day=(?P<day>\d{1,2})/hour=(?P<hour>\d{1,2})/(?P<name>[^/]+)$"
)
_MANIFEST_FILE: Final = re.compile(r"^[^.][^/]*\.json$")


class LandingError(CdcError):
    """The landing zone of a table cannot be read as the contract says."""


class LandingTableNotFoundError(LandingError):
    """No ``landing/<table>/_spark_metadata``: the table was never landed (or the name is wrong)."""

    exit_code = 2


class SinkLogError(LandingError):
    """A sink log file is unreadable, of an unknown version, or vanished twice while being read."""


class ManifestError(LandingError):
    """A compaction manifest is not valid JSON of the expected shape."""


# --------------------------------------------------------------------------------------------------------------
# Pure parts: sink log, manifests, partitions, committed view, orphans.


@dataclass(frozen=True)
class LogEntry:
    """One line of a sink log file: a file path (URI, as Spark wrote it) and ``add`` or ``delete``."""

    path: str
    action: str = "add"


def log_file_batch(name: str) -> tuple[int, bool] | None:
    """``(batch id, is compact)`` of a sink log file name (``7``, ``9.compact``); None for anything else."""
    match = _LOG_FILE.match(name)
    if match is None:
        return None
    return int(match["batch"]), match["compact"] is not None


def select_log_files(names: Iterable[str]) -> list[str]:
    """The log files describing the current state: the latest ``.compact`` then every later batch, in order.

    A ``.compact`` file holds every entry of the batches before it, which is why Spark may delete those.
    Hidden files (``.0.crc``, ``.7.<uuid>.tmp``) and anything else that is not a batch file are ignored.
    """
    batches: dict[int, str] = {}
    latest_compact = -1
    for name in names:
        parsed = log_file_batch(name)
        if parsed is None:
            continue
        batch, compact = parsed
        if compact:
            latest_compact = max(latest_compact, batch)
            batches[batch] = name
        else:
            batches.setdefault(batch, name)  # N.compact wins over a leftover plain N
    return [batches[batch] for batch in sorted(batches) if batch >= latest_compact]


def missing_batches(selected: Sequence[str]) -> list[int]:
    """Batch ids absent from a selection of :func:`select_log_files` (it must run without gaps).

    Without a ``.compact`` file the log starts at batch 0; a gap means a file vanished or was not yet
    visible, and silently skipping it would drop that batch's files from the committed view.
    """
    ids = [parsed[0] for parsed in map(log_file_batch, selected) if parsed is not None]
    if not ids:
        return []
    first = ids[0] if log_file_batch(selected[0]) == (ids[0], True) else 0
    return sorted(set(range(first, ids[-1] + 1)) - set(ids))


def parse_log_text(text: str, *, source: str) -> list[LogEntry]:
    """Entries of one sink log file: a ``v1`` line, then one JSON object per line."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("v"):
        raise SinkLogError(f"sink log file {source} does not start with a version line")
    version = lines[0][1:].strip()
    if not version.isdigit() or int(version) > SINK_LOG_VERSION:
        raise SinkLogError(f"sink log file {source} has unsupported version {lines[0]!r} (expected v1)")
    entries = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entries.append(LogEntry(str(data["path"]), str(data.get("action", "add"))))
        except (ValueError, KeyError, TypeError):
            raise SinkLogError(f"sink log file {source} line {number} is not a file entry") from None
    return entries


def fold_log(entries: Iterable[LogEntry]) -> list[str]:
    """Paths still listed after applying every entry in order (``delete`` removes; first ``add`` keeps order)."""
    listed: dict[str, None] = {}
    for entry in entries:
        if entry.action == "delete":
            listed.pop(entry.path, None)
        else:
            listed.setdefault(entry.path, None)
    return list(listed)


def table_relative_path(uri: str, table: str) -> str:
    """The part of a sink-log path after ``landing/<table>/``.

    Spark logs absolute URIs (``file:///…``, ``s3://bucket/…``), percent-encoded. Cutting at the last
    ``/landing/<table>/`` works whatever the scheme and even when the lake folder was moved.
    """
    path = unquote(urlsplit(uri).path) if "://" in uri or uri.startswith("file:") else uri
    path = "/" + path.lstrip("/")
    marker = f"/landing/{table}/"
    position = path.rfind(marker)
    if position < 0:
        raise SinkLogError(f"sink log of {table} lists {uri}, which is outside landing/{table}/")
    relative = path[position + len(marker) :]
    check_relative_path(relative, what=f"sink log entry {uri}")
    return relative


def check_relative_path(path: str, *, what: str) -> str:
    """Reject paths that would leave the table folder; returns ``path``."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise LandingError(f"{what}: {path!r} is not a path inside the table folder")
    return path


@dataclass(frozen=True, order=True)
class Hour:
    """One ``year=/month=/day=/hour=`` partition (UTC hour of the change's source commit time)."""

    year: int
    month: int
    day: int
    hour: int

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, self.day, self.hour, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=1)

    @property
    def folder(self) -> str:
        """The folder as Spark writes it: unpadded integers."""
        return f"year={self.year}/month={self.month}/day={self.day}/hour={self.hour}"

    def is_closed(self, now: datetime, older_than: timedelta) -> bool:
        """True once the hour ended at least ``older_than`` ago: late rows for it are then unlikely."""
        return self.end + older_than <= now

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d} {self.hour:02d}h"


def hour_of(path: str) -> Hour | None:
    """The hour partition of a table-relative file path; None when the path is not ``year=…/…/hour=…/name``."""
    match = _HOUR_FILE.match(path)
    if match is None:
        return None
    year, month, day, hour = (int(match[part]) for part in ("year", "month", "day", "hour"))
    try:
        datetime(year, month, day, hour, tzinfo=UTC)  # validates the ranges (month=13 is not an hour)
    except ValueError:
        return None
    return Hour(year, month, day, hour)


def is_data_file(path: str) -> bool:
    """A visible Parquet file directly in an hour folder (what a globbing reader would pick up)."""
    name = path.rpartition("/")[2]
    return hour_of(path) is not None and name.endswith(".parquet") and not name.startswith((".", "_"))


def is_compactor_temporary(path: str) -> bool:
    """A hidden temporary file left by an interrupted compacted-file write (never read by anyone)."""
    name = path.rpartition("/")[2]
    return hour_of(path) is not None and name.startswith(f".{COMPACTED_PREFIX}") and name.endswith(".tmp")


def is_compactor_file(path: str) -> bool:
    """Written by the compactor (a compacted file or its temporary), not by the stream."""
    name = path.rpartition("/")[2]
    return name.startswith((COMPACTED_PREFIX, f".{COMPACTED_PREFIX}"))


@dataclass(frozen=True)
class Manifest:
    """One compaction: from the instant this file exists, ``added`` replace ``replaced`` (relative paths)."""

    name: str
    replaced: tuple[str, ...]
    added: tuple[str, ...]
    created_at: str = ""
    table: str = ""
    hours: tuple[str, ...] = ()
    rows: int = 0

    def to_json(self) -> str:
        body = {
            "version": MANIFEST_VERSION,
            "table": self.table,
            "created_at": self.created_at,
            "hours": list(self.hours),
            "rows": self.rows,
            "replaced": list(self.replaced),
            "added": list(self.added),
        }
        return json.dumps(body, indent=1) + "\n"


def manifest_name(now: datetime, token: str | None = None) -> str:
    """``<UTC timestamp>-<uuid>.json``: names sort in creation order and never collide."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{token or uuid.uuid4().hex}.json"


def parse_manifest(text: str, *, name: str) -> Manifest:
    """A manifest from its JSON; anything malformed is an error rather than a silently wrong view."""
    try:
        data = _json_object(text)
        version = int(data.get("version", MANIFEST_VERSION))
        replaced = _string_list(data["replaced"])
        added = _string_list(data["added"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"compaction manifest {name} is malformed: {exc}") from None
    if version > MANIFEST_VERSION:
        raise ManifestError(f"compaction manifest {name} has unsupported version {version}")
    for path in (*replaced, *added):
        check_relative_path(path, what=f"compaction manifest {name}")
    return Manifest(
        name=name,
        replaced=tuple(replaced),
        added=tuple(added),
        created_at=str(data.get("created_at", "")),
        table=str(data.get("table", "")),
        hours=tuple(str(hour) for hour in data.get("hours", ())),
        rows=int(data.get("rows", 0)),
    )


def _json_object(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    return data


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("expected a list of paths")
    return value


def committed_view(log_files: Iterable[str], manifests: Iterable[Manifest]) -> frozenset[str]:
    """``(log | added) - replaced``: every committed row is in exactly one of these files."""
    manifests = list(manifests)
    added = {path for manifest in manifests for path in manifest.added}
    replaced = {path for manifest in manifests for path in manifest.replaced}
    return frozenset((set(log_files) | added) - replaced)


@dataclass(frozen=True)
class LandingState:
    """What the log and the manifests say about one table at one instant (relative paths)."""

    table: str
    log_files: tuple[str, ...]
    manifests: tuple[Manifest, ...]
    committed: frozenset[str] = field(init=False)
    replaced: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "committed", committed_view(self.log_files, self.manifests))
        object.__setattr__(self, "replaced", frozenset(p for m in self.manifests for p in m.replaced))


@dataclass(frozen=True)
class StoredFile:
    """A file found in the table folder: relative path, size in bytes, modification time (UTC)."""

    path: str
    size: int
    modified: datetime


UncommittedKind = Literal["replaced", "orphan"]


@dataclass(frozen=True)
class UncommittedFile:
    """A file in an hour folder that no committed view lists.

    ``replaced``: superseded by a manifest, left behind by an interrupted compaction (always safe to delete).
    ``orphan``: in neither the log nor a manifest: a killed stream batch's part file, or a compacted file
    whose manifest was never written. ``removable`` says whether it is old enough to be sure no writer is
    still about to commit it.
    """

    file: StoredFile
    kind: UncommittedKind
    removable: bool


def classify_uncommitted(
    files: Iterable[StoredFile],
    state: LandingState,
    *,
    now: datetime,
    older_than: timedelta,
    exclusive: bool = False,
) -> list[UncommittedFile]:
    """The files of ``files`` outside the committed view, each with whether it may be deleted now.

    A stream part file is removable only when older than ``older_than``, so an in-flight batch (files
    written, log entry not yet) is never touched. ``exclusive`` (the caller holds the compaction lock) makes
    compactor-written orphans removable at once: no other compactor can be between its write and its manifest.
    """
    result = []
    for stored in files:
        if stored.path in state.committed:
            continue
        if not (is_data_file(stored.path) or is_compactor_temporary(stored.path)):
            continue
        if stored.path in state.replaced:
            result.append(UncommittedFile(stored, "replaced", removable=True))
            continue
        old_enough = now - stored.modified >= older_than
        mine = exclusive and is_compactor_file(stored.path)
        result.append(UncommittedFile(stored, "orphan", removable=old_enough or mine))
    return sorted(result, key=lambda item: item.file.path)


# --------------------------------------------------------------------------------------------------------------
# Reading the lake.


def check_table_name(table: str) -> str:
    """Table names become folder and view names: only identifiers are accepted."""
    if not _TABLE_NAME.match(table):
        raise ConfigError(f"invalid table name {table!r}: letters, digits and underscores only")
    return table


def table_folder(location: LakeLocation, table: str) -> str:
    """``landing/<table>`` inside the location's filesystem."""
    return location.fs_path("landing", check_table_name(table))


def landing_tables(location: LakeLocation) -> list[str]:
    """Tables with a sink log under ``landing/`` (sorted); empty when the zone does not exist yet."""
    return tables_with(location, "landing", SINK_LOG_FOLDER)


def tables_with(location: LakeLocation, zone: str, marker: str) -> list[str]:
    """Table folders of ``zone`` holding a ``marker`` folder (sorted; empty when the zone does not exist yet)."""
    filesystem, _ = location.filesystem()
    root = location.fs_path(zone)
    folders = [
        info.base_name
        for info in filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True))
        if info.type == pafs.FileType.Directory and _TABLE_NAME.match(info.base_name)
    ]
    checks = filesystem.get_file_info([f"{root}/{name}/{marker}" for name in folders])
    return sorted(name for name, info in zip(folders, checks, strict=True) if info.type == pafs.FileType.Directory)


def read_sink_log(location: LakeLocation, table: str) -> list[str]:
    """Relative paths the sink log lists, in log order.

    Spark may delete log files older than its latest ``.compact`` while we read; a file vanishing between
    listing and reading means a newer compact exists, so the folder is listed again, once.
    """
    filesystem, _ = location.filesystem()
    folder = f"{table_folder(location, table)}/{SINK_LOG_FOLDER}"
    problem = ""
    for _ in range(2):
        selected = select_log_files(_list_log_folder(filesystem, folder, table))
        gaps = missing_batches(selected)
        if gaps:
            problem = f"batch file {gaps[0]} is missing"
            continue
        try:
            entries = [entry for name in selected for entry in _read_log_file(filesystem, folder, name)]
        except FileNotFoundError as exc:
            problem = f"a file vanished: {exc}"
            continue
        return [table_relative_path(path, table) for path in fold_log(entries)]
    raise SinkLogError(f"sink log of {table} in {folder} cannot be read consistently ({problem})")


def _list_log_folder(filesystem: pafs.FileSystem, folder: str, table: str) -> list[str]:
    info = filesystem.get_file_info(folder)
    if info.type != pafs.FileType.Directory:
        raise LandingTableNotFoundError(f"no landing table {table!r}: {folder} does not exist")
    return [item.base_name for item in filesystem.get_file_info(pafs.FileSelector(folder))]


def _read_log_file(filesystem: pafs.FileSystem, folder: str, name: str) -> list[LogEntry]:
    with filesystem.open_input_stream(f"{folder}/{name}") as stream:
        text = stream.read().decode("utf-8")
    return parse_log_text(text, source=f"{folder}/{name}")


def read_manifests(location: LakeLocation, table: str) -> tuple[Manifest, ...]:
    """Every compaction manifest of the table, oldest first (hidden temporaries ignored)."""
    filesystem, _ = location.filesystem()
    folder = f"{table_folder(location, table)}/{COMPACTIONS_FOLDER}"
    infos = filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    names = sorted(info.base_name for info in infos if info.is_file and _MANIFEST_FILE.match(info.base_name))
    manifests = []
    for name in names:
        with filesystem.open_input_stream(f"{folder}/{name}") as stream:
            manifests.append(parse_manifest(stream.read().decode("utf-8"), name=name))
    return tuple(manifests)


def landing_state(location: LakeLocation, table: str) -> LandingState:
    """The table's log and manifests read now. Manifests are read after the log, never before.

    Order matters: a compaction commits (writes its manifest) only for files already in the log, so a log
    read first and manifests read second can only make the view newer, never lose a replaced file's rows.
    """
    log_files = read_sink_log(location, table)
    return LandingState(table, tuple(log_files), read_manifests(location, table))


def committed_files(location: LakeLocation, table: str) -> list[str]:
    """Absolute paths (in ``location.filesystem()``) of the table's committed Parquet files, sorted."""
    state = landing_state(location, table)
    return sorted(location.fs_path("landing", table, path) for path in state.committed)


@dataclass(frozen=True)
class CommittedFile:
    """A committed file with its row count (from the Parquet footer) and size in bytes."""

    path: str
    rows: int
    size: int


def committed_file_details(location: LakeLocation, table: str) -> list[CommittedFile]:
    """Each committed file (relative path) with rows and size: one footer read per file, for people and checks."""
    filesystem, _ = location.filesystem()
    folder = table_folder(location, table)
    paths = sorted(landing_state(location, table).committed)
    infos = filesystem.get_file_info([f"{folder}/{path}" for path in paths])
    details = []
    for path, info in zip(paths, infos, strict=True):
        if info.type != pafs.FileType.File:
            raise LandingError(f"committed file {path} of {table} is missing from storage")
        footer = pq.ParquetFile(info.path, filesystem=filesystem)
        details.append(CommittedFile(path, footer.metadata.num_rows, int(info.size or 0)))
    return details


def stored_files(location: LakeLocation, table: str) -> list[StoredFile]:
    """Every file under the table's hour folders (including hidden ones), with size and modification time."""
    filesystem, _ = location.filesystem()
    folder = table_folder(location, table)
    result = []
    for info in filesystem.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True)):
        if not info.is_file:
            continue
        relative = info.path[len(folder) + 1 :]
        if hour_of(relative) is None:
            continue  # _spark_metadata, _compactions, anything outside the partition layout
        modified = info.mtime if info.mtime is not None else datetime.fromtimestamp(0, UTC)
        result.append(StoredFile(relative, int(info.size or 0), modified.astimezone(UTC)))
    return sorted(result, key=lambda item: item.path)


def uncommitted_files(
    location: LakeLocation,
    table: str,
    *,
    older_than: timedelta,
    now: datetime | None = None,
    exclusive: bool = False,
) -> list[UncommittedFile]:
    """Files in the table's hour folders outside the committed view (see :func:`classify_uncommitted`).

    The folder is listed after the log was read, so a file committed in between looks uncommitted; it is new,
    hence not removable, unless a batch took longer than ``older_than`` (choose the threshold accordingly).
    """
    state = landing_state(location, table)
    files = stored_files(location, table)
    return classify_uncommitted(files, state, now=now or datetime.now(UTC), older_than=older_than, exclusive=exclusive)


def write_manifest(location: LakeLocation, table: str, manifest: Manifest) -> str:
    """Write a manifest atomically (hidden temporary + rename locally; one PUT on S3); returns its path."""
    filesystem, _ = location.filesystem()
    folder = f"{table_folder(location, table)}/{COMPACTIONS_FOLDER}"
    filesystem.create_dir(folder, recursive=True)
    target = f"{folder}/{manifest.name}"
    data = manifest.to_json().encode("utf-8")
    if location.is_s3:
        with filesystem.open_output_stream(target) as stream:
            stream.write(data)
        return target
    temporary = f"{folder}/.{manifest.name}.{uuid.uuid4().hex}.tmp"
    with filesystem.open_output_stream(temporary) as stream:
        stream.write(data)
    filesystem.move(temporary, target)
    return target


# --------------------------------------------------------------------------------------------------------------
# Readers: Spark batch jobs and DuckDB.


def landing_base_path(location: LakeLocation, table: str) -> str:
    """The table folder as Spark takes it: the ``basePath`` that turns hour folders into partition columns."""
    return location.path("landing", check_table_name(table))


def spark_landing_paths(location: LakeLocation, table: str) -> list[str]:
    """The committed files as Spark paths, for ``spark.read.option("basePath", base).parquet(*paths)``.

    Spark's own reader of the folder trusts only the sink log, which knows nothing of compaction: after a
    compaction it would miss the compacted rows and fail on the deleted files. Pass ``mergeSchema=true`` when
    a column was added (Spark otherwise takes the schema of one file). Empty list for a table without rows:
    ``parquet()`` needs at least one path, so the caller decides what an empty table means.
    """
    state = landing_state(location, table)
    return sorted(location.path("landing", table, path) for path in state.committed)


def register_landing_views(con: Any, location: LakeLocation, tables: Sequence[str] | None = None) -> dict[str, int]:
    """Create (or replace) one DuckDB view per landing table over its committed files; returns files per view.

    ``union_by_name`` because a column added at the source exists only in newer files (older rows read it as
    NULL). A table without committed files gets no view: its column list is unknown, and a query naming it
    failing with "table does not exist" is clearer than an empty view of the wrong shape. The view fixes the
    file list of this instant: call again to see newer batches (and after a compaction deleted files). On S3,
    configure DuckDB's httpfs credentials first.
    """
    created: dict[str, int] = {}
    for table in tables if tables is not None else landing_tables(location):
        paths = spark_landing_paths(location, table)
        if not paths:
            continue
        con.execute(render_view_sql(table, paths))
        created[table] = len(paths)
    return created


def render_view_sql(table: str, paths: Sequence[str]) -> str:
    """``CREATE OR REPLACE VIEW`` over exactly ``paths``: the name validated and quoted, each path a literal."""
    files = ", ".join(_sql_string(path) for path in paths)
    return (
        f"CREATE OR REPLACE VIEW {_sql_identifier(table)} AS SELECT * FROM read_parquet("  # noqa: S608 - quoted above
        f"[{files}], hive_partitioning = true, union_by_name = true)"
    )


def _sql_identifier(name: str) -> str:
    return '"' + check_table_name(name).replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
