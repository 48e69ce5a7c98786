"""File extracts: parsing and validation per the catalog (pure), and landing in a local lake."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch.file_extracts import (
    ExtractError,
    arrow_schema,
    land,
    parse_file,
    parse_files,
    quarantine_schema,
    read_source,
)
from common.errors import ConfigError
from common.lake import LakeLocation
from schemas.catalog import FileExtract, load_catalog

EMPLOYEE = load_catalog().extract("employee")
HEADER = "employee_id,email,first_name,last_name,department,job_title,hire_date,salary,active"
ANN = "1,ann@example.com,Ann,Lee,HR,Head of HR,2020-01-02,5200.50,true"
BOB = "2,bob@example.com,Bob,Ray,IT,,2021-02-03,,false"


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def extract(**overrides: Any) -> FileExtract:
    spec: dict[str, Any] = {
        "name": "payroll",
        "primary_key": ["id"],
        "columns": [
            {"name": "id", "type": "int32"},
            {"name": "name", "type": "varchar(10)", "nullable": True},
            {"name": "paid_on", "type": "date", "nullable": True},
            {"name": "paid_at", "type": "timestamptz", "nullable": True},
        ],
    }
    return FileExtract.model_validate({**spec, **overrides})


def reasons(parsed: Any) -> dict[int, tuple[str, ...]]:
    return {bad.line: bad.reasons for bad in parsed.bad_rows}


def test_a_good_file_becomes_typed_rows() -> None:
    parsed = parse_file(EMPLOYEE, "employees.csv", csv_bytes(HEADER, ANN, BOB))

    assert parsed.bad_rows == ()
    assert parsed.rows.schema == arrow_schema(EMPLOYEE)
    assert parsed.rows.schema.field("salary").type == pa.decimal128(12, 2)
    assert parsed.rows.to_pylist() == [
        {
            "employee_id": 1,
            "email": "ann@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "department": "HR",
            "job_title": "Head of HR",
            "hire_date": date(2020, 1, 2),
            "salary": Decimal("5200.50"),
            "active": True,
        },
        {
            "employee_id": 2,
            "email": "bob@example.com",
            "first_name": "Bob",
            "last_name": "Ray",
            "department": "IT",
            "job_title": None,  # an empty field is NULL
            "hire_date": date(2021, 2, 3),
            "salary": None,
            "active": False,
        },
    ]
    assert parsed.records == 2
    assert parsed.landed_name == f"employees-{parsed.digest[:8]}.parquet"


def test_header_columns_match_in_any_order_and_case() -> None:
    columns = HEADER.split(",")
    header = ",".join(name.upper() for name in reversed(columns))
    row = ",".join(reversed(ANN.split(",")))
    parsed = parse_file(EMPLOYEE, "e.csv", csv_bytes(header, row))
    assert parsed.rows.column("email").to_pylist() == ["ann@example.com"]
    assert parsed.rows.column("salary").to_pylist() == [Decimal("5200.50")]


def test_each_kind_of_bad_row_is_quarantined_with_its_line_and_reasons() -> None:
    data = csv_bytes(
        HEADER,
        ANN,  # line 2: good
        "3,cy@example.com,Cy,Doe,IT,,2021-13-45,100,true",  # 3: bad date
        "4,di@example.com,Di,Ng,IT,,2021-01-01,abc,maybe",  # 4: bad decimal and boolean
        "5,,Ed,Ho,,,2021-01-01,100,true",  # 5: NULL in not-null columns (declared and quality rule)
        "6,not-an-email,Flo,Ma,IT,,2021-01-01,100,true",  # 6: pattern
        "7,gus@example.com,Gus,Ox,IT,,2021-01-01,-1.00,true",  # 7: range
        "8,hal@example.com,Hal,Pi,IT,,2021-01-01,100,true",  # 8: duplicate key with line 9
        "8,hal2@example.com,Hal,Pi,IT,,2021-01-01,200,true",  # 9
        "10,ann@example.com,Ann,Two,IT,,2021-01-01,1,true",  # 10: unique email with line 2
        "11,ivy@example.com,Ivy",  # 11: wrong field count
        "12,jo@example.com,Jo,Qu,IT,,2021-01-01,1.005,true",  # 12: too many decimal places
        BOB,  # 13: good
    )
    parsed = parse_file(EMPLOYEE, "employees.csv", data)

    assert parsed.rows.column("employee_id").to_pylist() == [2]
    assert reasons(parsed) == {
        2: ("unique:email (also on line 10)",),
        3: ("type:hire_date (not a date in format %Y-%m-%d)",),
        4: ("type:salary (not a decimal number)", "type:active (not a boolean: true/false, t/f, yes/no, y/n or 1/0)"),
        5: ("not_null:email", "not_null:department"),
        6: ("pattern:email",),
        7: ("range:salary (below the minimum 0)",),
        8: ("primary_key (also on line 9)",),
        9: ("primary_key (also on line 8)",),
        10: ("unique:email (also on line 2)",),
        11: ("columns (expected 9 fields, got 3)",),
        12: ("type:salary (more than 2 decimal places)",),
    }
    raw = {bad.line: bad.raw for bad in parsed.bad_rows}
    assert raw[11] == "11,ivy@example.com,Ivy"
    assert parsed.records == 12


def test_line_numbers_count_physical_lines_of_multiline_fields_and_blank_lines() -> None:
    data = csv_bytes(
        HEADER,
        '1,ann@example.com,"Ann',
        'Marie",Lee,HR,,2020-01-02,1,true',
        "",
        "2,bad,Bob,Ray,IT,,2021-02-03,,false",
    )
    parsed = parse_file(EMPLOYEE, "e.csv", data)
    assert parsed.rows.column("first_name").to_pylist() == ["Ann\nMarie"]
    assert [(bad.line, bad.raw) for bad in parsed.bad_rows] == [(5, "2,bad,Bob,Ray,IT,,2021-02-03,,false")]


def test_a_record_the_csv_reader_refuses_is_one_bad_row() -> None:
    data = csv_bytes(HEADER, '1,"ann@example.com"x,Ann,Lee,HR,,2020-01-02,1,true', BOB)
    parsed = parse_file(EMPLOYEE, "e.csv", data)
    assert parsed.rows.num_rows == 1
    assert parsed.bad_rows[0].line == 2 and parsed.bad_rows[0].reasons[0].startswith("csv (")


def test_duplicates_are_found_across_the_files_of_one_load() -> None:
    first, second = parse_files(
        EMPLOYEE,
        [("in/a.csv", csv_bytes(HEADER, ANN)), ("in/b.csv", csv_bytes(HEADER, BOB, ANN.replace("ann@", "x@")))],
    )
    assert reasons(first) == {2: ("primary_key (also on b.csv line 3)",)}
    assert reasons(second) == {3: ("primary_key (also on a.csv line 2)",)}
    assert second.rows.column("employee_id").to_pylist() == [2]


def test_values_too_long_for_the_warehouse_column_are_bad_rows() -> None:
    spec = extract()
    parsed = parse_file(
        spec, "p.csv", csv_bytes("id,name,paid_on,paid_at", "1,0123456789,,", "2,ééééé,,", "3,éééééé,,")
    )
    assert reasons(parsed) == {4: ("length:name (more than 10 bytes)",)}  # 12 UTF-8 bytes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "e.csv: the file is empty (0 bytes): extract 'employee' declares a header line"),
        (b"\n\n", "e.csv: no header line (the file holds only blank lines)"),
        (
            csv_bytes(ANN, BOB),
            "e.csv: line 1: the header does not match extract 'employee': missing employee_id, email",
        ),
        (
            csv_bytes(HEADER.replace(",active", ""), ANN),
            "e.csv: line 1: the header does not match extract 'employee': missing active",
        ),
        (
            csv_bytes(HEADER + ",extra", ANN + ",x"),
            "e.csv: line 1: the header does not match extract 'employee': unexpected 'extra'",
        ),
        (
            csv_bytes(HEADER + ",email", ANN + ",x"),
            "e.csv: line 1: the header does not match extract 'employee': repeated email",
        ),
        (
            csv_bytes(HEADER.replace(",", ";"), ANN.replace(",", ";")),
            "e.csv: line 1: the header does not match extract 'employee' (delimiter ',')",
        ),
        (csv_bytes(HEADER, ANN) + b"\xfc\n", "e.csv: line 3: byte 0xfc is not valid utf-8"),
        (
            csv_bytes(HEADER, "1;a", "2;b", ANN),
            "e.csv: line 2: 2 of 3 records do not have the 9 fields of extract 'employee' (this one has 1",
        ),
        (
            csv_bytes(HEADER, ANN, '2,"bob@example.com,Bob,Ray,IT,,2021-02-03,,false', BOB),
            'e.csv: line 3: a quoted field (") is never closed before the end of the file',
        ),
    ],
    ids=[
        "0-bytes",
        "blank-lines",
        "no-header",
        "missing-column",
        "unexpected-column",
        "repeated-column",
        "wrong-delimiter",
        "not-utf8",
        "most-rows-wrong-width",
        "unclosed-quote",
    ],
)
def test_a_malformed_file_is_one_line_naming_file_and_line(data: bytes, message: str) -> None:
    with pytest.raises(ExtractError) as caught:
        parse_file(EMPLOYEE, "e.csv", data)
    text = str(caught.value)
    assert message in text, text
    assert "\n" not in text


def test_an_undecodable_byte_names_its_line_and_the_declared_encoding() -> None:
    data = csv_bytes(HEADER, ANN) + "3,zoë@example.com,Zoë,Ng,IT,,2021-01-01,1,true\n".encode("latin-1")
    with pytest.raises(ExtractError, match=r"^e\.csv: line 3: byte 0xeb is not valid utf-8 .*encoding 'utf-8'"):
        parse_file(EMPLOYEE, "e.csv", data)


def test_a_header_only_file_is_a_load_of_zero_rows() -> None:
    parsed = parse_file(EMPLOYEE, "e.csv", csv_bytes(HEADER))
    assert parsed.rows.num_rows == 0 and parsed.bad_rows == ()
    assert parsed.rows.schema == arrow_schema(EMPLOYEE)


def test_a_headerless_feed_is_positional_and_may_be_empty() -> None:
    spec = extract(header=False)
    parsed = parse_file(spec, "p.csv", csv_bytes("1,Ann,,", "2,Bob,,"))
    assert parsed.rows.column("name").to_pylist() == ["Ann", "Bob"]
    assert parse_file(spec, "p.csv", b"").rows.num_rows == 0


def test_declared_encoding_delimiter_quote_and_formats_are_honoured() -> None:
    spec = extract(
        delimiter=";", quote="'", encoding="cp1252", date_format="%d.%m.%Y", timestamp_format="%d.%m.%Y %H:%M%z"
    )
    data = csv_bytes(
        "\ufeffid;name;paid_on;paid_at".removeprefix("\ufeff"),
        "1;'Zoë; Ann';31.01.2026;31.01.2026 09:30+0100",
        "2;Bob;2026-01-31;31.01.2026 09:30",
        encoding="cp1252",
    )
    parsed = parse_file(spec, "p.csv", data)
    assert parsed.rows.to_pylist() == [
        {
            "id": 1,
            "name": "Zoë; Ann",
            "paid_on": date(2026, 1, 31),
            "paid_at": datetime(2026, 1, 31, 8, 30, tzinfo=UTC),  # converted to UTC
        }
    ]
    assert reasons(parsed) == {
        3: ("type:paid_on (not a date in format %d.%m.%Y)", "type:paid_at (not a timestamp in format %d.%m.%Y %H:%M%z)")
    }


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    parsed = parse_file(EMPLOYEE, "e.csv", b"\xef\xbb\xbf" + csv_bytes(HEADER, ANN))
    assert parsed.rows.num_rows == 1


def test_every_catalog_type_converts() -> None:
    spec = FileExtract.model_validate(
        {
            "name": "types",
            "primary_key": ["a"],
            "columns": [
                {"name": "a", "type": "int16"},
                {"name": "b", "type": "int64"},
                {"name": "c", "type": "float64"},
                {"name": "d", "type": "timestamp"},
                {"name": "e", "type": "uuid"},
                {"name": "f", "type": "json"},
                {"name": "g", "type": "text"},
                {"name": "h", "type": "boolean"},
            ],
            "quality": {"allowed": {"g": ["x", "y"]}, "ranges": {"c": {"max": 10}}},
        }
    )
    uuid_text = "0b8e7a4e-7cd1-4bd4-8d6c-93d1f2f3a5c1"
    good = f'1,9007199254740993,2.5,2026-01-31 09:30:00,{uuid_text.upper()},"{{""k"": 1}}",x,Y'
    bad = '40000,1.0,nan,2026-01-31,not-a-uuid,"{oops",z,maybe'
    parsed = parse_file(spec, "t.csv", csv_bytes("a,b,c,d,e,f,g,h", good, bad, "2,2,11,,,,,"))
    assert parsed.rows.to_pylist() == [
        {
            "a": 1,
            "b": 9007199254740993,
            "c": 2.5,
            "d": datetime(2026, 1, 31, 9, 30),  # a timestamp column is naive
            "e": uuid_text,
            "f": '{"k": 1}',
            "g": "x",
            "h": True,
        }
    ]
    assert reasons(parsed) == {
        3: (
            "type:a (out of range for a 16-bit integer)",
            "type:b (not an integer)",
            "type:c (not a number)",
            "type:d (not a timestamp in format %Y-%m-%d %H:%M:%S)",
            "type:e (not a UUID)",
            "type:f (not valid JSON)",
            "allowed:g",
            "type:h (not a boolean: true/false, t/f, yes/no, y/n or 1/0)",
        ),
        4: ("range:c (above the maximum 10)", "not_null:d", "not_null:e", "not_null:f", "not_null:g", "not_null:h"),
    }


def test_a_range_rule_on_a_non_numeric_column_is_a_config_error() -> None:
    spec = extract(quality={"ranges": {"name": {"min": 1}}})
    with pytest.raises(ConfigError, match="ranges apply to numeric columns"):
        parse_file(spec, "p.csv", csv_bytes("id,name,paid_on,paid_at"))


def test_read_source_takes_a_file_or_the_visible_files_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_bytes(b"b")
    (tmp_path / "a.csv").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"h")
    assert read_source(tmp_path) == [(str(tmp_path / "a.csv"), b"a"), (str(tmp_path / "b.csv"), b"b")]
    assert read_source(tmp_path / "a.csv") == [(str(tmp_path / "a.csv"), b"a")]
    with pytest.raises(ConfigError, match="no such file or folder"):
        read_source(tmp_path / "missing.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExtractError, match="no files to load"):
        read_source(empty)


def test_land_writes_good_rows_and_quarantine_idempotently(tmp_path: Path) -> None:
    lake = LakeLocation(str(tmp_path / "lake"))
    day = date(2026, 3, 1)
    data = csv_bytes(HEADER, ANN, "3,not-an-email,Cy,Doe,IT,,2021-01-01,1,true")
    parsed = parse_files(EMPLOYEE, [("drop/employees 2026.csv", data)])

    (landed,) = land(lake, EMPLOYEE, parsed, day)

    name = f"employees_2026-{parsed[0].digest[:8]}.parquet"
    folder = tmp_path / "lake" / "landing" / "files" / "employee" / "load_date=2026-03-01"
    assert landed.path == str(folder / name) and landed.url == landed.path
    assert (landed.rows, landed.bad_rows) == (1, 1)
    assert pq.read_table(landed.path).equals(parsed[0].rows)
    quarantine = pq.read_table(landed.quarantine_path)
    assert quarantine.schema == quarantine_schema()
    assert quarantine.to_pylist() == [
        {
            "_file": "employees 2026.csv",
            "_line": 3,
            "_reasons": ["pattern:email"],
            "_raw": "3,not-an-email,Cy,Doe,IT,,2021-01-01,1,true",
        }
    ]
    assert landed.quarantine_path == str(
        tmp_path / "lake" / "quarantine" / "files" / "employee" / "load_date=2026-03-01" / name
    )

    land(lake, EMPLOYEE, parsed, day)  # the same file again: the same names, nothing added
    assert sorted(path.name for path in folder.iterdir()) == [name]

    corrected = parse_files(EMPLOYEE, [("drop/employees 2026.csv", csv_bytes(HEADER, ANN, BOB))])
    (again,) = land(lake, EMPLOYEE, corrected, day)  # a corrected export replaces the date's files
    assert sorted(path.name for path in folder.iterdir()) == [Path(again.path).name]
    assert again.quarantine_path is None
    assert not any((tmp_path / "lake" / "quarantine" / "files" / "employee" / "load_date=2026-03-01").iterdir())


def test_land_writes_an_empty_load_as_a_zero_row_file(tmp_path: Path) -> None:
    lake = LakeLocation(str(tmp_path))
    (landed,) = land(lake, EMPLOYEE, [parse_file(EMPLOYEE, "e.csv", csv_bytes(HEADER))], date(2026, 3, 2))
    table = pq.read_table(landed.path)
    assert table.num_rows == 0 and table.schema.names == [column.name for column in EMPLOYEE.columns]


def test_a_primary_key_value_is_never_null_even_when_the_column_is_declared_nullable() -> None:
    spec = extract(columns=[{"name": "id", "type": "int32", "nullable": True}, {"name": "name", "type": "text"}])
    parsed = parse_file(spec, "p.csv", csv_bytes("id,name", ",Ann", "1,Bob"))
    assert reasons(parsed) == {2: ("not_null:id",)}
