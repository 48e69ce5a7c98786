"""Versioned Parquet tables on a local lake: commit, read, races, crash leftovers, vacuum."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.table_store import (
    ConcurrentCommitError,
    TableStore,
    TableStoreError,
    latest_version_name,
    parse_version,
    version_name,
)
from common.lake import LakeLocation


@pytest.fixture
def store(tmp_path: Path) -> TableStore:
    return TableStore(LakeLocation(str(tmp_path / "lake")), "staging", "customer")


def write(store: TableStore, folder: str, name: str, rows: int = 3) -> str:
    relative = f"{folder}/{name}"
    path = Path(store.folder()) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(rows))}), path)
    return relative


def test_a_new_table_has_no_version(store: TableStore) -> None:
    assert store.current() is None and store.current_uris() == []


def test_commit_then_read_the_latest_version(store: TableStore) -> None:
    folder = store.new_data_folder("run1")
    first = store.commit([write(store, folder, "a.parquet")], expected_version=0, bookmark={"landing": ["x"]})
    assert first.version == 1
    second_folder = store.new_data_folder("run2")
    files = [write(store, second_folder, "b.parquet"), *first.files]
    store.commit(files, expected_version=1, bookmark={"landing": ["x", "y"]}, run_id="run2", rows=6)
    current = store.current()
    assert current is not None
    assert (current.version, current.files, current.bookmark, current.rows) == (
        2,
        tuple(files),
        {"landing": ["x", "y"]},
        6,
    )
    assert store.current_uris() == [store.uri(path) for path in files]
    assert all(Path(uri).is_file() for uri in store.current_uris())


def test_a_second_writer_of_the_same_version_loses(store: TableStore) -> None:
    folder = store.new_data_folder("run1")
    store.commit([write(store, folder, "a.parquet")], expected_version=0)
    with pytest.raises(ConcurrentCommitError, match="version 1"):
        store.commit([write(store, folder, "b.parquet")], expected_version=0)
    current = store.current()
    assert current is not None and current.files == (f"{folder}/a.parquet",)
    assert not [p for p in (Path(store.folder()) / "_versions").iterdir() if p.name.endswith(".tmp")]


def test_uncommitted_files_are_invisible_and_vacuumed_when_old(store: TableStore) -> None:
    kept = store.commit([write(store, store.new_data_folder("ok"), "a.parquet")], expected_version=0)
    crashed = write(store, store.new_data_folder("crashed"), "c.parquet")
    assert store.list_data_files(crashed.rsplit("/", 1)[0]) == [crashed]
    assert store.vacuum() == []  # too young: it may belong to a running writer
    old = time.time() - 7200
    os.utime(Path(store.folder()) / crashed, (old, old))
    assert store.vacuum(dry_run=True) == [crashed] and (Path(store.folder()) / crashed).exists()
    assert store.vacuum(older_than=timedelta(hours=1)) == [crashed]
    assert not (Path(store.folder()) / crashed).exists()
    assert all(Path(store.folder(), path).exists() for path in kept.files)


def test_version_files_are_checked() -> None:
    assert latest_version_name(["0000000002.json", "0000000010.json", ".x.tmp", "notes"]) == "0000000010.json"
    assert latest_version_name([]) is None
    assert version_name(7) == "0000000007.json"
    with pytest.raises(TableStoreError, match="not readable"):
        parse_version('{"version": 1, "files": ["../escape.parquet"]}', name="v")
    with pytest.raises(TableStoreError, match="not readable"):
        parse_version("not json", name="v")
    with pytest.raises(TableStoreError, match="not readable"):
        parse_version('{"format": 99, "version": 1, "files": []}', name="v")


def test_names_and_run_ids_are_validated(tmp_path: Path) -> None:
    lake = LakeLocation(str(tmp_path))
    with pytest.raises(TableStoreError):
        TableStore(lake, "staging", "../x")
    with pytest.raises(TableStoreError):
        TableStore(lake, "staging", "customer").new_data_folder("a/b")
