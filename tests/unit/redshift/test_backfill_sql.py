"""The Redshift side of a backfill: where its manifest goes and the COPY it runs (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from common.errors import ConfigError
from redshift.backfill import copy_statements, manifest_url
from schemas.catalog import load_catalog

CATALOG = load_catalog()


def test_manifest_url_is_per_table_and_time_in_utc() -> None:
    local = datetime(2026, 3, 1, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert manifest_url("s3://lake/manifests/", "customer", local) == (
        "s3://lake/manifests/customer-20260301T120000000005Z.manifest"
    )
    with pytest.raises(ConfigError, match="s3:// URL"):
        manifest_url("/tmp/manifests", "customer", datetime.now(UTC))


def test_copy_statements_quote_their_parameters() -> None:
    [copy] = copy_statements(CATALOG.table("orders"), "s3://lake/m/o'1.manifest", "arn:aws:iam::1:role/r")
    text = " ".join(copy.split())
    assert text.startswith("COPY staging.orders_backfill FROM 's3://lake/m/o''1.manifest' IAM_ROLE")
    assert text.endswith("FORMAT AS PARQUET MANIFEST")
