"""`cdc warehouse backfill`: committed landing files → staging.<table>_backfill → the same procedures as the stream.

PostgreSQL: the whole command on a migrated warehouse of the stack. Redshift: the manifest upload (to the stack's
moto S3 server) and the COPY statements sent, with a session that records them (no Redshift here).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow.fs as pafs
import pytest
import sqlglot

from cli import main as cli_main
from cli.warehouse_backfill import load_into_redshift
from common.lake import LakeLocation
from tests.integration.redshift.test_scd_backfill import write_landing_file
from tests.integration.redshift.test_scd_support import (
    OPEN,
    Change,
    Warehouse,
    at,
    customer,
    migrated_warehouse,
    table_of,
    versions,
)

CUSTOMER = table_of("customer")
HISTORY = [
    Change("customer", "r", customer(1, segment="consumer"), lsn=100, ts=at(1)),
    Change("customer", "c", customer(2, segment="smb"), lsn=150, ts=at(1.5)),
    Change("customer", "u", customer(1, segment="enterprise"), lsn=200, ts=at(2)),
]


def commit_files(lake: LakeLocation, table: str, files: list[str], batch: int = 0) -> None:
    """The file sink's log entry of one batch, listing ``files`` (paths inside the lake's filesystem)."""
    filesystem, _ = lake.filesystem()
    scheme = "s3a://" if lake.is_s3 else "file://"
    lines = ["v1"] + [
        json.dumps({"path": scheme + path if lake.is_s3 else Path(path).as_uri(), "size": 1, "action": "add"})
        for path in files
    ]
    folder = lake.fs_path("landing", table, "_spark_metadata")
    filesystem.create_dir(folder, recursive=True)
    with filesystem.open_output_stream(f"{folder}/{batch}") as stream:
        stream.write("\n".join(lines).encode())


def land(lake: LakeLocation, changes: list[Change], name: str) -> str:
    """One landing file of ``changes`` in the customer table's hour folder; returns its filesystem path."""
    filesystem, _ = lake.filesystem()
    folder = lake.fs_path("landing", "customer", "year=2026", "month=3", "day=1", "hour=12")
    filesystem.create_dir(folder, recursive=True)
    local = Path(f"/tmp/{uuid.uuid4().hex}.parquet")
    write_landing_file(local, changes)
    target = f"{folder}/{name}"
    pafs.copy_files(str(local), target, destination_filesystem=filesystem)
    local.unlink()
    return target


@pytest.fixture(scope="module")
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with migrated_warehouse(stack_endpoints, "backfillcmd") as dsn:
        yield dsn


def test_backfill_loads_committed_files_only_and_runs_the_procedures(
    warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = LakeLocation(str(tmp_path / "lake"))
    committed = [land(lake, HISTORY[:2], "part-0.parquet"), land(lake, HISTORY[2:], "part-1.parquet")]
    land(lake, [Change("customer", "u", customer(1, segment="crashed"), lsn=900, ts=at(9))], "part-9.parquet")
    commit_files(lake, "customer", committed)  # part-9 belongs to a batch that never committed
    argv = ["warehouse", "backfill", "--lake-root", lake.root, "--warehouse-dsn", warehouse_dsn]
    with Warehouse.open(warehouse_dsn) as wh:
        assert cli_main.main(argv) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert re.search(r"│ customer\s*│\s*2 │\s*3 │", out)  # 2 files, 3 rows; the stray part file is not loaded
        assert "skipped: no landing data" in out  # the other catalog tables
        assert versions(wh, "dim_customer", 1, "segment") == [
            ("consumer", at(1), at(2), False, False, 100),
            ("enterprise", at(2), OPEN, True, False, 200),
        ]
        assert versions(wh, "dim_customer", 2, "segment") == [("smb", at(1.5), OPEN, True, False, 150)]
        assert wh.query("SELECT COUNT(*) AS n FROM staging.customer_backfill")[0]["n"] == 0  # consumed, emptied
        before = wh.snapshot()

        # Again, keeping the loaded rows this time: the procedures already hold these changes, nothing moves.
        assert cli_main.main([*argv, "--keep"]) == 0
        after = wh.snapshot()
        assert after.pop("staging.customer_backfill") != [] and before.pop("staging.customer_backfill") == []
        assert after == before


def test_backfill_errors_are_one_line(warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["warehouse", "backfill", "--warehouse-dsn", warehouse_dsn]
    assert cli_main.main([*argv, "--lake-root", str(tmp_path), "--tables", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    redshift = [*argv, "--dialect", "redshift", "--workgroup", "wg", "--lake-root", str(tmp_path)]
    assert cli_main.main(redshift) == 2
    error = capsys.readouterr().err
    assert "must be an s3:// URL" in error and len(error.strip().splitlines()) == 1


class RecordingSession:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)


def test_redshift_backfill_uploads_a_manifest_and_copies_from_it(
    stack_endpoints: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack_endpoints.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)  # the moto server's credentials and region, for boto3 and pyarrow
    endpoint = stack_endpoints["AWS_ENDPOINT_URL"]
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    lake = LakeLocation(f"s3://{bucket}/retail", s3_endpoint=endpoint)
    committed = [land(lake, HISTORY[:2], "part-0.parquet"), land(lake, HISTORY[2:], "part-1.parquet")]
    land(lake, HISTORY, "part-9.parquet")  # never committed
    commit_files(lake, "customer", committed)
    session = RecordingSession()
    role = "arn:aws:iam::123456789012:role/redshift-copy"

    loads = load_into_redshift(
        session,  # type: ignore[arg-type]
        s3,
        lake,
        [CUSTOMER, table_of("product")],
        prefix=f"s3://{bucket}/manifests/backfill",
        iam_role_arn=role,
        now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )

    assert [(load.table, load.files, load.rows, load.skipped) for load in loads] == [
        ("customer", 2, 3, None),
        ("product", 0, 0, "no landing data"),
    ]
    manifest_url = loads[0].manifest
    assert manifest_url == f"s3://{bucket}/manifests/backfill/customer-20260301T120000000000Z.manifest"
    key = manifest_url.removeprefix(f"s3://{bucket}/")
    entries = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["entries"]
    assert sorted(entry["url"] for entry in entries) == [
        f"s3://{bucket}/retail/landing/customer/year=2026/month=3/day=1/hour=12/part-{n}.parquet" for n in (0, 1)
    ]
    sizes = {obj["Key"].rsplit("/", 1)[-1]: obj["Size"] for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert all(entry["meta"]["content_length"] == sizes[entry["url"].rsplit("/", 1)[-1]] for entry in entries)
    assert len(session.statements) == 1
    copy = " ".join(session.statements[0].split())
    assert copy.startswith("COPY staging.customer_backfill FROM")
    assert f"'{manifest_url}'" in copy and f"IAM_ROLE '{role}'" in copy and copy.endswith("MANIFEST")
    sqlglot.parse_one(copy, read="redshift")
