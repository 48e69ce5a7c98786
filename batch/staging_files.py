"""Which files a staging table is made of: consumed landing files, carried-over buckets, committed quarantine.

Pure except :func:`committed_quarantine_files`. A staging version's bookmark holds ``landing_files`` (the landing
zone's committed files it consumed, relative to ``landing/<table>/``) and ``quarantine_files`` (every quarantine
file of committed runs, relative to ``quarantine/<table>/``). Quarantine files are written before the commit, so
a run that crashed leaves some that no bookmark lists: readers take the list, never a glob of the folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from batch.staging_schema import BUCKET_FOLDER, bucket_of_path
from batch.table_store import TableStore, TableStoreError, delete_unlisted
from common.lake import LakeLocation
from common.landing_files import LandingState

ZONE: Final = "staging"
QUARANTINE_ZONE: Final = "quarantine"
LANDING_FILES: Final = "landing_files"
QUARANTINE_FILES: Final = "quarantine_files"


def pending_landing_files(state: LandingState, consumed: Collection[str]) -> list[str]:
    """Committed landing files not consumed yet (relative paths, sorted).

    A compacted file whose manifest replaced only consumed files holds consumed rows: it counts as consumed,
    so compaction does not make staging read a table's history again.
    """
    known = set(consumed)
    for manifest in state.manifests:
        if manifest.replaced and known.issuperset(manifest.replaced):
            known.update(manifest.added)
    return sorted(state.committed - known)


def carried_files(files: Iterable[str], touched: Collection[int]) -> tuple[list[str], list[str]]:
    """``(carried over, replaced)``: a version's data files split by whether their bucket was touched."""
    carried: list[str] = []
    replaced: list[str] = []
    for path in files:
        bucket = bucket_of_path(path)
        if bucket is None:
            raise TableStoreError(f"staging data file {path} is not in a {BUCKET_FOLDER}=NN folder")
        (replaced if bucket in touched else carried).append(path)
    return carried, replaced


def new_run_id(now: datetime) -> str:
    """A run id that sorts by start time: ``20260310T120000Z-1a2b3c``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def bookmark_paths(bookmark: Mapping[str, Any], name: str) -> list[str]:
    """A list of paths from a staging bookmark (a copy; empty when absent)."""
    value = bookmark.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TableStoreError(f"staging bookmark entry {name!r} is not a list of paths")
    return list(value)


def committed_quarantine_files(location: LakeLocation, table: str, *, uris: bool = False) -> list[str]:
    """The quarantine files of committed staging runs: paths in ``location.filesystem()`` (``uris``: as Spark
    and DuckDB take them). Files of a run that crashed before its commit are in the folder but not here."""
    version = TableStore(location, ZONE, table).current()
    relative = bookmark_paths(version.bookmark, QUARANTINE_FILES) if version else []
    build = location.path if uris else location.fs_path
    return [build(QUARANTINE_ZONE, table, path) for path in relative]


def vacuum_quarantine(location: LakeLocation, table: str, older_than: timedelta, *, dry_run: bool = False) -> list[str]:
    """Delete quarantine files of runs that never committed (no staging version lists them), older than
    ``older_than``; the committed list is cumulative, so a listed file is never deleted. Returns relative paths."""
    version = TableStore(location, ZONE, table).current()
    listed = set(bookmark_paths(version.bookmark, QUARANTINE_FILES)) if version else set()
    filesystem, _ = location.filesystem()
    base = location.fs_path(QUARANTINE_ZONE, table)
    return [
        f"{QUARANTINE_ZONE}/{table}/{path}"
        for path in delete_unlisted(filesystem, base, "", listed, older_than, dry_run)
    ]
