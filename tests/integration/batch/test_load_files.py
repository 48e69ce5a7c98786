"""`cdc batch load-files` against the stack's PostgreSQL (an isolated database per test) and a local lake.

The documented results of seed 000's file-extract flow: a good file, a file with bad rows, a malformed file, an
empty file, a file 20 % smaller than the previous load (refused, then forced with --accept-drop), a re-load of the
same file, a non-UTF-8 extract declared in a test catalog; and the Redshift statements, captured by a session that
records them (no Redshift here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from cli import main as cli_main
from redshift.extracts import ExtractLoadRefusedError, load_into_redshift
from schemas.catalog import load_catalog
from tests.support.sourcedb import CATALOG_FILE, isolated_database

HEADER = "employee_id,email,first_name,last_name,department,job_title,hire_date,salary,active"
DAY = "2026-03-01"

PAYROLL = """
[extracts.payroll]
primary_key = ["payroll_id"]
delimiter = ";"
encoding = "cp1252"
date_format = "%d.%m.%Y"
warehouse_table = "hr.payroll"
columns = [
  { name = "payroll_id", type = "int64" },
  { name = "employee_name", type = "varchar(100)" },
  { name = "paid_on", type = "date" },
  { name = "amount", type = "decimal(12,2)" },
]

[extracts.payroll.quality]
ranges = { amount = { min = 0 } }
"""


def employee(number: int, **values: str) -> str:
    row = {
        "employee_id": str(number),
        "email": f"e{number}@example.com",
        "first_name": f"First{number}",
        "last_name": "Last",
        "department": "IT" if number % 2 else "HR",
        "job_title": "",
        "hire_date": "2020-01-02",
        "salary": f"{1000 + number}.50",
        "active": "true",
    }
    row.update(values)
    return ",".join(row.values())


def write_csv(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def employees(path: Path, count: int) -> Path:
    return write_csv(path, HEADER, *(employee(number) for number in range(1, count + 1)))


@pytest.fixture
def warehouse_dsn(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with isolated_database(stack_endpoints["WAREHOUSE_DSN"], "extracts") as dsn:
        yield dsn


@pytest.fixture
def cdc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``cdc batch load-files`` as users run it, through ``cli.main.main``."""
    for name in ("WAREHOUSE_DSN", "LAKE_ROOT", "REDSHIFT_DIALECT", "REDSHIFT_IAM_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"

    def run(*args: str) -> int:
        return cli_main.main(["batch", "load-files", "--home", str(home), *args])

    return run


@contextmanager
def connect(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


def rows_of(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with connect(dsn) as connection:
        return connection.execute(sql.encode()).fetchall()


def loads(dsn: str) -> list[tuple[Any, ...]]:
    return rows_of(dsn, "SELECT rows, previous_rows, status, message FROM public.extract_loads ORDER BY loaded_at")


def employee_ids(dsn: str) -> list[int]:
    return [row[0] for row in rows_of(dsn, "SELECT employee_id FROM staging.extract_employee ORDER BY 1")]


def args(source: Path, lake: Path, dsn: str, *extra: str, day: str = DAY) -> list[str]:
    return ["--source", str(source), "--table", "employee", "--load-date", day, "--lake-root", str(lake),
            "--warehouse-dsn", dsn, *extra]  # fmt: skip


def landing(lake: Path, day: str = DAY) -> Path:
    return lake / "landing" / "files" / "employee" / f"load_date={day}"


def test_a_good_file_is_landed_and_loaded(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    source = employees(tmp_path / "in" / "employees.csv", 10)

    assert cdc(*args(source, lake, warehouse_dsn)) == 0, capsys.readouterr().err

    out = capsys.readouterr().out
    assert "extract employee, load date 2026-03-01" in out
    assert "staging.extract_employee ← 10 row(s); no previous load" in out
    assert employee_ids(warehouse_dsn) == list(range(1, 11))
    assert rows_of(
        warehouse_dsn, "SELECT email, salary, active FROM staging.extract_employee WHERE employee_id = 3"
    ) == [("e3@example.com", Decimal("1003.50"), True)]
    (landed,) = landing(lake).iterdir()
    assert landed.name.startswith("employees-") and pq.read_table(landed).num_rows == 10
    assert loads(warehouse_dsn) == [(10, None, "loaded", "10 row(s); no previous load, nothing to compare with")]
    assert rows_of(warehouse_dsn, "SELECT extract, load_date, file FROM public.extract_loads") == [
        ("employee", date(2026, 3, 1), f"employees.csv ({landed.stem[-8:]})")
    ]


def test_bad_rows_go_to_quarantine_with_their_lines_and_the_good_rows_load(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    source = write_csv(
        tmp_path / "in" / "employees.csv",
        HEADER,
        employee(1),
        employee(2, hire_date="2026-02-30"),  # line 3: bad type
        employee(3, department=""),  # 4: NULL in a not-null column
        employee(4, email="four-at-example.com"),  # 5: pattern
        employee(5, salary="-10.00"),  # 6: range
        employee(6),  # 7 and 8: duplicate key
        employee(6, email="other6@example.com"),
        employee(9),
    )

    assert cdc(*args(source, lake, warehouse_dsn)) == 0, capsys.readouterr().err

    out = capsys.readouterr().out
    assert "quarantined 6 row(s) (first 5):" in out
    assert "employees.csv:3: type:hire_date (not a date in format %Y-%m-%d)" in out
    assert "employees.csv:4: not_null:department" in out
    assert employee_ids(warehouse_dsn) == [1, 9]
    (quarantine,) = (lake / "quarantine" / "files" / "employee" / f"load_date={DAY}").iterdir()
    bad = pq.read_table(quarantine).to_pylist()
    assert [(row["_line"], row["_reasons"]) for row in bad] == [
        (3, ["type:hire_date (not a date in format %Y-%m-%d)"]),
        (4, ["not_null:department"]),
        (5, ["pattern:email"]),
        (6, ["range:salary (below the minimum 0)"]),
        (7, ["primary_key (also on line 8)"]),
        (8, ["primary_key (also on line 7)"]),
    ]
    assert bad[2]["_raw"] == employee(4, email="four-at-example.com")
    assert {row["_file"] for row in bad} == {"employees.csv"}
    assert loads(warehouse_dsn)[0][:3] == (2, None, "loaded")


def test_a_malformed_file_fails_with_one_line_and_nothing_is_landed_or_loaded(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert cdc(*args(employees(tmp_path / "day1" / "employees.csv", 10), lake, warehouse_dsn)) == 0
    capsys.readouterr()
    folder = tmp_path / "day2"
    employees(folder / "a.csv", 5)  # a good part: not landed either, the load is all or nothing
    bad = write_csv(folder / "b.csv", HEADER.replace("email", "mail"), employee(6))

    assert cdc(*args(folder, lake, warehouse_dsn, day="2026-03-02")) == 1

    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1
    assert f"{bad}: line 1: the header does not match extract 'employee': missing email; unexpected 'mail'" in error
    assert "extract employee" not in captured.out  # no summary: nothing happened
    assert not landing(lake, "2026-03-02").exists()
    assert employee_ids(warehouse_dsn) == list(range(1, 11))
    assert len(loads(warehouse_dsn)) == 1

    # An undecodable byte is malformed too, naming the line and the declared encoding.
    latin = write_csv(tmp_path / "day3" / "employees.csv", HEADER, employee(1, first_name="Zoë"), encoding="latin-1")
    assert cdc(*args(latin, lake, warehouse_dsn, day="2026-03-03")) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"{latin}: line 2: byte 0xeb is not valid utf-8" in error


def test_an_empty_file_loads_zero_rows_first_and_is_refused_after_a_load_with_rows(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    empty = write_csv(tmp_path / "in" / "empty.csv", HEADER)

    assert cdc(*args(empty, lake, warehouse_dsn)) == 0  # nothing to compare with: a load of 0 rows
    (landed,) = landing(lake).iterdir()
    assert pq.read_table(landed).num_rows == 0
    assert cdc(*args(employees(tmp_path / "in" / "full.csv", 10), lake, warehouse_dsn, day="2026-03-02")) == 0
    capsys.readouterr()

    assert cdc(*args(empty, lake, warehouse_dsn, day="2026-03-03")) == 1

    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "0 row(s) is 100.0% below the previous load's 10 (limit 5.0%); nothing replaced" in error
    assert employee_ids(warehouse_dsn) == list(range(1, 11))
    assert [row[:3] for row in loads(warehouse_dsn)] == [(0, None, "loaded"), (10, 0, "loaded"), (0, 10, "failed")]

    zero_bytes = tmp_path / "in" / "zero.csv"
    zero_bytes.write_bytes(b"")
    assert cdc(*args(zero_bytes, lake, warehouse_dsn, day="2026-03-04")) == 1
    assert "the file is empty (0 bytes): extract 'employee' declares a header line" in capsys.readouterr().err
    assert len(loads(warehouse_dsn)) == 3  # malformed: not even a failed load recorded, nothing was loaded


def test_a_file_20_percent_smaller_is_refused_until_the_operator_accepts_it(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert cdc(*args(employees(tmp_path / "day1" / "employees.csv", 10), lake, warehouse_dsn)) == 0
    smaller = employees(tmp_path / "day2" / "employees.csv", 8)
    capsys.readouterr()

    assert cdc(*args(smaller, lake, warehouse_dsn, day="2026-03-02")) == 1

    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1
    assert error.endswith(
        "extract 'employee' into staging.extract_employee: refused: 8 row(s) is 20.0% below the previous load's 10 "
        "(limit 5.0%); nothing replaced (--accept-drop loads it)"
    )
    assert "extract employee, load date 2026-03-02" in captured.out  # the files were landed: the lake keeps them
    assert employee_ids(warehouse_dsn) == list(range(1, 11))  # previous data kept
    assert [row[:3] for row in loads(warehouse_dsn)] == [(10, None, "loaded"), (8, 10, "failed")]

    assert cdc(*args(smaller, lake, warehouse_dsn, "--accept-drop", day="2026-03-02")) == 0

    assert employee_ids(warehouse_dsn) == list(range(1, 9))
    assert loads(warehouse_dsn)[-1] == (
        8,
        10,
        "loaded",
        "8 row(s) is 20.0% below the previous load's 10 (limit 5.0%): accepted by --accept-drop",
    )

    # The seed's rule is a variance: 25 % more rows than the (now 8-row) previous load is refused too.
    capsys.readouterr()
    assert cdc(*args(employees(tmp_path / "day3" / "employees.csv", 10), lake, warehouse_dsn, day="2026-03-03")) == 1
    assert "10 row(s) is 25.0% above the previous load's 8 (limit 5.0%)" in capsys.readouterr().err
    assert employee_ids(warehouse_dsn) == list(range(1, 9))


def test_reloading_the_same_file_is_idempotent(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    source = employees(tmp_path / "in" / "employees.csv", 10)
    assert cdc(*args(source, lake, warehouse_dsn)) == 0
    first = {path.name: path.read_bytes() for path in landing(lake).iterdir()}
    table = rows_of(warehouse_dsn, "SELECT * FROM staging.extract_employee ORDER BY employee_id")

    assert cdc(*args(source, lake, warehouse_dsn)) == 0, capsys.readouterr().err

    assert {path.name: path.read_bytes() for path in landing(lake).iterdir()} == first
    assert rows_of(warehouse_dsn, "SELECT * FROM staging.extract_employee ORDER BY employee_id") == table
    assert [row[:3] for row in loads(warehouse_dsn)] == [(10, None, "loaded"), (10, 10, "loaded")]
    assert loads(warehouse_dsn)[-1][3] == "10 row(s), as many as the previous load"


def test_an_extract_declared_with_another_encoding_and_table(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG_FILE.read_text(encoding="utf-8") + PAYROLL, encoding="utf-8")
    source = write_csv(
        tmp_path / "in" / "payroll.csv",
        "payroll_id;employee_name;paid_on;amount",
        "1;Zoë Müller;31.01.2026;2500.00",
        "2;François;31.01.2026;-1",
        encoding="cp1252",
    )
    argv = ["--source", str(source), "--table", "payroll", "--catalog", str(catalog), "--lake-root",
            str(tmp_path / "lake"), "--warehouse-dsn", warehouse_dsn]  # fmt: skip

    assert cdc(*argv) == 0, capsys.readouterr().err

    assert "payroll.csv:3: range:amount (below the minimum 0)" in capsys.readouterr().out
    assert rows_of(warehouse_dsn, "SELECT payroll_id, employee_name, paid_on FROM hr.payroll") == [
        (1, "Zoë Müller", date(2026, 1, 31))
    ]


def test_no_warehouse_lands_only_and_a_missing_warehouse_is_an_error_before_landing(
    cdc: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    source = employees(tmp_path / "in" / "employees.csv", 3)
    base = ["--source", str(source), "--table", "employee", "--load-date", DAY, "--lake-root", str(lake)]

    assert cdc(*base) == 2  # no WAREHOUSE_DSN, no flag, no stack in --home
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "WAREHOUSE_DSN" in error
    assert not lake.exists()

    assert cdc(*base, "--no-warehouse") == 0
    assert "warehouse: skipped (--no-warehouse)" in capsys.readouterr().out
    assert len(list(landing(lake).iterdir())) == 1

    redshift = [*base, "--dialect", "redshift", "--workgroup", "wg"]
    assert cdc(*redshift) == 2
    assert "--lake-root must be an s3:// URL" in capsys.readouterr().err


class RecordingSession:
    """A warehouse session that records statements; ``previous`` is the last successful load's row count."""

    def __init__(self, previous: int | None) -> None:
        self.previous = previous
        self.statements: list[str] = []
        self.transactions: list[list[str]] = []
        self._open: list[str] | None = None

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)
        if self._open is not None:
            self._open.append(sql)

    def fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        if "FROM public.extract_loads" in sql and self.previous is not None:
            return [(self.previous,)]
        return []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._open = []
        try:
            yield
            self.transactions.append(self._open)
        finally:
            self._open = None

    def close(self) -> None:
        pass


def test_redshift_loads_copy_the_landed_parquet_inside_a_delete_transaction() -> None:
    spec = load_catalog().extract("employee")
    role = "arn:aws:iam::123456789012:role/redshift-copy"
    urls = [f"s3a://lake/retail/landing/files/employee/load_date={DAY}/employees-1234abcd.parquet"]
    session = RecordingSession(previous=100)

    load = load_into_redshift(
        session,  # type: ignore[arg-type]
        spec,
        urls=urls,
        rows=98,
        iam_role_arn=role,
        files=["employees.csv (1234abcd)"],
        load_date=date(2026, 3, 1),
    )

    assert load.ok and load.previous_rows == 100
    assert session.statements[0].startswith("CREATE TABLE IF NOT EXISTS public.extract_loads")
    assert "CREATE TABLE IF NOT EXISTS staging.extract_employee (" in session.statements[2]
    assert "salary DECIMAL(12, 2)," in session.statements[2] and "PRIMARY KEY (employee_id)" in session.statements[2]
    (transaction,) = session.transactions
    assert transaction[0] == "DELETE FROM staging.extract_employee"
    assert transaction[1] == (
        "COPY staging.extract_employee\n"
        f"FROM 's3://lake/retail/landing/files/employee/load_date={DAY}/employees-1234abcd.parquet'\n"
        f"IAM_ROLE '{role}'\n"
        "FORMAT AS PARQUET"
    )
    assert transaction[2].startswith("INSERT INTO public.extract_loads")
    assert not any("TRUNCATE" in statement for statement in session.statements)

    refused = RecordingSession(previous=100)
    with pytest.raises(ExtractLoadRefusedError, match="80 row"):
        load_into_redshift(
            refused,  # type: ignore[arg-type]
            spec,
            urls=urls,
            rows=80,
            iam_role_arn=role,
            files=["employees.csv"],
            load_date=date(2026, 3, 1),
        )
    assert refused.transactions == [] and not any(s.startswith(("DELETE", "COPY")) for s in refused.statements)
    assert refused.statements[-1].startswith("INSERT INTO public.extract_loads")  # recorded as failed


def test_a_failing_copy_replaces_nothing_and_a_table_of_another_shape_is_refused(
    cdc: Any, warehouse_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    with connect(warehouse_dsn) as connection:  # the catalog's columns, but a salary column too small for the file
        connection.execute(
            b"CREATE SCHEMA staging; CREATE TABLE staging.extract_employee (employee_id BIGINT PRIMARY KEY, "
            b"email VARCHAR(320), first_name VARCHAR(100), last_name VARCHAR(100), department VARCHAR(64), "
            b"job_title VARCHAR(100), hire_date DATE, salary DECIMAL(4, 2), active BOOLEAN); "
            b"INSERT INTO staging.extract_employee (employee_id) VALUES (42)"
        )

    assert cdc(*args(employees(tmp_path / "in" / "employees.csv", 3), lake, warehouse_dsn)) == 1

    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert (
        "extract 'employee' into staging.extract_employee: load failed, nothing replaced: numeric field overflow"
        in error
    )
    assert employee_ids(warehouse_dsn) == [42]
    assert [row[:3] for row in loads(warehouse_dsn)] == [(3, None, "failed")]

    with connect(warehouse_dsn) as connection:
        connection.execute(b"ALTER TABLE staging.extract_employee DROP COLUMN job_title")
    assert cdc(*args(employees(tmp_path / "in" / "employees.csv", 3), lake, warehouse_dsn)) == 2
    error = capsys.readouterr().err.strip()
    assert "warehouse table staging.extract_employee has columns (employee_id, email, first_name" in error
    assert error.endswith("migrate or drop the table")
