"""Fixtures of the batch unit tests: one local Spark session (started once, ~6 s) and a small test catalog."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from common.spark import local_session
from schemas.catalog import Catalog, Table, parse_catalog

CATALOG_TOML = """
topic_prefix = "shop"
database = "shop"
source_schema = "public"
connector_name = "shop"

[tables.account]
role = "reference"
primary_key = ["account_id"]
columns = [
  { name = "account_id", type = "int64" },
  { name = "email", type = "varchar(100)", nullable = true },
  { name = "tier", type = "varchar(10)", nullable = true },
  { name = "country", type = "varchar(2)", nullable = true },
  { name = "balance", type = "decimal(12,2)", nullable = true },
]

[tables.account.quality]
not_null = ["email"]
unique = ["email"]
ranges = { balance = { min = 0, max = 1000 } }
allowed = { tier = ["basic", "gold"] }
patterns = { country = "[A-Z]{2}" }

[tables.purchase]
role = "fact"
primary_key = ["purchase_id", "line_no"]
columns = [
  { name = "purchase_id", type = "int64" },
  { name = "line_no", type = "int32" },
  { name = "account_id", type = "int64", nullable = true },
  { name = "amount", type = "decimal(12,2)" },
]

[tables.purchase.quality]
references = { account_id = "account" }

[tables.ledger]
role = "fact"
primary_key = ["entry_id"]
columns = [
  { name = "entry_id", type = "int64" },
  { name = "note", type = "string", nullable = true },
]
"""


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = local_session("cdc-batch-unit-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shop() -> Catalog:
    """``account`` (every row rule), ``purchase`` (composite key, references), ``ledger`` (see below)."""
    return parse_catalog(tomllib.loads(CATALOG_TOML), Path("shop.toml"))


@pytest.fixture(scope="session")
def ledger(shop: Catalog) -> Table:
    """A table captured from SQL Server (the connector is set per catalog, so it is swapped in here)."""
    return shop.table("ledger").model_copy(update={"connector": "sqlserver"})


def frame(spark: SparkSession, ddl: str, rows: list[dict[str, Any]]) -> DataFrame:
    """A DataFrame of ``rows`` (dicts, missing keys are NULL) with the columns of ``ddl``."""
    names = [part.strip().split(" ")[0].strip("`") for part in ddl.split(", ")]
    return spark.createDataFrame([tuple(row.get(name) for name in names) for row in rows], ddl)
