"""The real wheel build (pip, setuptools) is reproducible: the same tree gives the same bytes whatever the files'
modification times, and even other zip timestamps give the same content digest — which is what deploy compares."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deploy import artefacts
from deploy.artefacts import build_wheel, project_info, stage_source, wheel_content_digest, wheel_entries

PROJECT = Path(__file__).resolve().parents[3]
SCRIPTS = ("streaming/glue_job.py", "batch/glue_jobs.py")


def _stage(destination: Path, mtime: float) -> Path:
    staged = stage_source(PROJECT, destination, project_info(PROJECT), SCRIPTS)
    for path in staged.rglob("*"):
        os.utime(path, (mtime, mtime))
    return staged


def test_two_builds_of_one_tree_are_identical_and_the_digest_ignores_zip_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = project_info(PROJECT).wheel_filename
    started = time.monotonic()
    first = build_wheel(_stage(tmp_path / "a", 1_700_000_000), tmp_path / "dist-a", filename).read_bytes()
    one_build = time.monotonic() - started
    second = build_wheel(_stage(tmp_path / "b", 1_800_000_000), tmp_path / "dist-b", filename).read_bytes()
    assert first == second  # SOURCE_DATE_EPOCH pins every entry's timestamp: mtimes do not leak in

    monkeypatch.setattr(artefacts, "SOURCE_DATE_EPOCH", "1700000000")
    third = build_wheel(_stage(tmp_path / "c", 1_700_000_000), tmp_path / "dist-c", filename).read_bytes()
    assert third != first  # other timestamps, other bytes (and ETags) ...
    assert wheel_content_digest(third) == wheel_content_digest(first)  # ... same content digest

    entries = wheel_entries(first)
    assert "deploy/settings.py" in entries and "schemas/catalog.toml" in entries
    assert not set(SCRIPTS) & set(entries)
    print(f"\none wheel build: {one_build:.1f}s, {len(first):,} bytes, {len(entries)} entries")
