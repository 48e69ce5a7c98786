"""Read-only reports over the star schema (``redshift/sql/reports/*.sql``), the same SQL on Redshift and locally.

``cdc warehouse report`` and ``cdc demo`` show them: the version history of the customers with the most versions,
the customer dimension's totals and the order-line facts per order status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from common.errors import ConfigError
from redshift.connections import SqlSession
from redshift.dialect import Dialect, render
from redshift.runner import ANALYTICS, relation_exists

REPORTS_DIR: Final = Path(__file__).resolve().parent / "sql" / "reports"


@dataclass(frozen=True)
class ReportRows:
    """One report's column names and rows."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


# The columns each report's SELECT list names, in order (the sessions return plain tuples).
_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "customer_history": (
        "customer_id", "segment", "loyalty_tier", "city", "valid_from", "valid_to", "is_current", "is_deleted",
    ),
    "dimension_summary": ("customers", "versions", "current_rows", "deleted_customers"),
    "fact_totals": ("order_status", "orders", "lines", "units", "revenue", "unresolved_lines"),
}  # fmt: skip


def report_sql(name: str, dialect: Dialect, parameters: dict[str, str] | None = None) -> str:
    """The named report's SQL rendered for ``dialect``; ``parameters`` are SQL text, as for the migrations."""
    path = REPORTS_DIR / f"{name}.sql"
    return render(path.read_text(encoding="utf-8"), dialect, parameters or {}, name=path.name).strip().rstrip(";")


def run_report(
    session: SqlSession, dialect: Dialect, name: str, parameters: dict[str, str] | None = None
) -> ReportRows:
    """Run one report; its columns are those of :data:`_COLUMNS` (a unit test keeps them equal to the SQL's)."""
    rows = session.fetchall(report_sql(name, dialect, parameters))
    return ReportRows(name, _COLUMNS[name], rows)


def star_schema_report(session: SqlSession, dialect: Dialect, *, customers: int = 3) -> list[ReportRows]:
    """The customer dimension's totals, the history of the ``customers`` busiest customers, the fact totals."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    for relation in ("dim_customer", "fact_order_items"):
        if not relation_exists(session, ANALYTICS, relation):
            raise ConfigError(f"the warehouse has no {ANALYTICS}.{relation}: run `cdc warehouse migrate` first")
    return [
        run_report(session, dialect, "dimension_summary"),
        run_report(session, dialect, "customer_history", {"customers": str(int(customers))}),
        run_report(session, dialect, "fact_totals"),
    ]
