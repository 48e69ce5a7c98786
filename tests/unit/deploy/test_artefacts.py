"""Content digests that ignore zip timestamps, the staged source tree, the names S3 keys are built from."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from common.errors import ConfigError
from deploy.artefacts import (
    etag_md5,
    md5_hex,
    package_folders,
    project_info,
    script_artefact,
    script_key,
    stage_source,
    wheel_content_digest,
    wheel_key,
)

PROJECT = Path(__file__).resolve().parents[3]


def _zip(entries: list[tuple[str, bytes]], when: tuple[int, int, int, int, int, int], method: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return buffer.getvalue()


def test_the_wheel_digest_ignores_timestamps_entry_order_and_compression() -> None:
    entries = [("pkg/__init__.py", b""), ("pkg/mod.py", b"x = 1\n"), ("pkg-1.dist-info/RECORD", b"r")]
    first = _zip(entries, (1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED)
    second = _zip(list(reversed(entries)), (2026, 12, 6, 23, 55, 0), zipfile.ZIP_DEFLATED)
    assert first != second
    assert wheel_content_digest(first) == wheel_content_digest(second)
    changed = _zip([*entries[:1], ("pkg/mod.py", b"x = 2\n"), entries[2]], (1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED)
    renamed = _zip([*entries[:1], ("pkg/other.py", b"x = 1\n"), entries[2]], (1980, 1, 1, 0, 0, 0), 0)
    assert len({wheel_content_digest(first), wheel_content_digest(changed), wheel_content_digest(renamed)}) == 3


def test_project_info_names_the_wheel_like_pip_does() -> None:
    info = project_info(PROJECT)
    assert info.wheel_filename == f"retail_cdc-{info.version}-py3-none-any.whl"
    assert "deploy*" in info.packages and "cli*" in info.packages
    assert {"common", "streaming", "batch", "redshift", "deploy"} <= set(package_folders(PROJECT, info.packages))
    assert "tests" not in package_folders(PROJECT, info.packages)


def test_project_info_refuses_a_folder_without_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pyproject\.toml"):
        project_info(tmp_path)


def test_the_staged_tree_has_the_packages_without_caches_or_entry_scripts(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("")
    (source / "pkg" / "job.py").write_text("print('entry')\n")
    (source / "pkg" / "lib.py").write_text("x = 1\n")
    (source / "pkg" / "__pycache__" / "lib.cpython-311.pyc").write_bytes(b"\0")
    (source / "notapkg").mkdir()
    (source / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\n[tool.setuptools.packages.find]\ninclude = ["pkg*"]\n'
    )
    staged = stage_source(source, tmp_path / "staged", project_info(source), ["pkg/job.py"])
    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert files == ["pkg/__init__.py", "pkg/lib.py", "pyproject.toml"]


def test_scripts_and_wheels_have_fixed_keys_and_script_digests_are_of_the_bytes(tmp_path: Path) -> None:
    assert wheel_key("glue", "w.whl") == "glue/wheels/w.whl"
    assert script_key("glue", "batch/glue_jobs.py") == "glue/batch/glue_jobs.py"
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "glue_jobs.py").write_bytes(b"main()\n")
    artefact = script_artefact(tmp_path, "batch/glue_jobs.py", "glue")
    assert artefact.content_sha256 == hashlib.sha256(b"main()\n").hexdigest()
    assert artefact.md5 == md5_hex(b"main()\n") and artefact.key == "glue/batch/glue_jobs.py"
    with pytest.raises(ConfigError, match="not found"):
        script_artefact(tmp_path, "streaming/glue_job.py", "glue")


@pytest.mark.parametrize(
    ("etag", "md5"),
    [('"' + "a" * 32 + '"', "a" * 32), ("a" * 32, "a" * 32), ('"' + "a" * 32 + '-3"', None), (None, None)],
)
def test_only_single_part_etags_are_md5s(etag: str | None, md5: str | None) -> None:
    assert etag_md5(etag) == md5
