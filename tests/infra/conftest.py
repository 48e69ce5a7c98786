"""Fixtures of the infra/ checks: the parsed tree, and broken copies of infra/ to prove each check can fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.infra.hcl_checks import InfraTree, load_infra

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
INFRA_SCRIPT = REPO_ROOT / "scripts" / "infra_checks.sh"
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", REPO_ROOT / ".venv-checkov"))



@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def infra_tree() -> InfraTree:
    return load_infra(INFRA)


class BrokenInfra:
    """A copy of infra/ in a temporary folder, edited one exact text replacement at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def replace(self, relative: str, old: str, new: str, count: int = 1) -> None:
        path = self.root / relative
        text = path.read_text()
        assert text.count(old) >= count, f"{relative} does not contain {old!r} {count} time(s): the test is stale"
        path.write_text(text.replace(old, new, count))

    def append(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.write_text(path.read_text() + text)

    def tree(self) -> InfraTree:
        return load_infra(self.root)


@pytest.fixture
def broken(tmp_path: Path) -> BrokenInfra:
    target = tmp_path / "infra"
    shutil.copytree(INFRA, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    return BrokenInfra(target)


def require_terraform() -> None:
    """Terraform ships with this machine's image but cannot be installed from the registries it reaches (PyPI,
    Debian, npm), so a machine without it skips the fmt tests with this reason; .ci/run says so too."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (not installable from PyPI/Debian/npm): fmt checks not run")


def require(available: bool, what: str) -> None:
    """A missing tool fails under CI (CI=true: .ci/run, GitHub Actions) and skips elsewhere."""
    if available:
        return
    message = f"{what} is missing: run `make infra-check` first (it installs checkov into .venv-checkov)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
