"""The versioned SQL in both renderings: Redshift's parses and uses nothing Redshift lacks; PostgreSQL's has no
Redshift-only DDL. The checker of what Redshift lacks is tested against a negative example per rule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from redshift.dialect import Dialect, parameters_of, render
from redshift.statements import split_statements

SQL_DIRECTORY = Path(__file__).resolve().parents[3] / "redshift" / "sql"
MIGRATIONS = sorted(SQL_DIRECTORY.glob("V*.sql"))
COPIES = sorted((SQL_DIRECTORY / "copy").glob("*.sql"))
REPORTS = sorted((SQL_DIRECTORY / "reports").glob("*.sql"))
FILES = [*MIGRATIONS, *COPIES, *REPORTS]
PARAMETERS = {
    "iam_role_arn": "'arn:aws:iam::123456789012:role/redshift-loader'",
    "msk_cluster_arn": "'arn:aws:kafka:eu-west-1:123456789012:cluster/retail/0b0e6d5c-1111-2222-3333-444455556666-1'",
    "manifest_url": "'s3://retail-lake/manifests/customer-backfill.json'",
    "customers": "3",
}
# Statements sqlglot's Redshift dialect has no grammar for (it falls back to a generic Command): valid Redshift.
COMMAND_STATEMENTS = ("CREATE EXTERNAL SCHEMA", "LOCK TABLE", "CALL ")
# PL/pgSQL statements inside procedure bodies: sqlglot parses SQL, not PL/pgSQL, so these are skipped; every SQL
# statement of a body (SELECT/INSERT/UPDATE/DELETE/MERGE/CREATE/DROP) is parsed on its own.
BODY_SQL = ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "WITH")


def rendered(path: Path, dialect: Dialect) -> str:
    return render(path.read_text(encoding="utf-8"), dialect, PARAMETERS, name=path.name)


def code_only(sql: str) -> str:
    """``sql`` without comments and string literals (so words inside them are not mistaken for code)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def procedure_bodies(sql: str) -> list[str]:
    return re.findall(r"\$\$(.*?)\$\$", sql, flags=re.DOTALL)


def body_statements(body: str) -> Iterator[str]:
    """The statements of a PL/pgSQL body, split on ``;`` outside strings (DECLARE/BEGIN stripped)."""
    text = re.sub(r"^\s*(DECLARE\b.*?)?\bBEGIN\b", "", body, count=1, flags=re.DOTALL | re.IGNORECASE)
    for statement in split_statements(text):
        code = code_only(statement.text).strip()
        # PL/pgSQL's SELECT ... INTO v_a, v_b FROM reads into variables; as SQL it would be SELECT INTO a table
        yield re.sub(r"\bINTO\s+v_\w+(\s*,\s*v_\w+)*\s+(?=FROM\b)", "", code, flags=re.IGNORECASE)


# --------------------------------------------------------------------------------------------------------------
# The checker of what Redshift lacks


SIMPLE_RULES = {
    r"\bON\s+CONFLICT\b": "ON CONFLICT (no upserts: stage, then UPDATE ... FROM / INSERT ... SELECT)",
    r"\bRETURNING\b": "RETURNING",
    r"\bCREATE\s+SEQUENCE\b": "CREATE SEQUENCE (no sequences: IDENTITY)",
    r"\bNEXTVAL\s*\(": "nextval() (no sequences)",
    r"\b(SMALL|BIG)?SERIAL\b": "SERIAL (no sequences: IDENTITY)",
    r"\bCREATE\s+(UNIQUE\s+)?INDEX\b": "CREATE INDEX (no indexes: DISTKEY/SORTKEY)",
    r"\bTEXT\b": "TEXT type (VARCHAR(256) on Redshift: give VARCHAR(n))",
    r"\bDO\s+NOTHING\b": "DO NOTHING",
    r"\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b": "GENERATED ... AS IDENTITY (IDENTITY(seed, step))",
    r"\bJSONB\b": "JSONB (SUPER on Redshift)",
}


def redshift_violations(sql: str) -> list[str]:
    """What ``sql`` (a rendered Redshift script) uses that Redshift does not have, one line per finding."""
    code = code_only(sql)
    found = [message for pattern, message in SIMPLE_RULES.items() if re.search(pattern, code, flags=re.IGNORECASE)]
    for merge in re.findall(r"\bMERGE\s+INTO\b.*?(?:;|$)", code, flags=re.IGNORECASE | re.DOTALL):
        found += merge_violations(merge)
    for body in procedure_bodies(code):
        found += body_violations(body)
    return found


def merge_violations(merge: str) -> list[str]:
    """Redshift's MERGE: one WHEN MATCHED, one WHEN NOT MATCHED, no conditions, a table as source, no alias."""
    checks = {
        "MERGE with more than one WHEN MATCHED": len(re.findall(r"\bWHEN\s+MATCHED\b", merge, re.I)) > 1,
        "MERGE with more than one WHEN NOT MATCHED": len(re.findall(r"\bWHEN\s+NOT\s+MATCHED\b", merge, re.I)) > 1,
        "MERGE WHEN ... AND condition": re.search(r"\bWHEN\s+(NOT\s+)?MATCHED\s+AND\b", merge, re.I) is not None,
        "MERGE source is a subquery (Redshift takes a table)": re.search(r"\bUSING\s*\(", merge, re.I) is not None,
        "MERGE target alias": re.search(r"\bMERGE\s+INTO\s+[\w.\"]+\s+(AS\s+)?(?!USING\b)\w+\s+USING\b", merge, re.I)
        is not None,
    }
    return [message for message, violated in checks.items() if violated]


def body_violations(body: str) -> list[str]:
    """Inside a procedure: exception handlers other than WHEN OTHERS, and TRUNCATE (it commits)."""
    found = []
    handlers = re.split(r"(?<!RAISE)\s\bEXCEPTION\s+(?=WHEN\b)", body, maxsplit=1, flags=re.IGNORECASE)
    if len(handlers) == 2:
        for condition in re.findall(r"\bWHEN\s+([A-Za-z_]+(?:\s+OR\s+[A-Za-z_]+)*)\s+THEN\b", handlers[1], re.I):
            if condition.upper() != "OTHERS":
                found.append(f"exception handler WHEN {condition} (only WHEN OTHERS)")
    if re.search(r"\bTRUNCATE\b", body, flags=re.IGNORECASE):
        found.append("TRUNCATE inside a procedure (it commits)")
    return found


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2;", "ON CONFLICT"),
        ("INSERT INTO t (a) VALUES (1) RETURNING a;", "RETURNING"),
        ("CREATE SEQUENCE s;", "CREATE SEQUENCE"),
        ("INSERT INTO t (a) SELECT nextval('s');", "nextval()"),
        ("CREATE TABLE t (a BIGSERIAL);", "SERIAL"),
        ("CREATE TABLE t (a SERIAL);", "SERIAL"),
        ("CREATE INDEX t_a ON t (a);", "CREATE INDEX"),
        ("CREATE UNIQUE INDEX t_a ON t (a);", "CREATE INDEX"),
        ("CREATE TABLE t (a TEXT);", "TEXT type"),
        ("SELECT CAST(a AS text) FROM t;", "TEXT type"),
        ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING;", "DO NOTHING"),
        ("CREATE TABLE t (k BIGINT GENERATED BY DEFAULT AS IDENTITY);", "GENERATED ... AS IDENTITY"),
        ("CREATE TABLE t (k BIGINT GENERATED ALWAYS AS IDENTITY);", "GENERATED ... AS IDENTITY"),
        ("CREATE TABLE t (p JSONB);", "JSONB"),
        (
            "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET a = s.a WHEN MATCHED THEN DELETE "
            "WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k);",
            "more than one WHEN MATCHED",
        ),
        (
            "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED AND s.a > 1 THEN UPDATE SET a = s.a "
            "WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k);",
            "WHEN ... AND condition",
        ),
        (
            "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET a = s.a "
            "WHEN NOT MATCHED AND s.a > 1 THEN INSERT (k) VALUES (s.k);",
            "WHEN ... AND condition",
        ),
        (
            "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET a = s.a "
            "WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k) WHEN NOT MATCHED THEN INSERT (k) VALUES (0);",
            "more than one WHEN NOT MATCHED",
        ),
        (
            "MERGE INTO t USING (SELECT * FROM s) s ON t.k = s.k WHEN MATCHED THEN UPDATE SET a = s.a;",
            "subquery",
        ),
        ("MERGE INTO analytics.t tgt USING s ON tgt.k = s.k WHEN MATCHED THEN DELETE;", "target alias"),
        ("MERGE INTO analytics.t AS tgt USING s ON tgt.k = s.k WHEN MATCHED THEN DELETE;", "target alias"),
        (
            "CREATE PROCEDURE p() AS $$ BEGIN UPDATE t SET a = 1; EXCEPTION WHEN division_by_zero THEN NULL; END; "
            "$$ LANGUAGE plpgsql;",
            "WHEN division_by_zero",
        ),
        (
            "CREATE PROCEDURE p() AS $$ BEGIN UPDATE t SET a = 1; EXCEPTION WHEN unique_violation OR others THEN "
            "NULL; END; $$ LANGUAGE plpgsql;",
            "WHEN unique_violation OR others",
        ),
        ("CREATE PROCEDURE p() AS $$ BEGIN TRUNCATE t; END; $$ LANGUAGE plpgsql;", "TRUNCATE inside a procedure"),
    ],
)
def test_the_checker_catches_what_redshift_lacks(sql: str, expected: str) -> None:
    assert any(expected in finding for finding in redshift_violations(sql)), redshift_violations(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "MERGE INTO analytics.t USING s ON t.k = s.k WHEN MATCHED THEN UPDATE SET a = s.a "
        "WHEN NOT MATCHED THEN INSERT (k, a) VALUES (s.k, s.a);",
        "CREATE PROCEDURE p() AS $$ BEGIN UPDATE t SET a = 1; EXCEPTION WHEN OTHERS THEN RAISE; END; "
        "$$ LANGUAGE plpgsql;",
        "CREATE PROCEDURE p() AS $$ BEGIN RAISE EXCEPTION 'bad: %', 1; END; $$ LANGUAGE plpgsql;",
        "SELECT JSON_EXTRACT_PATH_TEXT(x, 'a'), 'a TEXT literal' FROM t; -- TEXT in a comment",
        "CREATE TABLE t (k BIGINT IDENTITY(1, 1), a VARCHAR(65535)) DISTKEY (k) SORTKEY (k);",
        "CREATE PROCEDURE p() AS $$ BEGIN DELETE FROM t; END; $$ LANGUAGE plpgsql; TRUNCATE t;",
    ],
)
def test_the_checker_accepts_the_common_subset(sql: str) -> None:
    assert redshift_violations(sql) == []


# --------------------------------------------------------------------------------------------------------------
# The project's files


def test_the_migrations_are_numbered_without_gaps() -> None:
    versions = [int(re.match(r"V(\d+)__", path.name).group(1)) for path in MIGRATIONS]  # type: ignore[union-attr]
    assert versions == list(range(1, len(versions) + 1)), [path.name for path in MIGRATIONS]
    assert all(re.fullmatch(r"V\d{3}__[a-z0-9_]+\.sql", path.name) for path in MIGRATIONS)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_redshift_rendering_uses_nothing_redshift_lacks(path: Path) -> None:
    assert redshift_violations(rendered(path, "redshift")) == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_redshift_rendering_parses_statement_by_statement(path: Path) -> None:
    sql = rendered(path, "redshift")
    statements = split_statements(sql, name=path.name)
    assert statements or path.parent.name == "copy" or "(postgres only)" in path.read_text().splitlines()[0]
    for statement in statements:
        parsed = sqlglot.parse(statement.text, read="redshift")
        assert len(parsed) == 1, f"{path.name}:{statement.line}: one statement per ';'"
        tree = parsed[0]
        assert tree is not None
        if isinstance(tree, exp.Command):
            text = code_only(statement.text).strip().upper()
            assert text.startswith(COMMAND_STATEMENTS), f"{path.name}:{statement.line}: unparsed {statement.summary}"


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.name)
def test_redshift_procedure_and_function_bodies_parse(path: Path) -> None:
    """Each SQL statement inside a ``$$`` body parses with sqlglot's Redshift dialect (PL/pgSQL lines skipped)."""
    for body in procedure_bodies(rendered(path, "redshift")):
        for statement in body_statements(body):
            if not statement.upper().startswith(BODY_SQL):
                continue  # assignments, IF/END IF, RAISE, RETURN, GET DIAGNOSTICS, CALL, LOCK: PL/pgSQL
            try:
                parsed = sqlglot.parse(statement, read="redshift")
            except sqlglot.errors.ParseError as exc:
                pytest.fail(f"{path.name}: {statement[:120]!r}: {exc}")
            assert len(parsed) == 1 and not isinstance(parsed[0], exp.Command), statement[:120]


def test_the_procedure_bodies_are_really_checked() -> None:
    """Guard against a silent no-op: the bodies hold many SQL statements, MERGE and window functions included."""
    bodies = [body for path in MIGRATIONS for body in procedure_bodies(rendered(path, "redshift"))]
    statements = [s for body in bodies for s in body_statements(body) if s.upper().startswith(BODY_SQL)]
    assert len(bodies) >= 10 and len(statements) >= 150
    assert any(s.upper().startswith("MERGE") for s in statements)
    assert any("LAG(" in s for s in statements) and any("UPDATE analytics.dim_customer" in s for s in statements)


REDSHIFT_ONLY = {
    r"\bIDENTITY\s*\(": "IDENTITY(seed, step)",
    r"\bDISTKEY\b": "DISTKEY",
    r"\bSORTKEY\b": "SORTKEY",
    r"\bDISTSTYLE\b": "DISTSTYLE",
    r"\bENCODE\b": "ENCODE",
    r"\bSUPER\b": "SUPER",
    r"\bAUTO\s+REFRESH\b": "AUTO REFRESH",
    r"\bMATERIALIZED\s+VIEW\b": "streaming MV",
    r"\bEXTERNAL\s+SCHEMA\b": "EXTERNAL SCHEMA",
    r"\bFROM\s+MSK\b": "FROM MSK",
    r"\b(CAN_)?JSON_PARSE\s*\(": "JSON_PARSE",
    r"\bJSON_SERIALIZE\s*\(": "JSON_SERIALIZE",
    r"\bFROM_VARBYTE\s*\(": "FROM_VARBYTE",
    r"\bGETDATE\s*\(": "GETDATE",
    r"\bIAM_ROLE\b": "IAM_ROLE",
    r"\bFORMAT\s+AS\s+PARQUET\b": "COPY ... FORMAT AS PARQUET",
}


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_postgres_rendering_has_no_redshift_only_sql_and_needs_no_parameters(path: Path) -> None:
    # no parameter may be needed, but for the reports' own (how many rows to show)
    parameters = {"customers": "3"} if path in REPORTS else {}
    sql = render(path.read_text(encoding="utf-8"), "postgres", parameters, name=path.name)
    code = code_only(sql)
    found = [name for pattern, name in REDSHIFT_ONLY.items() if re.search(pattern, code, flags=re.IGNORECASE)]
    assert found == []


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.name)
def test_postgres_rendering_parses_statement_by_statement(path: Path) -> None:
    sql = render(path.read_text(encoding="utf-8"), "postgres", {}, name=path.name)
    for statement in split_statements(sql, name=path.name):
        parsed = sqlglot.parse(statement.text, read="postgres")
        assert len(parsed) == 1, f"{path.name}:{statement.line}"
        if isinstance(parsed[0], exp.Command):
            assert code_only(statement.text).strip().upper().startswith(("LOCK TABLE", "CALL ")), statement.summary


def test_parameters_are_the_documented_ones() -> None:
    used = {name for path in FILES for name in parameters_of(path.read_text(encoding="utf-8"))}
    assert used == set(PARAMETERS)
    assert parameters_of((SQL_DIRECTORY / "V001__schemas.sql").read_text()) == {"iam_role_arn", "msk_cluster_arn"}
    for path in COPIES:
        assert parameters_of(path.read_text()) == {"manifest_url", "iam_role_arn"}
    assert {name for path in REPORTS for name in parameters_of(path.read_text())} == {"customers"}


def test_external_schema_and_streaming_mv_follow_the_documented_syntax() -> None:
    v001 = rendered(SQL_DIRECTORY / "V001__schemas.sql", "redshift")
    assert re.search(
        r"CREATE EXTERNAL SCHEMA IF NOT EXISTS msk_cdc\s+FROM MSK\s+IAM_ROLE 'arn:aws:iam::[^']+'\s+"
        r"AUTHENTICATION iam\s+CLUSTER_ARN 'arn:aws:kafka:[^']+';",
        v001,
    )
    v002 = rendered(SQL_DIRECTORY / "V002__change_feeds.sql", "redshift")
    mv = re.search(r"CREATE MATERIALIZED VIEW staging\.mv_customer\s+AUTO REFRESH YES\s+AS\s+SELECT(.*?)FROM (\S+);",
                   v002, flags=re.DOTALL)  # fmt: skip
    assert mv is not None
    assert mv.group(2) == 'msk_cdc."retail.customer.cdc.json"'
    columns = [line.strip().rstrip(",").rsplit(" ", 1)[-1] for line in mv.group(1).strip().splitlines()]
    assert columns == [
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp_type",
        "kafka_timestamp",
        "kafka_key",
        "payload",
        "refresh_time",
    ]
    assert "CASE WHEN CAN_JSON_PARSE(kafka_value) THEN JSON_PARSE(kafka_value) END AS payload" in mv.group(1)


def test_postgres_stand_in_of_the_mv_is_a_table_with_the_same_columns() -> None:
    v002 = render((SQL_DIRECTORY / "V002__change_feeds.sql").read_text(), "postgres", {})
    table = re.search(r"CREATE TABLE IF NOT EXISTS staging\.mv_customer \((.*?)\n\);", v002, flags=re.DOTALL)
    assert table is not None
    lines = [line.strip().rstrip(",") for line in table.group(1).strip().splitlines()]
    assert lines == [
        "kafka_partition INT NOT NULL",
        "kafka_offset BIGINT NOT NULL",
        "kafka_timestamp_type CHAR(1)",
        "kafka_timestamp TIMESTAMP",
        "kafka_key VARCHAR(1024)",
        "payload JSONB",
        "refresh_time TIMESTAMP",
        "PRIMARY KEY (kafka_partition, kafka_offset)",
    ]


def test_procedures_lock_only_staging_tables() -> None:
    """Redshift's LOCK is ACCESS EXCLUSIVE: a lock on an analytics table would block the people querying it."""
    locked = [
        name
        for path in MIGRATIONS
        for body in procedure_bodies(rendered(path, "redshift"))
        for statement in body_statements(body)
        for name in re.findall(r"^LOCK\s+TABLE\s+([\w.]+)", statement, flags=re.IGNORECASE)
    ]
    assert locked and all(name.startswith("staging.") for name in locked), locked


# Redshift applies a migration statement by statement and records it only at the end, so after a partial failure
# the whole file runs again: every statement must be harmless the second time.
RE_RUNNABLE = re.compile(
    r"^(CREATE (OR REPLACE|(EXTERNAL )?SCHEMA IF NOT EXISTS|TABLE IF NOT EXISTS)|DROP \w+( VIEW)? IF EXISTS"
    r"|CALL staging\.load_dim_date\()",
    flags=re.IGNORECASE,
)


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda path: path.name)
def test_redshift_migrations_can_run_again_after_a_partial_failure(path: Path) -> None:
    statements = [" ".join(code_only(s.text).split()) for s in split_statements(rendered(path, "redshift"))]
    for previous, statement in zip(["", *statements], statements, strict=False):
        mv = re.match(r"CREATE MATERIALIZED VIEW (\S+)", statement, flags=re.IGNORECASE)
        if mv is not None:
            assert previous.upper() == f"DROP MATERIALIZED VIEW IF EXISTS {mv.group(1)}".upper(), statement[:80]
        else:
            assert RE_RUNNABLE.match(statement), f"{path.name}: not re-runnable: {statement[:80]}"
