"""`cdc demo`, the README's first command, as a user runs it: a real subprocess on its own embedded stack, every
stage (capture → Kafka → Spark landing → JSON bridge → warehouse load cycle → report → batch DAG → cdc query)
with its figures checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CDC = [sys.executable, "-c", "from cli.main import entry; entry()"]


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in the demo's output"
    return int(found.group(1).replace(",", ""))


def test_the_demo_runs_every_stage_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "CDC_HOME": str(home), "COLUMNS": "200"}
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "SOURCE_DSN", "WAREHOUSE_DSN", "LAKE_ROOT"):
        env.pop(name, None)  # the demo's own stack, whatever the test session uses
    try:
        result = subprocess.run(
            [*CDC, "demo", "--changes", "400"], capture_output=True, text=True, env=env, timeout=900, check=False
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
    finally:
        subprocess.run([*CDC, "stack", "down"], env=env, capture_output=True, timeout=120, check=False)

    landed = _number(r"landing job stopped: ([\d,]+) rows landed", output)
    bridged = _number(r"bridge stopped: ([\d,]+) records written", output)
    tombstones = _number(r"\(([\d,]+) tombstones", output)
    refreshed = _number(r"([\d,]+) row\(s\) appended to 6 MV table\(s\)", output)
    assert landed > 2000  # the snapshot (2,000 customers, 200 products, 2,000 orders ...) plus the workload
    assert bridged == refreshed  # every bridged record, tombstones included, reached an MV table
    assert bridged - tombstones == landed  # the landing zone drops tombstones; the bridge keeps them
    assert re.search(r"warehouse run [0-9a-f-]+ ok", output)
    assert "17/17 stack status" in output
    assert re.search(r"✓ aggregates \([\d.]+s\): built agg_daily_sales", output)  # the batch DAG ran to the end
    assert "top products by revenue" in output and "customers per segment" in output
    assert "customer history" in output and "per order status" in output
    # (Spark's Python workers may print tracebacks of their own when the machine is so busy that one connects
    # back too late; the landing job then restarts the query, and the figures above show nothing was lost.)
    assert "unexpected" not in output
