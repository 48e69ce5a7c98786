"""The report SQL and the column names the CLI shows for it stay in step; parameters are required and checked."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from redshift.dialect import SqlTemplateError
from redshift.reports import _COLUMNS, REPORTS_DIR, report_sql, star_schema_report


@pytest.mark.parametrize("name", sorted(_COLUMNS))
def test_report_columns_are_the_select_list(name: str) -> None:
    sql = report_sql(name, "redshift", {"customers": "3"})
    tree = sqlglot.parse_one(sql, read="redshift")
    assert isinstance(tree, exp.Select)
    assert tuple(projection.alias_or_name for projection in tree.expressions) == _COLUMNS[name]


def test_every_report_file_has_its_columns() -> None:
    assert {path.stem for path in REPORTS_DIR.glob("*.sql")} == set(_COLUMNS)


def test_the_history_report_needs_its_count() -> None:
    with pytest.raises(SqlTemplateError, match="customers"):
        report_sql("customer_history", "postgres")
    assert "LIMIT 7" in report_sql("customer_history", "postgres", {"customers": "7"})


class NoSession:
    def fetchall(self, sql: str, params: object = None) -> list[tuple[object, ...]]:
        raise AssertionError("no query may run")


def test_star_schema_report_refuses_a_count_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        star_schema_report(NoSession(), "postgres", customers=0)  # type: ignore[arg-type]
