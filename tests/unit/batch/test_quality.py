"""Data-quality rules on staging candidates: one failing row per rule type, NULLs, unique across keys, references."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from batch.quality import check_quality, full_match, invalid_rows, rule_counts, valid_rows
from batch.staging_schema import staging_ddl
from schemas.catalog import Catalog, Table
from tests.unit.batch.conftest import frame

TS = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def account(account_id: int, **values: Any) -> dict[str, Any]:
    """A valid account row in staging layout; ``values`` override columns."""
    row = {
        "account_id": account_id,
        "email": f"a{account_id}@x.io",
        "tier": "gold",
        "country": "DE",
        "balance": Decimal("10.00"),
        "_op": "u",
        "_source_ts": TS,
        "_lsn": 100 + account_id,
        "_deleted": False,
        "_bucket": 0,
        "_run_id": "r",
    }
    return row | values


def rows(spark: SparkSession, table: Table, data: list[dict[str, Any]]) -> DataFrame:
    return frame(spark, staging_ddl(table), data)


def broken(checked: DataFrame, key: str = "account_id") -> dict[Any, list[str]]:
    return {row[key]: list(row["_rules"]) for row in checked.select(key, "_rules").collect()}


def test_each_row_rule_fails_its_row_and_only_its_row(spark: SparkSession, shop: Catalog) -> None:
    table = shop.table("account")
    data = [
        account(1),
        account(2, email=None),
        account(3, balance=Decimal("-0.01")),
        account(4, balance=Decimal("1000.01")),
        account(5, tier="platinum"),
        account(6, country="de"),
        account(7, country="DEU"),  # a prefix match is not a match
        account(8, email=None, tier="x", country="1"),
    ]
    checked = check_quality(rows(spark, table, data), table)
    assert broken(checked) == {
        1: [],
        2: ["not_null:email"],
        3: ["range:balance"],
        4: ["range:balance"],
        5: ["allowed:tier"],
        6: ["pattern:country"],
        7: ["pattern:country"],
        8: ["not_null:email", "allowed:tier", "pattern:country"],  # the order of rule_names()
    }
    assert sorted(row["account_id"] for row in valid_rows(checked).collect()) == [1]
    assert "_rules" not in valid_rows(checked).columns
    assert invalid_rows(checked).count() == 7
    counts = {row["rule"]: row["rows"] for row in rule_counts(checked).collect()}
    assert counts == {"not_null:email": 2, "range:balance": 2, "allowed:tier": 2, "pattern:country": 3}


def test_nulls_pass_every_rule_but_not_null(spark: SparkSession, shop: Catalog) -> None:
    table = shop.table("account")
    data = [account(1, tier=None, country=None, balance=None), account(2, tier=None, country=None, balance=None)]
    assert broken(check_quality(rows(spark, table, data), table)) == {1: [], 2: []}


def test_patterns_match_the_whole_value() -> None:
    assert full_match("[A-Z]{2}") == "^(?:[A-Z]{2})\\z"


def test_a_trailing_newline_does_not_match(spark: SparkSession, shop: Catalog) -> None:
    table = shop.table("account")
    checked = check_quality(rows(spark, table, [account(1, country="DE\n")]), table)
    assert broken(checked) == {1: ["pattern:country"]}


def test_deletes_are_not_checked(spark: SparkSession, shop: Catalog) -> None:
    table = shop.table("account")
    data = [account(1, email=None, tier="x", _op="d", _deleted=True)]
    assert broken(check_quality(rows(spark, table, data), table)) == {1: []}


def test_unique_compares_new_rows_with_each_other_and_with_other_current_keys(
    spark: SparkSession, shop: Catalog
) -> None:
    table = shop.table("account")
    current = rows(
        spark,
        table,
        [
            account(1, email="taken@x.io"),
            account(2, email="mine@x.io"),
            account(3, email="freed@x.io"),  # deleted in this run: its email is free again
            account(4, email="old@x.io", _deleted=True),  # deleted long ago: not current
        ],
    )
    new = rows(
        spark,
        table,
        [
            account(2, email="mine@x.io"),  # the key's own current value is no conflict
            account(3, _op="d", _deleted=True, email="freed@x.io"),
            account(10, email="taken@x.io"),
            account(11, email="twin@x.io"),
            account(12, email="twin@x.io"),
            account(13, email="freed@x.io"),
            account(14, email="old@x.io"),
        ],
    )
    checked = check_quality(new, table, current=current)
    assert broken(checked) == {
        2: [],
        3: [],
        10: ["unique:email"],
        11: ["unique:email"],
        12: ["unique:email"],
        13: [],
        14: [],
    }
    without_current = check_quality(new, table)
    assert broken(without_current)[10] == []


def test_references_need_a_current_key_of_the_referenced_table(spark: SparkSession, shop: Catalog) -> None:
    table = shop.table("purchase")
    data = [
        {"purchase_id": 1, "line_no": 1, "account_id": 7, "amount": Decimal(1), "_deleted": False},
        {"purchase_id": 1, "line_no": 2, "account_id": 8, "amount": Decimal(1), "_deleted": False},
        {"purchase_id": 2, "line_no": 1, "account_id": None, "amount": Decimal(1), "_deleted": False},
        {"purchase_id": 3, "line_no": 1, "account_id": 8, "amount": Decimal(1), "_deleted": True},
    ]
    keys = spark.createDataFrame([(7,), (7,), (9,)], "account_id BIGINT")  # a repeated key must not repeat rows
    checked = check_quality(rows(spark, table, data), table, referenced_keys={"account": keys})
    result = {(row["purchase_id"], row["line_no"]): list(row["_rules"]) for row in checked.collect()}
    assert result == {(1, 1): [], (1, 2): ["references:account_id"], (2, 1): [], (3, 1): []}
    with pytest.raises(ValueError, match="account"):
        check_quality(rows(spark, table, data), table)


def test_a_table_without_rules_passes_everything(spark: SparkSession, shop: Catalog, ledger: Table) -> None:
    data = [{"entry_id": 1, "note": None, "_deleted": False}]
    checked = check_quality(frame(spark, staging_ddl(ledger), data), ledger)
    assert broken(checked, "entry_id") == {1: []}
