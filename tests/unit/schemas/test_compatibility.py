"""Compatibility decisions (Confluent semantics, official Avro checker) and how they are explained."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.errors import SchemaError
from schemas.compatibility import (
    NEW_READS_OLD,
    OLD_READS_NEW,
    CompatibilityLevel,
    canonical,
    check,
    parse_level,
    parse_schema,
)

L = CompatibilityLevel


def record(*fields: dict[str, Any], name: str = "Customer") -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "retail",
            "fields": [{"name": "id", "type": "int"}, *fields],
        }
    )


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Tier", "symbols": list(symbols), **extra}


BASE = record(field("email", "string"))
ADD_WITH_DEFAULT = record(field("email", "string"), field("tier", "string", default="none"))
ADD_WITHOUT_DEFAULT = record(field("email", "string"), field("tier", "string"))
REMOVE_FIELD = record()
INT_POINTS = record(field("email", "string"), field("points", "int"))
LONG_POINTS = record(field("email", "string"), field("points", "long"))
ENUM_AB = record(field("tier", enum("GOLD", "SILVER")))
ENUM_ABC = record(field("tier", enum("GOLD", "SILVER", "BRONZE")))


def kinds(problems: list[Any]) -> set[str]:
    return {problem.kind for problem in problems}


# -------------------------------------------------------------------------------------------------- levels


def test_parse_level_is_case_insensitive_and_rejects_unknown_values() -> None:
    assert parse_level("full_transitive") is L.FULL_TRANSITIVE
    assert parse_level(" Backward ") is L.BACKWARD
    for bad in ("SIDEWAYS", "", None, 3):
        with pytest.raises(SchemaError, match="Invalid compatibility level"):
            parse_level(bad)


@pytest.mark.parametrize(
    ("level", "old", "new", "compatible"),
    [
        # BACKWARD: the new schema reads what the old one wrote.
        (L.BACKWARD, BASE, ADD_WITH_DEFAULT, True),
        (L.BACKWARD, BASE, ADD_WITHOUT_DEFAULT, False),
        (L.BACKWARD, BASE, REMOVE_FIELD, True),
        (L.BACKWARD, INT_POINTS, LONG_POINTS, True),  # widening int -> long
        (L.BACKWARD, LONG_POINTS, INT_POINTS, False),  # narrowing long -> int
        (L.BACKWARD, ENUM_AB, ENUM_ABC, True),  # adding a symbol
        (L.BACKWARD, ENUM_ABC, ENUM_AB, False),  # removing a symbol
        # FORWARD: the old schema reads what the new one writes.
        (L.FORWARD, BASE, ADD_WITHOUT_DEFAULT, True),
        (L.FORWARD, BASE, REMOVE_FIELD, False),
        (L.FORWARD, ADD_WITH_DEFAULT, BASE, True),  # removing a field that has a default
        (L.FORWARD, INT_POINTS, LONG_POINTS, False),
        (L.FORWARD, LONG_POINTS, INT_POINTS, True),
        (L.FORWARD, ENUM_AB, ENUM_ABC, False),
        (L.FORWARD, ENUM_ABC, ENUM_AB, True),
        # FULL: both directions.
        (L.FULL, BASE, ADD_WITH_DEFAULT, True),
        (L.FULL, BASE, ADD_WITHOUT_DEFAULT, False),
        (L.FULL, BASE, REMOVE_FIELD, False),
        (L.FULL, INT_POINTS, LONG_POINTS, False),
        (L.FULL, ENUM_AB, ENUM_ABC, False),
        # NONE: anything.
        (L.NONE, LONG_POINTS, INT_POINTS, True),
        (L.NONE, BASE, json.dumps("string"), True),
    ],
)
def test_single_step_changes(level: L, old: str, new: str, compatible: bool) -> None:
    assert (check(new, [(1, old)], level) == []) is compatible
    transitive = L(f"{level}_TRANSITIVE") if level is not L.NONE else level
    assert (check(new, [(1, old)], transitive) == []) is compatible


# Three versions where only the first and the last disagree: v1 f:string (with default), v2 drops f,
# v3 brings f back as an int. Each neighbour pair is fine at BACKWARD, FORWARD and FULL; v1 vs v3 is not.
V1 = record(field("f", "string", default=""))
V2 = record()
V3 = record(field("f", "int", default=0))
HISTORY = [(1, V1), (2, V2)]


@pytest.mark.parametrize("level", [L.BACKWARD, L.FORWARD, L.FULL])
def test_transitive_levels_check_every_version(level: L) -> None:
    assert check(V2, [(1, V1)], level) == []
    assert check(V3, HISTORY, level) == []
    problems = check(V3, HISTORY, L(f"{level}_TRANSITIVE"))
    assert problems
    assert {problem.against_version for problem in problems} == {1}
    assert kinds(problems) == {"TYPE_MISMATCH"}
    assert {problem.field for problem in problems} == {"f"}


def test_non_transitive_levels_compare_with_latest_only() -> None:
    assert check(ADD_WITHOUT_DEFAULT, [(1, ADD_WITHOUT_DEFAULT), (2, BASE)], L.BACKWARD) != []
    assert check(BASE, [(1, ADD_WITHOUT_DEFAULT), (2, BASE)], L.BACKWARD) == []


def test_no_existing_versions_is_always_compatible() -> None:
    assert check(ADD_WITHOUT_DEFAULT, [], L.FULL_TRANSITIVE) == []


def test_level_may_be_given_as_text() -> None:
    assert check(ADD_WITHOUT_DEFAULT, [(1, BASE)], "backward") != []


# ---------------------------------------------------------------------------------------------- diagnostics


def test_missing_default_names_the_field_and_direction() -> None:
    [problem] = check(ADD_WITHOUT_DEFAULT, [(3, BASE)], L.BACKWARD)
    assert problem.kind == "READER_FIELD_MISSING_DEFAULT_VALUE"
    assert problem.field == "tier"
    assert problem.location == "/fields/2"
    assert problem.direction == NEW_READS_OLD
    assert problem.against_version == 3
    line = problem.describe()
    assert "'tier'" in line and "version 3" in line and "\n" not in line


def test_forward_problem_is_described_from_the_old_schema() -> None:
    [problem] = check(REMOVE_FIELD, [(1, BASE)], L.FORWARD)
    assert problem.direction == OLD_READS_NEW
    assert problem.field == "email"
    assert "'email'" in problem.describe()


def test_full_reports_both_directions() -> None:
    problems = check(INT_POINTS, [(1, LONG_POINTS)], L.FULL)
    assert [problem.direction for problem in problems] == [NEW_READS_OLD]
    problems = check(ADD_WITHOUT_DEFAULT, [(1, REMOVE_FIELD)], L.FULL)
    assert {problem.direction for problem in problems} == {NEW_READS_OLD}
    both = check(record(field("a", "int")), [(1, record(field("b", "int")))], L.FULL)
    assert {(problem.direction, problem.field) for problem in both} == {
        (NEW_READS_OLD, "a"),
        (OLD_READS_NEW, "b"),
    }


def test_enum_symbol_removal_names_the_field_and_symbol() -> None:
    [problem] = check(ENUM_AB, [(1, ENUM_ABC)], L.BACKWARD)
    assert problem.kind == "MISSING_ENUM_SYMBOLS"
    assert problem.field == "tier"
    assert "BRONZE" in problem.describe()


def test_enum_default_makes_symbol_removal_backward_compatible() -> None:
    with_default = record(field("tier", enum("GOLD", "SILVER", default="SILVER")))
    assert check(with_default, [(1, ENUM_ABC)], L.BACKWARD) == []


def test_narrowing_names_the_field() -> None:
    [problem] = check(INT_POINTS, [(1, LONG_POINTS)], L.BACKWARD)
    assert problem.kind == "TYPE_MISMATCH"
    assert problem.field == "points"
    assert "'points'" in problem.describe()
    assert "int" in problem.message and "long" in problem.message


def debezium_envelope(*value_fields: dict[str, Any]) -> str:
    value = {
        "type": "record",
        "name": "Value",
        "namespace": "retail.public.customers",
        "fields": [{"name": "id", "type": "int"}, *value_fields],
    }
    return json.dumps(
        {
            "type": "record",
            "name": "Envelope",
            "namespace": "retail.public.customers",
            "fields": [
                {"name": "before", "type": ["null", value], "default": None},
                {"name": "after", "type": ["null", "Value"], "default": None},
                {"name": "op", "type": "string"},
            ],
        }
    )


def test_field_inside_a_debezium_envelope_union_is_named_by_its_path() -> None:
    old = debezium_envelope()
    new = debezium_envelope(field("loyalty_tier", "string"))
    problems = check(new, [(1, old)], L.BACKWARD)
    assert {problem.field for problem in problems} == {"before.loyalty_tier", "after.loyalty_tier"}
    assert kinds(problems) == {"READER_FIELD_MISSING_DEFAULT_VALUE"}
    after = next(problem for problem in problems if problem.field == "after.loyalty_tier")
    assert after.location == "/fields/1/type/1/fields/1"
    assert "after.loyalty_tier" in after.describe()
    # The same change with a default is fine.
    assert check(debezium_envelope(field("loyalty_tier", "string", default="")), [(1, old)], L.BACKWARD) == []


def test_union_branch_removed_and_array_items() -> None:
    old = record(field("note", ["null", "string"], default=None), field("tags", {"type": "array", "items": "long"}))
    new = record(field("note", "string"), field("tags", {"type": "array", "items": "int"}))
    problems = check(new, [(1, old)], L.BACKWARD)
    fields = {problem.field: problem for problem in problems}
    assert set(fields) == {"note", "tags[]"}
    assert fields["tags[]"].location == "/fields/2/type/items"
    assert fields["note"].kind == "TYPE_MISMATCH"
    wider = record(
        field("note", ["null", "string", "int"], default=None),
        field("tags", {"type": "array", "items": "long"}),
    )
    missing_branch = check(old, [(1, wider)], L.BACKWARD)
    assert [(problem.kind, problem.field) for problem in missing_branch] == [("MISSING_UNION_BRANCH", "note")]


def test_renamed_record_and_fixed_size() -> None:
    [renamed] = check(record(name="Client"), [(1, record(name="Customer"))], L.BACKWARD)
    assert renamed.kind == "NAME_MISMATCH"
    assert renamed.field == "<root>"
    fixed8 = record(field("hash", {"type": "fixed", "name": "Hash", "size": 8}))
    fixed16 = record(field("hash", {"type": "fixed", "name": "Hash", "size": 16}))
    [size] = check(fixed8, [(1, fixed16)], L.BACKWARD)
    assert (size.kind, size.field) == ("FIXED_SIZE_MISMATCH", "hash")


def test_recursive_schemas_terminate() -> None:
    def node(value_type: str) -> str:
        return json.dumps(
            {
                "type": "record",
                "name": "Node",
                "fields": [
                    {"name": "value", "type": value_type},
                    {"name": "next", "type": ["null", "Node"], "default": None},
                ],
            }
        )

    assert check(node("long"), [(1, node("int"))], L.FULL_TRANSITIVE) != []
    assert check(node("long"), [(1, node("int"))], L.BACKWARD) == []
    [problem] = check(node("int"), [(1, node("long"))], L.BACKWARD)
    assert problem.field == "value"


# ------------------------------------------------------------------------------------ parsing, canonical form


def test_canonical_ignores_whitespace_key_order_and_namespace_spelling() -> None:
    compact = '{"type":"record","name":"R","namespace":"x","fields":[{"name":"a","type":"string"}]}'
    pretty = """{
        "fields": [ {"type": {"type": "string"}, "name": "a"} ],
        "name": "x.R",
        "type": "record"
    }"""
    assert canonical(compact) == canonical(pretty) == canonical(json.loads(pretty))
    assert canonical('{"type":"string"}') == canonical('"string"')


def test_canonical_keeps_meaningful_differences() -> None:
    plain = record(field("a", "string"))
    assert canonical(plain) != canonical(record(field("a", "string", default="")))
    assert canonical(plain) != canonical(record(field("a", "string", doc="the a")))
    assert canonical(plain) != canonical(record(field("a", "string", aliases=["b"])))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"type": "nonsense"}',
        '{"type": "record", "name": "R"}',
        '{"type": "record", "name": "1bad", "fields": []}',
        '{"type": "enum", "name": "E", "symbols": ["A", "A"]}',
    ],
)
def test_invalid_schemas_raise_schema_error(text: str) -> None:
    with pytest.raises(SchemaError, match="Invalid schema"):
        parse_schema(text)
    with pytest.raises(SchemaError):
        check(text, [(1, BASE)], L.BACKWARD)


@pytest.mark.parametrize(
    ("type_", "default", "valid"),
    [
        ("int", 3, True),
        ("int", "x", False),
        ("int", 2**40, False),
        ("long", 2**40, True),
        ("boolean", 1, False),
        (["null", "string"], None, True),
        (["null", "string"], "x", True),
        (["null", "string"], 5, False),
        ({"type": "array", "items": "int"}, [1, 2], True),
        ({"type": "array", "items": "int"}, ["a"], False),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "B", False),
        ({"type": "fixed", "name": "F", "size": 2}, "ab", True),
        ("bytes", "\u00ff", True),
        ("double", 1, True),
    ],
)
def test_defaults_are_validated_for_new_schemas(type_: Any, default: Any, valid: bool) -> None:
    text = record(field("x", type_, default=default))
    parse_schema(text)  # never checked unless asked
    if valid:
        parse_schema(text, validate_defaults=True)
    else:
        with pytest.raises(SchemaError, match="default value"):
            parse_schema(text, validate_defaults=True)
