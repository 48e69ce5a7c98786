"""Versioned tables on S3 (the stack's moto server): the conditional PUT that makes a commit exclusive."""

from __future__ import annotations

import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.table_store import ConcurrentCommitError, TableStore
from common.lake import LakeLocation


def test_commits_on_s3_are_exclusive(stack_endpoints: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in stack_endpoints.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    endpoint = stack_endpoints["AWS_ENDPOINT_URL"]
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    store = TableStore(LakeLocation(f"s3://{bucket}/lake", s3_endpoint=endpoint), "curated", "dim_customer")
    filesystem, _ = store.location.filesystem()
    relative = f"{store.new_data_folder('r1')}/part-0.parquet"
    pq.write_table(pa.table({"id": [1, 2]}), f"{store.folder()}/{relative}", filesystem=filesystem)

    store.commit([relative], expected_version=0, bookmark={"staging": 3})
    with pytest.raises(ConcurrentCommitError):
        store.commit([], expected_version=0)
    current = store.current()
    assert current is not None and (current.version, current.files, current.bookmark) == (
        1,
        (relative,),
        {"staging": 3},
    )
    assert store.current_uris() == [f"s3://{bucket}/lake/curated/dim_customer/{relative}"]
