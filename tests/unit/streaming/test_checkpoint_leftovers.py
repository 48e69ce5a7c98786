"""A SIGKILL while Spark wrote the first offsets entry leaves a temp file Spark 4 refuses to start on."""

from __future__ import annotations

from pathlib import Path

from streaming.landing import clear_unwritten_first_offsets

TEMP = ".0.7790c2e4-dab5-4654-a03e-11a354480731.tmp"


def test_the_first_entrys_temp_file_is_removed(tmp_path: Path) -> None:
    offsets = tmp_path / "offsets"
    offsets.mkdir()
    (offsets / TEMP).write_bytes(b"")
    assert clear_unwritten_first_offsets(str(tmp_path)) == [TEMP]
    assert list(offsets.iterdir()) == []
    assert clear_unwritten_first_offsets(f"file://{tmp_path}") == []


def test_nothing_is_touched_once_an_entry_is_written(tmp_path: Path) -> None:
    offsets = tmp_path / "offsets"
    offsets.mkdir()
    (offsets / "0").write_text("v1")
    (offsets / ".1.0f3c.tmp").write_bytes(b"")
    assert clear_unwritten_first_offsets(str(tmp_path)) == []
    assert sorted(path.name for path in offsets.iterdir()) == [".1.0f3c.tmp", "0"]


def test_other_files_new_checkpoints_and_s3_are_left_alone(tmp_path: Path) -> None:
    assert clear_unwritten_first_offsets(str(tmp_path / "new")) == []
    assert clear_unwritten_first_offsets("s3://bucket/checkpoints/landing/customer") == []
    offsets = tmp_path / "offsets"
    offsets.mkdir()
    (offsets / "notes.txt").write_text("mine")
    assert clear_unwritten_first_offsets(str(tmp_path)) == []
    assert (offsets / "notes.txt").exists()
