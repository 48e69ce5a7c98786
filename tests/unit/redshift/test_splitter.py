"""The statement splitter: `;` splits only outside strings, identifiers, comments and dollar-quoted bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redshift.statements import SqlSplitError, split_statements


def texts(script: str) -> list[str]:
    return [statement.text for statement in split_statements(script)]


def test_plain_statements_and_trailing_statement_without_semicolon() -> None:
    assert texts("SELECT 1; SELECT 2;\nSELECT 3") == ["SELECT 1", "SELECT 2", "SELECT 3"]


def test_empty_and_comment_only_pieces_are_dropped() -> None:
    script = "-- header; with a semicolon\n;;\n/* block; */\nSELECT 1;\n-- trailing comment;\n"
    assert texts(script) == ["SELECT 1"]


def test_semicolons_inside_strings_and_identifiers() -> None:
    script = "INSERT INTO t VALUES ('a;b', 'it''s; here');\nSELECT \"odd;name\", \"q\"\"q;\" FROM t;"
    assert texts(script) == [
        "INSERT INTO t VALUES ('a;b', 'it''s; here')",
        'SELECT "odd;name", "q""q;" FROM t',
    ]


def test_escape_strings_take_backslash_escapes() -> None:
    assert texts(r"SELECT E'a\';b'; SELECT 2") == [r"SELECT E'a\';b'", "SELECT 2"]
    # a plain string ending in a backslash is not an escape
    assert texts(r"SELECT 'a\'; SELECT 2") == [r"SELECT 'a\'", "SELECT 2"]


def test_dollar_quoted_procedure_body_is_one_statement() -> None:
    script = """
CREATE OR REPLACE PROCEDURE staging.sp_load()
AS $$
DECLARE n INT;
BEGIN
  UPDATE t SET a = 1;  -- a comment; with semicolon
  RAISE INFO 'done; %', n;
END;
$$ LANGUAGE plpgsql;
CALL staging.sp_load();
"""
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0].text.startswith("CREATE OR REPLACE PROCEDURE")
    assert statements[0].text.endswith("$$ LANGUAGE plpgsql")
    assert statements[0].line == 2
    assert statements[1].text == "CALL staging.sp_load()"
    assert statements[1].line == 10


def test_tagged_dollar_quotes_nest_plain_ones() -> None:
    script = "DO $body$ BEGIN EXECUTE $$SELECT 1; SELECT 2$$; END $body$; SELECT 3"
    assert texts(script) == ["DO $body$ BEGIN EXECUTE $$SELECT 1; SELECT 2$$; END $body$", "SELECT 3"]


def test_positional_parameters_and_dollar_in_identifiers_are_not_quotes() -> None:
    assert texts("SELECT $1; SELECT a$b$c FROM t; SELECT 2") == ["SELECT $1", "SELECT a$b$c FROM t", "SELECT 2"]


def test_nested_block_comments() -> None:
    assert texts("/* outer /* inner; */ still; */ SELECT 1; SELECT 2") == ["SELECT 1", "SELECT 2"]


def test_leading_comments_are_not_part_of_the_statement_but_inner_ones_are() -> None:
    (statement,) = split_statements("-- why\n\nSELECT 1 -- inline\n  FROM t;")
    assert statement.text == "SELECT 1 -- inline\n  FROM t"
    assert statement.line == 3
    assert statement.summary == "SELECT 1 -- inline"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("SELECT 'open; SELECT 2;", "<sql>:1: string starting here is never closed"),
        ('SELECT "open', "<sql>:1: quoted identifier starting here is never closed"),
        ("SELECT 1;\n/* open", "<sql>:2: block comment starting here is never closed"),
        ("SELECT 1;\n\nCREATE PROCEDURE p() AS $$ BEGIN", "<sql>:3: dollar-quoted body $$ is never closed"),
    ],
)
def test_unterminated_constructs_are_one_clear_error(script: str, message: str) -> None:
    with pytest.raises(SqlSplitError) as caught:
        split_statements(script)
    assert str(caught.value) == message


def test_error_names_the_file() -> None:
    with pytest.raises(SqlSplitError, match=r"^V001__x\.sql:1: "):
        split_statements("SELECT 'x", name="V001__x.sql")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BEGIN", True),
        ("commit", True),
        ("COMMIT TRANSACTION", True),
        ("START TRANSACTION", True),
        ("END", True),
        ("ROLLBACK WORK", True),
        ("BEGIN\n  UPDATE t SET a = 1", False),
        ("SELECT 1", False),
        ("-- note\nCOMMIT", True),
    ],
)
def test_transaction_control_is_recognised(text: str, expected: bool) -> None:
    (statement,) = split_statements(text)
    assert statement.is_transaction_control is expected


_pieces = st.lists(
    st.sampled_from(
        [
            "SELECT 1",
            "SELECT 'a;b'",
            'SELECT "x;y"',
            "SELECT $$;$$",
            "SELECT $t$ $$ ; $t$",
            "SELECT 1 /* ; */",
            "UPDATE t SET a = 'it''s'",
        ]
    ),
    min_size=1,
    max_size=8,
)


@given(_pieces, st.sampled_from([";", ";\n", " ;\n\n", ";\n-- c;\n"]))
def test_joining_then_splitting_round_trips(pieces: list[str], separator: str) -> None:
    assert texts(separator.join(pieces)) == pieces
