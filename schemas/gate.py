"""The schema compatibility gate behind `cdc schemas check`: changed `.avsc` files vs a baseline.

The baseline is the registered latest version (with the subject's own compatibility level) or the version in the
last git commit (with BACKWARD, the registry default). Findings name the subject and the field.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from common.errors import SchemaError
from schemas.compatibility import check, parse_level
from schemas.registry import SchemaRegistry


@dataclass(frozen=True)
class Baseline:
    label: str  # e.g. "registry version 3" or "git HEAD"
    level: str
    schema_text: str


class BaselineSource(Protocol):
    def baseline(self, subject: str, file_name: str) -> Baseline | None: ...


@dataclass
class GateResult:
    checked: list[str] = field(default_factory=list)
    new_subjects: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def subject_for(file_name: str) -> str:
    """`retail.customer.cdc-value.avsc` → `retail.customer.cdc-value` (TopicNameStrategy subjects)."""
    return file_name.removesuffix(".avsc")


def run_gate(files: Iterable[Path], source: BaselineSource) -> GateResult:
    """Check every file against its baseline; collect one readable line per incompatibility."""
    result = GateResult()
    for path in sorted(files):
        subject = subject_for(path.name)
        try:
            new_schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            result.problems.append(f"{path}: not valid JSON ({exc})")
            continue
        baseline = source.baseline(subject, path.name)
        if baseline is None:
            result.new_subjects.append(subject)
            continue
        result.checked.append(subject)
        try:
            findings = check(new_schema, [(1, baseline.schema_text)], parse_level(baseline.level))
        except Exception as exc:  # the Avro parser raises its own exception types for invalid schemas
            result.problems.append(f"{subject}: schema is not valid Avro: {exc}")
            continue
        result.problems.extend(
            f"{subject}: incompatible with {baseline.label} ({baseline.level}): {finding.describe()}"
            for finding in findings
        )
    return result


class RegistryBaseline:
    """Compare with what the registry holds now."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry

    def baseline(self, subject: str, file_name: str) -> Baseline | None:
        latest = self._registry.latest(subject)
        if latest is None:
            return None
        version, text = latest
        return Baseline(f"registry version {version}", self._registry.compatibility_level(subject), text)


class GitBaseline:
    """Compare with the file as of a git revision (default HEAD): the last committed version."""

    def __init__(self, repo_root: Path, folder: Path, revision: str = "HEAD", level: str = "BACKWARD") -> None:
        self._root = repo_root
        self._folder = folder.resolve().relative_to(repo_root.resolve())
        self._revision = revision
        self._level = level

    def baseline(self, subject: str, file_name: str) -> Baseline | None:
        spec = f"{self._revision}:{(self._folder / file_name).as_posix()}"
        try:
            result = subprocess.run(
                ["git", "-C", str(self._root), "show", spec], capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise SchemaError(f"cannot run git to read the committed schema: {exc}") from None
        if result.returncode != 0:
            return None
        return Baseline(f"git {self._revision}", self._level, result.stdout)


def git_root(start: Path) -> Path | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return Path(result.stdout.strip()) if result.returncode == 0 else None
