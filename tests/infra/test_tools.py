"""terraform fmt and checkov, run the way `make infra-check` runs them (scripts/infra_checks.sh), fail on broken
copies of infra/. They need terraform on PATH and .venv-checkov (`make infra-check` creates it): without them these
tests fail under CI=true and are skipped elsewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import CHECKOV_VENV, INFRA, INFRA_SCRIPT, BrokenInfra, require, require_terraform
from tests.infra.test_hcl_broken import remove_bucket_encryption

pytestmark = pytest.mark.infra

FAILED = re.compile(r"Check: (CKV2?_[A-Z0-9]+_\d+):[^\n]*\n\s*FAILED for resource: (\S+)")


def run_script(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INFRA_SCRIPT), *map(str, arguments)], capture_output=True, text=True, timeout=280, check=False
    )


def test_fmt_passes_on_infra() -> None:
    require_terraform()
    result = run_script("fmt", INFRA)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fmt_fails_on_a_misformatted_copy(broken: BrokenInfra) -> None:
    require_terraform()
    broken.replace("modules/s3_bucket/main.tf", "  bucket        = var.name\n", "  bucket = var.name\n")
    result = run_script("fmt", broken.root)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "s3_bucket/main.tf" in result.stdout + result.stderr


def test_checkov_fails_on_a_bucket_without_encryption(broken: BrokenInfra) -> None:
    require((CHECKOV_VENV / "bin" / "checkov").exists(), f"{CHECKOV_VENV}/bin/checkov")
    remove_bucket_encryption(broken)
    result = run_script("checkov", broken.root)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    failed = {(check, resource.split(".")[-2]) for check, resource in FAILED.findall(output)}
    # Only the break shows up (so the rest of infra/ passes checkov): the module's buckets are not KMS-encrypted.
    assert ("CKV_AWS_145", "aws_s3_bucket") in failed, output
    assert {check for check, _ in failed} <= {"CKV_AWS_145", "CKV_AWS_19"}, output


def test_checkov_skips_are_inline_only() -> None:
    """The script passes no --skip-check: every skip is a justified comment next to its resource."""
    text = INFRA_SCRIPT.read_text()
    assert "--skip-check" not in text and "--soft-fail" not in text
    assert not list(Path(INFRA).rglob(".checkov.y*ml"))
