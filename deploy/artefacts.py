"""The local side of a deploy: the project's wheel and the Glue entry scripts, each with a content digest.

The wheel is built by pip (``pip wheel --no-deps``, setuptools as pyproject says) from a staged copy of the source
tree: only the packages pyproject includes, no ``__pycache__``, and without the Glue entry scripts (Glue gets them
as the jobs' scripts; keeping them out of the wheel means a script change uploads exactly that script).
``SOURCE_DATE_EPOCH`` pins the zip timestamps so an unchanged tree gives the same bytes; the identity compared with
S3 is still a digest of the wheel's *entries* (names and contents), which no timestamp or zip detail can move.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from common.errors import CdcError, ConfigError

# 1980-01-01: the earliest time a zip entry can carry; any fixed value makes the build byte-reproducible.
SOURCE_DATE_EPOCH: Final = "315532800"
BUILD_TIMEOUT_SECONDS: Final = 600
_IGNORED: Final = ("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache", "*.egg-info", "build")

ArtefactKind = Literal["wheel", "script"]


class BuildError(CdcError):
    """The wheel could not be built (pip's own last lines say why)."""


@dataclass(frozen=True)
class LocalArtefact:
    """One file to deploy: what it is, its bytes' location, where it goes in the bucket, and its identity."""

    kind: ArtefactKind
    name: str  # the wheel's file name, or the script's project-relative path
    path: Path
    key: str
    content_sha256: str  # scripts: SHA-256 of the bytes; the wheel: see wheel_content_digest
    md5: str  # of the bytes: what a single-part, non-KMS upload's ETag is

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class ProjectInfo:
    """What pyproject.toml says about the distribution: name, version and the package patterns to ship."""

    name: str
    version: str
    packages: tuple[str, ...]

    @property
    def wheel_filename(self) -> str:
        """The pure-Python wheel's file name (PEP 427 with the normalised distribution name)."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}-py3-none-any.whl"


def project_info(source_root: Path) -> ProjectInfo:
    """Read ``[project]`` and ``[tool.setuptools.packages.find] include`` of ``source_root/pyproject.toml``."""
    path = source_root / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    project = data.get("project", {})
    include = data.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include", [])
    if not project.get("name") or not project.get("version") or not include:
        raise ConfigError(f"{path} needs [project] name and version and [tool.setuptools.packages.find] include")
    return ProjectInfo(str(project["name"]), str(project["version"]), tuple(str(item) for item in include))


def wheel_key(prefix: str, filename: str) -> str:
    return f"{prefix}/wheels/{filename}"


def script_key(prefix: str, script: str) -> str:
    return f"{prefix}/{script}"


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def wheel_content_digest(data: bytes) -> str:
    """SHA-256 over the sorted (entry name, SHA-256 of entry content) pairs of a wheel: equal for two builds of
    the same tree whatever their timestamps, entry order or compression."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(info.filename for info in archive.infolist() if not info.is_dir()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(archive.read(name)).digest())
    return digest.hexdigest()


def wheel_entries(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sorted(info.filename for info in archive.infolist() if not info.is_dir())


def package_folders(source_root: Path, patterns: Sequence[str]) -> list[str]:
    """Top-level package folders (holding ``__init__.py``) matched by pyproject's include patterns."""
    folders = [
        path.name
        for path in sorted(source_root.iterdir())
        if path.is_dir() and (path / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    ]
    if not folders:
        raise ConfigError(f"no package folder in {source_root} matches {', '.join(patterns)}")
    return folders


def stage_source(source_root: Path, destination: Path, info: ProjectInfo, leave_out: Sequence[str]) -> Path:
    """Copy what the wheel is built from (pyproject, README, the packages) to ``destination``, minus ``leave_out``
    (project-relative paths), so the build never writes into the checkout."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (source_root / name).is_file():
            shutil.copy2(source_root / name, destination / name)
    for folder in package_folders(source_root, info.packages):
        shutil.copytree(source_root / folder, destination / folder, ignore=shutil.ignore_patterns(*_IGNORED))
    for relative in leave_out:
        (destination / relative).unlink(missing_ok=True)
    return destination


def build_wheel(staged: Path, out_dir: Path, expected_filename: str) -> Path:
    """``pip wheel --no-deps`` of the staged tree with pinned timestamps; returns the wheel's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(staged),
        "--no-deps",
        "--wheel-dir",
        str(out_dir),
        "--quiet",
        "--disable-pip-version-check",
    ]
    try:
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"building the wheel took longer than {BUILD_TIMEOUT_SECONDS}s") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise BuildError(f"building the wheel failed: {' | '.join(lines[-3:]) or f'pip exit {result.returncode}'}")
    wheel = out_dir / expected_filename
    if not wheel.is_file():
        found = ", ".join(path.name for path in out_dir.glob("*.whl")) or "nothing"
        raise BuildError(f"pip built {found}, expected {expected_filename}")
    return wheel


def script_artefact(source_root: Path, script: str, prefix: str) -> LocalArtefact:
    path = source_root / script
    if not path.is_file():
        raise ConfigError(f"Glue entry script {script} not found in {source_root}")
    data = path.read_bytes()
    return LocalArtefact("script", script, path, script_key(prefix, script), sha256_hex(data), md5_hex(data))


def wheel_artefact(wheel: Path, prefix: str) -> LocalArtefact:
    data = wheel.read_bytes()
    return LocalArtefact(
        "wheel", wheel.name, wheel, wheel_key(prefix, wheel.name), wheel_content_digest(data), md5_hex(data)
    )


def build_artefacts(source_root: Path, workdir: Path, prefix: str, scripts: Sequence[str]) -> list[LocalArtefact]:
    """The wheel (built under ``workdir``) and each Glue entry script of ``source_root``."""
    info = project_info(source_root)
    script_artefacts = [script_artefact(source_root, script, prefix) for script in scripts]
    staged = stage_source(source_root, workdir / "source", info, scripts)
    wheel = build_wheel(staged, workdir / "dist", info.wheel_filename)
    return [wheel_artefact(wheel, prefix), *script_artefacts]


def etag_md5(etag: str | None) -> str | None:
    """The MD5 an ETag stands for, when it is one (single-part uploads; not multipart ``…-N`` ETags)."""
    if not etag:
        return None
    value = etag.strip('"')
    return value if re.fullmatch(r"[0-9a-f]{32}", value) else None


def content_md5_header(data: bytes) -> str:
    """The ``Content-MD5`` header value: S3 refuses the upload when the bytes arrive damaged."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
