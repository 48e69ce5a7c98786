"""Versioned Parquet tables in the lake: the storage format of the staging and curated zones (ADR 0011).

A table is a folder ``<zone>/<table>/`` holding immutable data files under ``data/`` and a version log under
``_versions/``: ``0000000001.json``, ``0000000002.json``, … Each version lists *every* data file of the table at that
version (paths relative to the table folder) plus a free-form ``bookmark`` (what input the version consumed, e.g.
the landing files a staging run processed) and the run that wrote it. Committing = creating the next version file,
which never overwrites an existing one: locally a hard link from a temporary file (fails if the name exists), on
S3 a conditional PUT (``If-None-Match: *``). So the output and the bookmark change together, in one step, and two
writers cannot both commit the same version.

Readers take the highest version and read exactly its files; data files a crashed run wrote but never committed
are not listed anywhere and are invisible (``vacuum`` deletes them once old enough).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyarrow.fs as pafs

from common.errors import CdcError
from common.lake import LakeLocation

VERSIONS_FOLDER: Final = "_versions"
DATA_FOLDER: Final = "data"
FORMAT: Final = 1
_VERSION_NAME: Final = re.compile(r"^(\d{10})\.json$")
_TABLE_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class TableStoreError(CdcError):
    """A version log that cannot be read, or a commit that lost a race."""


class ConcurrentCommitError(TableStoreError):
    """Another writer committed the version this one meant to write: re-read and run again."""


@dataclass(frozen=True)
class TableVersion:
    """One committed version: its number, every data file (relative to the table folder), its bookmark."""

    version: int
    files: tuple[str, ...]
    bookmark: Mapping[str, Any] = field(default_factory=dict)
    run_id: str = ""
    rows: int | None = None
    committed_at: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": self.version,
                "files": list(self.files),
                "bookmark": dict(self.bookmark),
                "run_id": self.run_id,
                "rows": self.rows,
                "committed_at": self.committed_at,
            },
            indent=1,
            sort_keys=True,
        )


def version_name(version: int) -> str:
    if not 1 <= version < 10**10:
        raise ValueError(f"version out of range: {version}")
    return f"{version:010d}.json"


def parse_version(text: str, *, name: str) -> TableVersion:
    """A version file's content (pure); a clear error for anything that is not one."""
    try:
        return _version_from(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise TableStoreError(f"version file {name} is not readable: {exc}") from None


def _version_from(data: Any) -> TableVersion:
    if not isinstance(data, dict) or int(data.get("format", 0)) > FORMAT:
        raise TypeError("not a version object of a known format")
    files = data["files"]
    if not isinstance(files, list) or not all(isinstance(path, str) for path in files):
        raise TypeError("files is not a list of paths")
    for path in files:
        check_data_path(path)
    bookmark = data.get("bookmark") or {}
    if not isinstance(bookmark, dict):
        raise TypeError("bookmark is not an object")
    rows = data.get("rows")
    return TableVersion(
        version=int(data["version"]),
        files=tuple(files),
        bookmark=bookmark,
        run_id=str(data.get("run_id", "")),
        rows=None if rows is None else int(rows),
        committed_at=str(data.get("committed_at", "")),
    )


def check_data_path(path: str) -> str:
    """Data files live under ``data/``, inside the table folder."""
    parts = path.split("/")
    if parts[0] != DATA_FOLDER or any(part in ("", ".", "..") for part in parts) or len(parts) < 2:
        raise ValueError(f"{path!r} is not a data file path inside the table folder")
    return path


def latest_version_name(names: Iterable[str]) -> str | None:
    """The highest ``NNNNNNNNNN.json`` among ``names`` (pure; other names are ignored)."""
    versions = sorted(name for name in names if _VERSION_NAME.match(name))
    return versions[-1] if versions else None


@dataclass(frozen=True)
class TableStore:
    """One versioned table of a zone (``staging`` or ``curated``) in the lake."""

    location: LakeLocation
    zone: str
    table: str

    def __post_init__(self) -> None:
        if not _TABLE_NAME.match(self.table) or not _TABLE_NAME.match(self.zone):
            raise TableStoreError(f"invalid zone/table name {self.zone!r}/{self.table!r}")

    # -- paths ------------------------------------------------------------------------------------------------

    def folder(self) -> str:
        """The table folder inside the lake's filesystem."""
        return self.location.fs_path(self.zone, self.table)

    def uri(self, relative: str = "") -> str:
        """A path under the table folder as Spark and DuckDB take it (``s3://…`` or an absolute local path)."""
        return self.location.path(self.zone, self.table, relative)

    def new_data_folder(self, run_id: str) -> str:
        """Where a run writes its data files, relative to the table folder (unique per run and attempt)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", run_id):
            raise TableStoreError(f"invalid run id {run_id!r}")
        return f"{DATA_FOLDER}/run={run_id}-{uuid.uuid4().hex[:8]}"

    # -- reading ----------------------------------------------------------------------------------------------

    def current(self) -> TableVersion | None:
        """The highest committed version, or None for a table never committed."""
        filesystem, _ = self.location.filesystem()
        folder = f"{self.folder()}/{VERSIONS_FOLDER}"
        infos = filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        name = latest_version_name(info.base_name for info in infos if info.type == pafs.FileType.File)
        if name is None:
            return None
        with filesystem.open_input_stream(f"{folder}/{name}") as stream:
            return parse_version(stream.read().decode("utf-8"), name=f"{self.zone}/{self.table}/{name}")

    def current_uris(self) -> list[str]:
        """The current version's data files as Spark/DuckDB paths (empty for a table never committed)."""
        version = self.current()
        return [self.uri(path) for path in version.files] if version else []

    def list_data_files(self, relative_folder: str) -> list[str]:
        """Parquet files a run wrote under ``relative_folder`` (relative paths, sorted; hidden files skipped)."""
        filesystem, _ = self.location.filesystem()
        base = self.folder()
        selector = pafs.FileSelector(f"{base}/{relative_folder}", recursive=True, allow_not_found=True)
        found = []
        for info in filesystem.get_file_info(selector):
            name = info.base_name
            if info.type == pafs.FileType.File and name.endswith(".parquet") and not name.startswith((".", "_")):
                found.append(info.path[len(base) + 1 :])
        return sorted(found)

    # -- writing ----------------------------------------------------------------------------------------------

    def commit(
        self,
        files: Sequence[str],
        *,
        expected_version: int,
        bookmark: Mapping[str, Any] | None = None,
        run_id: str = "",
        rows: int | None = None,
    ) -> TableVersion:
        """Commit version ``expected_version + 1`` listing ``files``; raises ConcurrentCommitError if it exists."""
        version = TableVersion(
            version=expected_version + 1,
            files=tuple(check_data_path(path) for path in files),
            bookmark=dict(bookmark or {}),
            run_id=run_id,
            rows=rows,
            committed_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        filesystem, _ = self.location.filesystem()
        folder = f"{self.folder()}/{VERSIONS_FOLDER}"
        filesystem.create_dir(folder, recursive=True)
        target = f"{folder}/{version_name(version.version)}"
        data = version.to_json().encode("utf-8")
        if self.location.is_s3:
            self._put_if_absent(target, data)
        else:
            temporary = f"{folder}/.{uuid.uuid4().hex}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, target)  # fails when the version exists: no writer overwrites another
            except FileExistsError:
                raise ConcurrentCommitError(
                    f"{self.zone}/{self.table}: version {version.version} was committed by another run"
                ) from None
            finally:
                os.unlink(temporary)
        return version

    def _put_if_absent(self, target: str, data: bytes) -> None:
        import boto3  # noqa: PLC0415 - only S3 lakes need it
        from botocore.exceptions import ClientError  # noqa: PLC0415

        bucket, _, key = target.partition("/")
        client = boto3.client("s3", endpoint_url=self.location.s3_endpoint, region_name=self.location.s3_region)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*", ContentType="application/json")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ConcurrentCommitError(f"{self.zone}/{self.table}: {key} was committed by another run") from None
            raise

    def vacuum(self, *, older_than: timedelta = timedelta(hours=1), dry_run: bool = False) -> list[str]:
        """Delete data files no version lists (a crashed run's leftovers, or files an older version dropped),
        when older than ``older_than`` (a running writer's files are younger). Returns the relative paths."""
        version = self.current()
        filesystem, _ = self.location.filesystem()
        return delete_unlisted(
            filesystem, self.folder(), DATA_FOLDER, set(version.files) if version else set(), older_than, dry_run
        )


def delete_unlisted(
    filesystem: pafs.FileSystem, base: str, folder: str, listed: set[str], older_than: timedelta, dry_run: bool
) -> list[str]:
    """Delete the files under ``base/folder`` whose path relative to ``base`` is not in ``listed`` and that are
    older than ``older_than`` (younger ones may belong to a run still writing); returns those relative paths."""
    selector = pafs.FileSelector(f"{base}/{folder}" if folder else base, recursive=True, allow_not_found=True)
    cutoff = datetime.now(UTC) - older_than
    removed = []
    for info in filesystem.get_file_info(selector):
        if info.type != pafs.FileType.File or info.mtime is None:
            continue
        relative = info.path[len(base) + 1 :]
        modified = info.mtime if info.mtime.tzinfo is not None else info.mtime.replace(tzinfo=UTC)
        if relative not in listed and modified < cutoff:
            removed.append(relative)
            if not dry_run:
                filesystem.delete_file(info.path)
    return sorted(removed)
