"""Smoke test of bench/batch.py: a small run prints every figure, and the generated landing zone is what the
readers' contract and the staging job expect (the bench's own correctness check runs inside the script)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "bench" / "batch.py"

# About 75 s on this 2-core machine beside other Spark tests (load 3-6); generous limits: heavier load slows it 3x.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(660)]


def bench(*args: str, tmp: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the script; its temporary lake goes under ``tmp`` (pytest cleans it up even if the run is killed)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_small_run_prints_staging_duckdb_ratio_and_curated_figures(tmp_path: Path) -> None:
    result = bench("--changes", "20000", "--seed", "7", tmp=tmp_path, timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"landed 20,000 changes of 6 tables in \d+ files", out), out
    assert re.search(
        r"^staging +Spark [\d,]+ rows/s \(20,000 landed changes in [\d.]+ s -> [\d,]+ staged rows\)", out, re.M
    ), out
    assert re.search(
        r"^duckdb +[\d,]+ rows/s \(20,000 landed changes in [\d.]+ s\), same rows as Spark's staging", out, re.M
    ), out
    assert re.search(r"^ratio +Spark staging / DuckDB: [\d.]+x +\(goal <= 3x\) +(PASS|MISS)", out, re.M), out
    assert re.search(r"^curated +Spark [\d,]+ rows/s \([\d,]+ input rows in [\d.]+ s", out, re.M), out
    for phase in ("Spark staging job", "DuckDB staging baseline", "Spark curated job", "fact_order_items"):
        assert phase in out, out
    assert not list(tmp_path.glob("bench-batch-*")), "the temporary lake is removed without --keep"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--changes", "0"), "--changes must be at least 100"),
        (("--tables", "orders"), "--tables: orders needs customer too"),
        (("--tables", "nope"), "--tables: unknown table(s) nope"),
    ],
)
def test_bad_options_give_one_error_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = bench(*args, tmp=tmp_path, timeout=60)

    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "error: " in last
    assert message in last
