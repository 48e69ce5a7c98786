"""The catalog's data-quality rules evaluated on staging candidates (ADR 0011 §3). Pure DataFrame transforms.

:func:`check_quality` adds ``_rules`` (array<string>): the names of the rules a row breaks, in the order of
``QualityRules.rule_names()`` — empty means the row may be staged. Rules follow the catalog's definitions:
a NULL passes every rule but ``not_null``; ``patterns`` must match the whole value; ``unique`` fails a new row
whose value another key also holds (among this run's new rows and the other keys' current, non-deleted staged
rows); ``references`` needs the value among the referenced table's current, non-deleted keys. Deleted rows are
never checked, but their keys count as changed (their old values no longer block ``unique``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from batch.staging_schema import DELETED
from schemas.catalog import QualityRules, Table

RULES: Final = "_rules"


def _live(rows: DataFrame) -> SparkColumn:
    """True for rows that are not deletes (rows without ``_deleted`` are all live)."""
    if DELETED in rows.columns:
        return ~F.coalesce(F.col(DELETED), F.lit(False))
    return F.lit(True)


def full_match(pattern: str) -> str:
    """A Java regex matching the whole value, like Python's ``re.fullmatch`` (``\\z``: no final-newline slack)."""
    return f"^(?:{pattern})\\z"


def _row_rules(rules: QualityRules) -> dict[str, SparkColumn]:
    """Failing conditions of the rules that look at one row only (NULL comparisons are NULL: they pass)."""
    failing: dict[str, SparkColumn] = {f"not_null:{column}": F.col(column).isNull() for column in rules.not_null}
    for column, bounds in rules.ranges.items():
        condition = F.lit(False)
        if bounds.min is not None:
            condition = condition | (F.col(column) < F.lit(bounds.min))
        if bounds.max is not None:
            condition = condition | (F.col(column) > F.lit(bounds.max))
        failing[f"range:{column}"] = condition
    for column, values in rules.allowed.items():
        failing[f"allowed:{column}"] = ~F.col(column).cast("string").isin(list(values))
    for column, pattern in rules.patterns.items():
        failing[f"pattern:{column}"] = ~F.col(column).cast("string").rlike(full_match(pattern))
    return failing


def _duplicate_values(
    rows: DataFrame, current: DataFrame | None, table: Table, column: str, value: str, flag: str
) -> DataFrame:
    """Values of ``column`` held by more than one key among the live new rows and the unchanged current rows."""
    key = list(table.primary_key)
    pool = rows.where(_live(rows) & F.col(column).isNotNull()).select(*key, F.col(column).alias(value))
    if current is not None:
        unchanged = current.where(_live(current) & F.col(column).isNotNull()).join(
            rows.select(*key).distinct(), on=key, how="left_anti"
        )
        pool = pool.unionByName(unchanged.select(*key, F.col(column).alias(value)))
    counted = pool.groupBy(value).count()
    return counted.where(F.col("count") > 1).select(value, F.lit(True).alias(flag))


def check_quality(
    rows: DataFrame,
    table: Table,
    *,
    current: DataFrame | None = None,
    referenced_keys: Mapping[str, DataFrame] | None = None,
) -> DataFrame:
    """``rows`` with ``_rules`` added (see the module doc).

    ``current``: the table's staged rows before this run (catalog columns and ``_deleted``), for ``unique``;
    None when nothing is staged yet. ``referenced_keys``: per referenced table, a one-column DataFrame of its
    current non-deleted keys (every table a ``references`` rule names must be there).
    """
    rules = table.quality
    failing = _row_rules(rules)
    checked = rows
    helpers: list[str] = []
    for index, column in enumerate(rules.unique):
        value, flag = f"__unique_value_{index}", f"__unique_{index}"
        duplicates = _duplicate_values(rows, current, table, column, value, flag)
        checked = checked.join(duplicates, F.col(column) == F.col(value), "left").drop(value)
        failing[f"unique:{column}"] = F.col(flag).isNotNull()
        helpers.append(flag)
    for index, (column, target) in enumerate(rules.references.items()):
        keys = (referenced_keys or {}).get(target)
        if keys is None or len(keys.columns) != 1:
            raise ValueError(f"references.{column} of {table.name}: pass the keys of '{target}' as one column")
        value, flag = f"__reference_value_{index}", f"__reference_{index}"
        found = keys.select(F.col(keys.columns[0]).alias(value)).distinct().withColumn(flag, F.lit(True))
        checked = checked.join(found, F.col(column) == F.col(value), "left").drop(value)
        failing[f"references:{column}"] = F.col(column).isNotNull() & F.col(flag).isNull()
        helpers.append(flag)
    live = _live(rows)
    names = [F.when(live & failing[name], F.lit(name)) for name in rules.rule_names()]
    broken = F.filter(F.array(*names), lambda name: name.isNotNull()) if names else F.array().cast("array<string>")
    return checked.withColumn(RULES, broken).drop(*helpers)


def valid_rows(checked: DataFrame) -> DataFrame:
    """Rows that broke no rule, without ``_rules``."""
    return checked.where(F.size(RULES) == 0).drop(RULES)


def invalid_rows(checked: DataFrame) -> DataFrame:
    """Rows that broke at least one rule (``_rules`` kept)."""
    return checked.where(F.size(RULES) > 0)


def rule_counts(checked: DataFrame) -> DataFrame:
    """Rows per broken rule (``rule``, ``rows``); a row breaking two rules counts for each."""
    return checked.select(F.explode(RULES).alias("rule")).groupBy("rule").agg(F.count("*").alias("rows"))
