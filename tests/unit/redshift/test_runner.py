"""The runner against a fake session: the statements it sends, in which transactions, and what it refuses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from redshift.connections import WarehouseStatementError
from redshift.dialect import SqlTemplateError
from redshift.runner import (
    ChecksumMismatchError,
    MigrationError,
    WarehouseRunner,
    discover_migrations,
    migrate,
    order_procedures,
    plan_quality_checks,
    row_count_drops,
    run_once,
    status,
    table_of_target,
)
from schemas.catalog import Catalog, load_catalog

Rows = list[tuple[Any, ...]]
Answer = Rows | Callable[[Mapping[str, Any] | None], Rows]


class FakeSession:
    """Statements go to ``log`` as (sql, params); ``BEGIN``/``COMMIT``/``ROLLBACK`` mark ``transaction()`` blocks.

    ``answers`` maps a substring of a query to its rows (first match wins); ``fail_on`` makes any statement
    containing that substring raise like the database would.
    """

    def __init__(self, answers: Mapping[str, Answer] | None = None, fail_on: str | None = None) -> None:
        self.answers = dict(answers or {})
        self.fail_on = fail_on
        self.log: list[tuple[str, Mapping[str, Any] | None]] = []
        self.closed = False

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.log.append((sql, params))
        if self.fail_on is not None and self.fail_on in sql:
            raise WarehouseStatementError(f'syntax error at or near "{self.fail_on}"')

    def fetchall(self, sql: str, params: Mapping[str, Any] | None = None) -> Rows:
        self.log.append((sql, params))
        for fragment, answer in self.answers.items():
            if fragment in sql:
                return answer(params) if callable(answer) else list(answer)
        return []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.log.append(("BEGIN", None))
        try:
            yield
        except BaseException:
            self.log.append(("ROLLBACK", None))
            raise
        self.log.append(("COMMIT", None))

    def close(self) -> None:
        self.closed = True

    @property
    def statements(self) -> list[str]:
        return [sql for sql, _ in self.log]

    def executed(self, fragment: str) -> list[tuple[str, Mapping[str, Any] | None]]:
        return [(sql, params) for sql, params in self.log if fragment in sql]


V1 = "CREATE SCHEMA IF NOT EXISTS staging;\nCREATE TABLE staging.t (a INT);\n"
V2 = """CREATE TABLE staging.mv_customer (
-- [redshift]
  payload SUPER,
-- [end]
-- [postgres]
  payload JSONB,
-- [end]
  kafka_offset BIGINT
);
CREATE EXTERNAL SCHEMA IF NOT EXISTS kafka FROM MSK IAM_ROLE {{ iam_role_arn }};
CREATE OR REPLACE PROCEDURE staging.sp_load() AS $$
BEGIN
  UPDATE staging.t SET a = 1;
END;
$$ LANGUAGE plpgsql;
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def applied(*records: tuple[int, str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Fake answers: the bookkeeping table exists and holds these (version, name, checksum) rows."""
    return {
        "SELECT 1 FROM information_schema.tables WHERE table_schema": [(1,)],
        "FROM public.schema_migrations ORDER BY version": [(v, n, c, "2026-11-22 00:00:00") for v, n, c in records],
    }


# ------------------------------------------------------------------------------------------------------------
# Migration files


def test_discovers_files_in_version_order(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V002__two.sql": "SELECT 2;", "V001__one.sql": "SELECT 1;", "README.md": "x"})
    files = discover_migrations(folder)
    assert [(f.version, f.name, f.filename) for f in files] == [
        (1, "one", "V001__one.sql"),
        (2, "two", "V002__two.sql"),
    ]
    assert files[0].checksum == sha("SELECT 1;")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"V001__a.sql": "", "V003__c.sql": ""}, "V002 is missing before V003__c.sql"),
        ({"V002__b.sql": ""}, "V001 is missing before V002__b.sql"),
        ({"V001__a.sql": "", "V1__again.sql": ""}, "duplicate migration version 1"),
        ({"V001_a.sql": ""}, "V001_a.sql: migration files must be named V<NNN>__<what>.sql"),
        ({"V001__a-b.sql": ""}, "V001__a-b.sql: migration files must be named"),
    ],
)
def test_gaps_duplicates_and_bad_names_are_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(MigrationError, match=message.replace("<", ".").replace(">", ".")):
        discover_migrations(write(tmp_path, files))


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        discover_migrations(tmp_path / "nope")


# ------------------------------------------------------------------------------------------------------------
# migrate


def test_postgres_applies_each_file_in_its_own_transaction(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__mv.sql": V2})
    session = FakeSession()
    report = migrate(session, "postgres", {"iam_role_arn": "'arn:aws:iam::1:role/r'"}, sql_dir=folder)

    assert [m.version for m in report.applied] == [1, 2]
    sent = [sql if not sql.startswith("INSERT") else "INSERT" for sql in session.statements]
    first = sent.index("BEGIN")
    assert all(sql.startswith("CREATE TABLE IF NOT EXISTS public.") for sql in sent[first - 3 : first])
    assert sent[first:] == [
        "BEGIN",
        "LOCK TABLE public.schema_migrations IN EXCLUSIVE MODE",
        "SELECT 1 FROM public.schema_migrations WHERE version = %(version)s",
        "CREATE SCHEMA IF NOT EXISTS staging",
        "CREATE TABLE staging.t (a INT)",
        "INSERT",
        "COMMIT",
        "BEGIN",
        "LOCK TABLE public.schema_migrations IN EXCLUSIVE MODE",
        "SELECT 1 FROM public.schema_migrations WHERE version = %(version)s",
        "CREATE TABLE staging.mv_customer (\n  payload JSONB,\n  kafka_offset BIGINT\n)",
        "CREATE EXTERNAL SCHEMA IF NOT EXISTS kafka FROM MSK IAM_ROLE 'arn:aws:iam::1:role/r'",
        sent[first + 12],
        "INSERT",
        "COMMIT",
    ]
    assert sent[first + 12].startswith("CREATE OR REPLACE PROCEDURE staging.sp_load() AS $$\nBEGIN\n")
    inserts = [params for _, params in session.executed("INSERT INTO public.schema_migrations")]
    assert [(p["version"], p["name"], p["checksum"], p["dialect"]) for p in inserts] == [  # type: ignore[index]
        (1, "base", sha(V1), "postgres"),
        (2, "mv", sha(V2), "postgres"),
    ]


def test_a_migration_recorded_meanwhile_by_another_runner_is_skipped(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1})
    session = FakeSession({"SELECT 1 FROM public.schema_migrations WHERE version": [(1,)]})
    migrate(session, "postgres", {}, sql_dir=folder)
    assert not session.executed("CREATE SCHEMA") and not session.executed("INSERT")


def test_a_parameter_outside_dialect_blocks_must_be_given(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__mv.sql": V2})
    session = FakeSession()
    with pytest.raises(SqlTemplateError, match=r"V002__mv\.sql:10: parameter '\{\{ iam_role_arn \}\}' has no value"):
        migrate(session, "postgres", {}, sql_dir=folder)
    assert not [s for s in session.statements if s.startswith(("CREATE", "BEGIN", "INSERT"))]  # nothing ran


def test_redshift_runs_statement_by_statement_without_transactions(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__mv.sql": V2})
    session = FakeSession()
    role = "'arn:aws:iam::123456789012:role/redshift-msk'"
    migrate(session, "redshift", {"iam_role_arn": role}, sql_dir=folder)

    assert "BEGIN" not in session.statements and not session.executed("LOCK TABLE")
    body = [s for s in session.statements if not s.startswith(("CREATE TABLE IF NOT EXISTS public.", "SELECT"))]
    assert body[0:2] == ["CREATE SCHEMA IF NOT EXISTS staging", "CREATE TABLE staging.t (a INT)"]
    assert body[2].startswith("INSERT INTO public.schema_migrations")
    assert body[3] == "CREATE TABLE staging.mv_customer (\n  payload SUPER,\n  kafka_offset BIGINT\n)"
    assert body[4] == f"CREATE EXTERNAL SCHEMA IF NOT EXISTS kafka FROM MSK IAM_ROLE {role}"
    assert body[5].startswith("CREATE OR REPLACE PROCEDURE staging.sp_load() AS $$")
    assert body[5].endswith("$$ LANGUAGE plpgsql")
    assert body[6].startswith("INSERT INTO public.schema_migrations")


def test_rerun_applies_nothing(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1})
    session = FakeSession(applied((1, "base", sha(V1))))
    report = migrate(session, "postgres", {}, sql_dir=folder)
    assert report.applied == [] and report.pending == []
    assert not session.executed("CREATE")  # not even the bookkeeping tables


def test_only_new_files_are_applied(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__more.sql": "CREATE TABLE staging.u (b INT);"})
    session = FakeSession(applied((1, "base", sha(V1))))
    report = migrate(session, "postgres", {}, sql_dir=folder)
    assert [m.filename for m in report.applied] == ["V002__more.sql"]
    assert session.executed("CREATE TABLE staging.u") and not session.executed("CREATE TABLE staging.t")


def test_edited_applied_file_is_refused_with_both_checksums(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1 + "-- edited\n"})
    session = FakeSession(applied((1, "base", sha(V1))))
    with pytest.raises(ChecksumMismatchError) as caught:
        migrate(session, "postgres", {}, sql_dir=folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("V001__base.sql was changed after it was applied")
    assert sha(V1) in message and sha(V1 + "-- edited\n") in message
    assert not session.executed("CREATE")


def test_applied_version_without_file_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1})
    session = FakeSession(applied((1, "base", sha(V1)), (2, "gone", "0" * 64)))
    with pytest.raises(MigrationError, match=r"V002__gone is recorded as applied but no V002__\*\.sql file exists"):
        migrate(session, "postgres", {}, sql_dir=folder)


def test_failing_statement_names_file_statement_and_line_and_rolls_back(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__bad.sql": "SELECT 1;\n\nCREATE TABLEX broken (a INT);\n"})
    session = FakeSession(fail_on="TABLEX")
    with pytest.raises(MigrationError) as caught:
        migrate(session, "postgres", {}, sql_dir=folder)
    assert str(caught.value) == (
        'V002__bad.sql: statement 2 (line 3: CREATE TABLEX broken (a INT)) failed: syntax error at or near "TABLEX"'
    )
    assert session.statements[-1] == "ROLLBACK"
    assert len(session.executed("INSERT INTO public.schema_migrations")) == 1  # V001 only


def test_transaction_control_in_a_file_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": "BEGIN;\nCREATE TABLE t (a INT);\nCOMMIT;\n"})
    with pytest.raises(MigrationError, match=r"V001__base\.sql:1: 'BEGIN' — the runner wraps migrations"):
        migrate(FakeSession(), "postgres", {}, sql_dir=folder)


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__more.sql": "SELECT 1; SELECT 2; SELECT 3;"})
    session = FakeSession()
    report = migrate(session, "postgres", {}, sql_dir=folder, dry_run=True)
    assert [m.version for m in report.pending] == [1, 2] and report.applied == []
    assert report.statements == {1: 2, 2: 3}
    assert all(sql.startswith("SELECT") for sql in session.statements)


def test_runner_object_closes_its_session(tmp_path: Path, catalog: Catalog) -> None:
    sessions: list[FakeSession] = []

    def connect() -> FakeSession:
        sessions.append(FakeSession())
        return sessions[-1]

    runner = WarehouseRunner(connect, "postgres", catalog, sql_dir=write(tmp_path, {"V001__base.sql": V1}))
    runner.migrate()
    runner.status()
    assert len(sessions) == 2 and all(session.closed for session in sessions)


# ------------------------------------------------------------------------------------------------------------
# Procedures


def test_procedure_order_history_then_dimensions_then_facts() -> None:
    names = [
        "analytics.sp_load_fact_order_items",
        "staging.sp_other",
        "analytics.sp_load_dim_customer",
        "staging.sp_load_customer_history",
        "analytics.sp_load_dim_date",
        "analytics.sp_load_dim_payment_method",
    ]
    assert order_procedures(names) == [
        "staging.sp_load_customer_history",
        "analytics.sp_load_dim_date",
        "analytics.sp_load_dim_customer",
        "analytics.sp_load_dim_payment_method",
        "analytics.sp_load_fact_order_items",
        "staging.sp_other",
    ]


def test_run_all_is_called_alone() -> None:
    assert order_procedures(["analytics.sp_load_dim_customer", "staging.run_all"]) == ["staging.run_all"]


def test_custom_order_patterns() -> None:
    assert order_procedures(["s.b", "s.a", "s.c"], order=("c", "*")) == ["s.c", "s.a", "s.b"]


def test_run_once_calls_configured_procedures_in_order_then_checks(catalog: Catalog) -> None:
    session = FakeSession()
    report = run_once(session, "postgres", catalog, refresh=lambda: "refreshed", procedures=["Staging.SP_A", "sp_b"])
    assert report.ok and report.refreshed == "refreshed"
    assert session.executed("CALL") == [('CALL "staging"."sp_a"()', None), ('CALL "staging"."sp_b"()', None)]
    assert not session.executed("pg_proc")  # configured: no discovery
    assert session.executed("UPDATE public.warehouse_runs")[0][1]["status"] == "ok"  # type: ignore[index]


def test_run_once_discovers_procedures_per_dialect(catalog: Catalog) -> None:
    found = [("analytics", "sp_load_fact_order_items"), ("analytics", "sp_load_dim_customer")]
    postgres = FakeSession({"pg_catalog.pg_proc p": found})
    run_once(postgres, "postgres", catalog)
    assert [sql for sql, _ in postgres.executed("CALL")] == [
        'CALL "analytics"."sp_load_dim_customer"()',
        'CALL "analytics"."sp_load_fact_order_items"()',
    ]
    redshift = FakeSession({"pg_catalog.pg_proc_info p": found})
    run_once(redshift, "redshift", catalog)
    assert len(redshift.executed("CALL")) == 2


def test_failing_procedure_fails_the_run_and_stops_there(catalog: Catalog) -> None:
    session = FakeSession(fail_on="sp_b")
    report = run_once(session, "postgres", catalog, procedures=["staging.sp_a", "staging.sp_b", "staging.sp_c"])
    assert not report.ok
    assert report.error == 'procedure staging.sp_b failed: syntax error at or near "sp_b"'
    assert [sql for sql, _ in session.executed("CALL")] == ['CALL "staging"."sp_a"()', 'CALL "staging"."sp_b"()']
    update = session.executed("UPDATE public.warehouse_runs")[0][1]
    assert update["status"] == "failed" and update["message"] == report.error  # type: ignore[index]


def test_an_interrupted_run_is_still_closed_and_propagates(catalog: Catalog) -> None:
    session = FakeSession()

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_once(session, "postgres", catalog, refresh=interrupted)
    update = session.executed("UPDATE public.warehouse_runs")[0][1]
    assert update["status"] == "failed" and update["message"] == "run interrupted by KeyboardInterrupt"  # type: ignore[index]


def test_bad_procedure_name_is_refused_before_any_call(catalog: Catalog) -> None:
    session = FakeSession()
    report = run_once(session, "postgres", catalog, procedures=["staging.sp_a", "staging.x; DROP TABLE y"])
    assert report.error == "'staging.x; drop table y' is not a schema-qualified name (schema.name)"
    assert not session.executed("CALL")


# ------------------------------------------------------------------------------------------------------------
# Data-quality checks

DIM_COLUMNS = ["customer_key", "customer_id", "segment", "valid_from", "valid_to", "is_current", "is_deleted"]
TABLES = {
    "analytics.dim_customer": DIM_COLUMNS,
    "analytics.dim_product": ["product_key", "product_id", "valid_from", "valid_to", "is_current"],
    "analytics.dim_date": ["date_key", "full_date"],
    "analytics.fact_order_items": ["order_id", "line_no", "customer_key", "product_key", "order_date_key", "quantity"],
}


def test_checks_cover_scd2_dimensions_and_fact_orphans(catalog: Catalog) -> None:
    checks = plan_quality_checks(catalog, TABLES)
    assert [(check.relation, check.name) for check in checks] == [
        ("analytics.dim_customer", "one current row per key"),
        ("analytics.dim_customer", "no overlapping validity"),
        ("analytics.dim_product", "one current row per key"),
        ("analytics.dim_product", "no overlapping validity"),
        ("analytics.fact_order_items", "no orphan customer_key"),
        ("analytics.fact_order_items", "no orphan product_key"),
        ("analytics.fact_order_items", "no orphan order_date_key"),
    ]
    current, overlap = checks[0].sql, checks[1].sql
    assert 'GROUP BY "customer_id"' in current and "SUM(CASE WHEN is_current THEN 1 ELSE 0 END) <> 1" in current
    assert 'PARTITION BY "customer_id" ORDER BY valid_from, valid_to' in overlap
    assert checks[6].sql == (
        'SELECT COUNT(*) FROM "analytics"."fact_order_items" AS f LEFT JOIN "analytics"."dim_date" AS d '
        'ON f."order_date_key" = d."date_key" WHERE f."order_date_key" IS NOT NULL AND d."date_key" IS NULL'
    )


def test_checks_skip_tables_that_do_not_exist_yet(catalog: Catalog) -> None:
    assert plan_quality_checks(catalog, {}) == []
    partial = {"analytics.dim_customer": ["customer_id", "segment"]}  # not SCD2-shaped
    assert plan_quality_checks(catalog, partial) == []


def test_row_count_drop_over_five_percent_fails() -> None:
    results = row_count_drops(
        {"analytics.a": 1000, "analytics.b": 1000, "analytics.c": 0, "analytics.gone": 5},
        {"analytics.a": 951, "analytics.b": 949, "analytics.c": 0, "analytics.new": 3},
    )
    assert [(r.relation, r.passed) for r in results] == [
        ("analytics.a", True),
        ("analytics.b", False),
        ("analytics.c", True),
    ]
    assert results[1].detail == "1,000 → 949 (-5.1%)"


def test_run_once_reports_violations_and_records_counts(catalog: Catalog) -> None:
    columns = [(table.split(".")[1], column) for table, cols in TABLES.items() for column in cols]
    session = FakeSession(
        {  # first matching fragment wins
            "FROM information_schema.columns": columns,
            "HAVING SUM(CASE WHEN is_current": [(2,)],
            "SELECT run_id FROM public.warehouse_run_counts": [("previous-run",)],
            "SELECT relation, row_count FROM public.warehouse_run_counts": [("analytics.fact_order_items", 100)],
            "AS f LEFT JOIN": [(0,)],  # orphans
            'SELECT COUNT(*) FROM "analytics"."fact_order_items"': [(90,)],
            "SELECT COUNT(*) FROM": [(0,)],
        }
    )
    report = run_once(session, "postgres", catalog, procedures=[])
    assert not report.ok
    failed = {(check.relation, check.name) for check in report.failed_checks}
    assert failed == {
        ("analytics.dim_customer", "one current row per key"),
        ("analytics.dim_product", "one current row per key"),
        ("analytics.fact_order_items", "row count drop"),
    }
    assert report.summary().startswith("3 data-quality check(s) failed: ")
    ((insert, params),) = session.executed("INSERT INTO public.warehouse_run_counts")
    assert insert.count("), (") == len(TABLES) - 1
    assert {params[f"relation_{n}"] for n in range(len(TABLES))} == set(TABLES)  # type: ignore[index]
    assert session.executed("UPDATE public.warehouse_runs")[0][1]["failed"] == 3  # type: ignore[index]


# ------------------------------------------------------------------------------------------------------------
# Status


def test_watermark_targets_map_to_catalog_tables(catalog: Catalog) -> None:
    assert table_of_target("dim_customer", catalog) == "customer"
    assert table_of_target("analytics.sp_load_dim_product", catalog) == "product"
    assert table_of_target("fact_order_items", catalog) == "order_item"
    assert table_of_target("fact_order_items.orders", catalog) == "orders"
    assert table_of_target("fact_order_items:order_item", catalog) == "order_item"
    assert table_of_target("misc", catalog) is None
    assert table_of_target("misc", catalog, {"misc": "payment"}) == "payment"


def test_status_reads_without_creating_anything(tmp_path: Path, catalog: Catalog) -> None:
    folder = write(tmp_path, {"V001__base.sql": V1, "V002__more.sql": "SELECT 1;"})
    session = FakeSession(
        {
            **applied((1, "base", sha(V1))),
            "FROM staging.load_watermark ORDER BY": [("dim_customer", 0, 41, "t")],
            "SELECT table_name FROM information_schema.tables": [("mv_customer",), ("customer_history",)],
            "SELECT MAX(kafka_offset)": [(50,)],
            "LEFT JOIN staging.load_watermark": [(9,)],
            "SELECT COUNT(*) FROM": [(51,)],
        }
    )
    result = status(session, "postgres", catalog, sql_dir=folder)
    assert [m.version for m in result.migrations] == [1] and result.pending == ["V002__more.sql"]
    assert result.counts == {"staging.mv_customer": 51}
    assert [(lag.mv, lag.target, lag.max_offset, lag.watermark, lag.rows_behind) for lag in result.lag] == [
        ("staging.mv_customer", "dim_customer", 50, 41, 9)
    ]
    assert not [sql for sql in session.statements if sql.startswith(("CREATE", "INSERT", "UPDATE"))]
