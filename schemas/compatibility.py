"""Avro schema compatibility with Confluent Schema Registry semantics. Pure logic, no I/O.

The verdict always comes from the official Apache Avro checker
(`avro.compatibility.ReaderWriterCompatibilityChecker`). That checker's diagnostics are lossy (it keeps
messages and locations in sets, detached from the incompatibility kinds, and loses the path inside unions), so
when it reports a problem this module walks the two schemas side by side, asking the same checker about each
sub-pair, to name every incompatible field precisely (e.g. `after.loyalty_tier` inside a Debezium envelope).

Levels follow Confluent: BACKWARD = the new schema reads data written with the latest one; FORWARD = the
latest schema reads data written with the new one; FULL = both; *_TRANSITIVE = against every version, not just
the latest; NONE = anything goes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import avro.errors
import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    lookup_writer_field,
    schema_name_equals,
)
from avro.schema import (
    ArraySchema,
    EnumSchema,
    FixedSchema,
    MapSchema,
    NamedSchema,
    RecordSchema,
    Schema,
    UnionSchema,
)

from common.errors import SchemaError

NEW_READS_OLD = "new schema reading old data"
OLD_READS_NEW = "old schema reading new data"

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
_MAX_ERROR_TEXT = 300


class CompatibilityLevel(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        """The new schema must read data written with the old one(s)."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        """The old schema(s) must read data written with the new one."""
        return self.value.startswith(("FORWARD", "FULL"))


VALID_LEVELS_TEXT = (
    "Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
)


def parse_level(text: object) -> CompatibilityLevel:
    """Parse a compatibility level case-insensitively (as Confluent does); raise SchemaError otherwise."""
    if isinstance(text, CompatibilityLevel):
        return text
    if isinstance(text, str):
        try:
            return CompatibilityLevel(text.strip().upper())
        except ValueError:
            pass
    raise SchemaError(f"Invalid compatibility level {text!r}. {VALID_LEVELS_TEXT}")


@dataclass(frozen=True)
class Incompatibility:
    """One reason why a schema cannot replace another."""

    kind: str
    location: str
    field: str
    message: str
    direction: str
    against_version: int | None = None

    def describe(self) -> str:
        version = "" if self.against_version is None else f", version {self.against_version}"
        return f"{self.kind}: field '{self.field}' {self.message} ({self.direction}{version}, at {self.location})"


# --------------------------------------------------------------------------------------------------- parsing


def parse_schema(schema: str | Mapping[str, Any] | list[Any], *, validate_defaults: bool = False) -> Schema:
    """Parse Avro schema text (or already-decoded JSON) with the official Avro parser.

    `validate_defaults` additionally checks every field default against its type, as Confluent does for new
    registrations. Raises SchemaError with a short reason.
    """
    text = schema if isinstance(schema, str) else json.dumps(schema)
    parsed = _parse_cached(text)
    if validate_defaults:
        _validate_defaults(parsed, set())
    return parsed


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Schema:
    try:
        json.loads(text)
    except ValueError as err:
        raise SchemaError(f"Invalid schema: not valid JSON ({err})") from None
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, TypeError, ValueError, KeyError, AttributeError) as err:
        reason = str(err)
        if len(reason) > _MAX_ERROR_TEXT:
            reason = reason[:_MAX_ERROR_TEXT] + "…"
        raise SchemaError(f"Invalid schema: {reason}") from None


def canonical(schema: str | Mapping[str, Any] | list[Any]) -> str:
    """Normal form used to decide whether two schema texts are "the same schema".

    Whitespace, key order, `{"type": "string"}` vs `"string"` and `"name": "ns.R"` vs `"name": "R",
    "namespace": "ns"` do not matter; docs, defaults, aliases and custom properties do (as with Confluent,
    which compares Avro's own rendering of the parsed schema).
    """
    rendered = parse_schema(schema).to_json()
    return json.dumps(rendered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _validate_defaults(schema: Schema, seen: set[int]) -> None:
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if isinstance(schema, RecordSchema):
        for field in schema.fields:
            if field.has_default and not _default_fits(field.type, field.default, set()):
                raise SchemaError(
                    f"Invalid schema: default value {json.dumps(field.default)} of field '{field.name}' "
                    f"in record {schema.fullname} does not match its type {_type_label(field.type)}"
                )
            _validate_defaults(field.type, seen)
    elif isinstance(schema, ArraySchema):
        _validate_defaults(schema.items, seen)
    elif isinstance(schema, MapSchema):
        _validate_defaults(schema.values, seen)
    elif isinstance(schema, UnionSchema):
        for branch in schema.schemas:
            _validate_defaults(branch, seen)


def _default_fits(schema: Schema, value: object, seen: set[int]) -> bool:  # noqa: PLR0911, PLR0912
    kind = schema.type
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        if isinstance(value, str):
            return value in ("NaN", "Infinity", "-Infinity")
        return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(float(value))
    if kind in ("string", "bytes"):
        return isinstance(value, str)
    if isinstance(schema, FixedSchema):
        return isinstance(value, str) and len(value) == schema.size
    if isinstance(schema, EnumSchema):
        return isinstance(value, str) and value in schema.symbols
    if isinstance(schema, ArraySchema):
        return isinstance(value, list) and all(_default_fits(schema.items, item, seen) for item in value)
    if isinstance(schema, MapSchema):
        return isinstance(value, dict) and all(_default_fits(schema.values, v, seen) for v in value.values())
    if isinstance(schema, UnionSchema):
        # The spec asks for the first branch; Avro's readers accept any branch, so be as lenient as they are.
        return any(_default_fits(branch, value, seen) for branch in schema.schemas)
    if isinstance(schema, RecordSchema):
        if not isinstance(value, dict):
            return False
        if id(schema) in seen:
            return True
        inner = seen | {id(schema)}
        for field in schema.fields:
            if field.name in value:
                if not _default_fits(field.type, value[field.name], inner):
                    return False
            elif not field.has_default:
                return False
        return True
    return True


def _type_label(schema: Schema) -> str:
    if isinstance(schema, NamedSchema):
        return f"{schema.type} {schema.fullname}"
    if isinstance(schema, UnionSchema):
        return "[" + ", ".join(_type_label(branch) for branch in schema.schemas) + "]"
    return str(schema.type)


# ------------------------------------------------------------------------------------------------- checking


def check(
    new_schema: str | Mapping[str, Any],
    existing: Sequence[tuple[int, str | Mapping[str, Any]]],
    level: CompatibilityLevel | str,
) -> list[Incompatibility]:
    """Return why `new_schema` may not follow `existing` (version, schema) pairs, oldest first; [] if it may.

    Non-transitive levels compare with the latest version only; transitive levels with every version, newest
    first, stopping at the first version that fails (as Confluent does).
    """
    level = parse_level(level)
    if level is CompatibilityLevel.NONE or not existing:
        return []
    new = parse_schema(new_schema)
    candidates = list(existing) if level.transitive else [existing[-1]]
    for version, old_text in reversed(candidates):
        old = parse_schema(old_text)
        found: list[Incompatibility] = []
        if level.checks_backward:
            found.extend(reader_writer_incompatibilities(new, old, NEW_READS_OLD, version))
        if level.checks_forward:
            found.extend(reader_writer_incompatibilities(old, new, OLD_READS_NEW, version))
        if found:
            return found
    return []


def reader_writer_incompatibilities(
    reader: Schema, writer: Schema, direction: str, against_version: int | None = None
) -> list[Incompatibility]:
    """Everything that stops `reader` from decoding data written with `writer` ([] when it can)."""
    verdict = _checker().get_compatibility(reader, writer)
    if verdict.compatibility is SchemaCompatibilityType.compatible:
        return []
    findings = _explain(reader, writer, (), frozenset())
    if not findings:
        # Our walk should always find the cause; if it ever disagrees, fall back to what Avro itself reported.
        kind = verdict.incompatibilities[0].name.upper() if verdict.incompatibilities else "INCOMPATIBLE"
        detail = "; ".join(sorted(verdict.messages))
        findings = [_Finding(kind, location, detail) for location in sorted(verdict.locations)]
    return [_to_incompatibility(finding, reader, direction, against_version) for finding in _dedupe(findings)]


def _checker() -> ReaderWriterCompatibilityChecker:
    return ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]


def _compatible(reader: Schema, writer: Schema) -> bool:
    result = _checker().get_compatibility(reader, writer)
    return result.compatibility is SchemaCompatibilityType.compatible


@dataclass(frozen=True)
class _Finding:
    kind: str
    location: str
    detail: str


def _loc(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


def _explain(
    reader: Schema, writer: Schema, loc: tuple[str, ...], in_progress: frozenset[tuple[int, int]]
) -> list[_Finding]:
    """Walk reader and writer together, mirroring the Avro checker, and return the precise causes."""
    pair = (id(reader), id(writer))
    if pair in in_progress or _compatible(reader, writer):
        return []
    in_progress = in_progress | {pair}
    if reader.type == writer.type:
        return _explain_same_type(reader, writer, loc, in_progress)
    if isinstance(writer, UnionSchema):
        findings = []
        for branch in writer.schemas:
            findings.extend(_explain(reader, branch, loc, in_progress))
        return findings
    if isinstance(reader, UnionSchema):
        found = _explain_union_branch(reader, writer, loc, in_progress)
        return [_Finding("MISSING_UNION_BRANCH", _loc(loc), _type_label(writer))] if found is None else found
    return [_Finding("TYPE_MISMATCH", _loc(loc), f"{_type_label(reader)}|{_type_label(writer)}")]


def _explain_same_type(  # noqa: PLR0911
    reader: Schema, writer: Schema, loc: tuple[str, ...], in_progress: frozenset[tuple[int, int]]
) -> list[_Finding]:
    if isinstance(reader, RecordSchema) and isinstance(writer, RecordSchema):
        return _explain_records(reader, writer, loc, in_progress)
    if isinstance(reader, ArraySchema) and isinstance(writer, ArraySchema):
        return _explain(reader.items, writer.items, (*loc, "items"), in_progress)
    if isinstance(reader, MapSchema) and isinstance(writer, MapSchema):
        return _explain(reader.values, writer.values, (*loc, "values"), in_progress)
    if isinstance(reader, EnumSchema) and isinstance(writer, EnumSchema):
        return _explain_enums(reader, writer, loc)
    if isinstance(reader, FixedSchema) and isinstance(writer, FixedSchema):
        findings = _name_findings(reader, writer, loc)
        if reader.size != writer.size:
            detail = f"{reader.size}|{writer.size}"
            findings.append(_Finding("FIXED_SIZE_MISMATCH", _loc((*loc, "size")), detail))
        return findings
    if isinstance(reader, UnionSchema) and isinstance(writer, UnionSchema):
        findings = []
        for index, branch in enumerate(writer.schemas):
            if _compatible(reader, branch):
                continue
            found = _explain_union_branch(reader, branch, loc, in_progress)
            missing = _Finding("MISSING_UNION_BRANCH", _loc((*loc, str(index))), _type_label(branch))
            findings.extend([missing] if found is None else found)
        return findings
    return [_Finding("TYPE_MISMATCH", _loc(loc), f"{_type_label(reader)}|{_type_label(writer)}")]


def _explain_records(
    reader: RecordSchema, writer: RecordSchema, loc: tuple[str, ...], in_progress: frozenset[tuple[int, int]]
) -> list[_Finding]:
    findings = _name_findings(reader, writer, loc)
    for index, field in enumerate(reader.fields):
        field_loc = (*loc, "fields", str(index))
        writer_field = lookup_writer_field(writer_schema=writer, reader_field=field)
        if writer_field is not None:
            findings.extend(_explain(field.type, writer_field.type, (*field_loc, "type"), in_progress))
        elif not field.has_default:
            if isinstance(field.type, EnumSchema) and field.type.props.get("default"):
                # Mirrors the Avro checker: an enum with a default is compared with the whole writer record.
                findings.extend(_explain(field.type, writer, (*field_loc, "type"), in_progress))
            else:
                findings.append(_Finding("READER_FIELD_MISSING_DEFAULT_VALUE", _loc(field_loc), field.name))
    return findings


def _explain_enums(reader: EnumSchema, writer: EnumSchema, loc: tuple[str, ...]) -> list[_Finding]:
    findings = _name_findings(reader, writer, loc)
    missing = [symbol for symbol in writer.symbols if symbol not in set(reader.symbols)]
    default = reader.props.get("default")
    if missing and not (default and default in reader.symbols):
        findings.append(_Finding("MISSING_ENUM_SYMBOLS", _loc((*loc, "symbols")), ", ".join(missing)))
    return findings


def _name_findings(reader: NamedSchema, writer: NamedSchema, loc: tuple[str, ...]) -> list[_Finding]:
    if schema_name_equals(reader, writer):
        return []
    return [_Finding("NAME_MISMATCH", _loc((*loc, "name")), f"{reader.fullname}|{writer.fullname}")]


def _explain_union_branch(
    reader: UnionSchema, writer: Schema, loc: tuple[str, ...], in_progress: frozenset[tuple[int, int]]
) -> list[_Finding] | None:
    """If the reader union has a branch meant for `writer` (same type and name), explain why it fails.

    None when there is no such branch. An empty list means the branch is a recursive reference whose problems
    are already reported further up.
    """
    for index, branch in enumerate(reader.schemas):
        if branch.type != writer.type:
            continue
        if _named_differently(branch, writer):
            continue
        return _explain(branch, writer, (*loc, str(index)), in_progress)
    return None


def _named_differently(one: Schema, other: Schema) -> bool:
    if isinstance(one, NamedSchema) and isinstance(other, NamedSchema):
        return not schema_name_equals(one, other)
    return False


def _dedupe(findings: list[_Finding]) -> list[_Finding]:
    seen: set[_Finding] = set()
    unique = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            unique.append(finding)
    return unique


_MESSAGES = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": "has no default in the {reader} schema and is missing in the {writer} schema",
    "TYPE_MISMATCH": "has type {mine} in the {reader} schema, which cannot read {theirs} from the {writer} schema",
    "MISSING_ENUM_SYMBOLS": "lacks enum symbols [{detail}] in the {reader} schema that the {writer} schema has",
    "MISSING_UNION_BRANCH": "is a union in the {reader} schema with no branch for {detail} from the {writer} schema",
    "NAME_MISMATCH": "is named {mine} in the {reader} schema but {theirs} in the {writer} schema",
    "FIXED_SIZE_MISMATCH": "has fixed size {mine} in the {reader} schema but {theirs} in the {writer} schema",
}


def _to_incompatibility(
    finding: _Finding, reader: Schema, direction: str, against_version: int | None
) -> Incompatibility:
    reader_side, writer_side = ("new", "old") if direction == NEW_READS_OLD else ("old", "new")
    mine, theirs = [*finding.detail.split("|", 1), ""][:2]
    template = _MESSAGES.get(finding.kind, "is incompatible ({detail})")
    message = template.format(reader=reader_side, writer=writer_side, mine=mine, theirs=theirs, detail=finding.detail)
    return Incompatibility(
        kind=finding.kind,
        location=finding.location,
        field=field_path(reader, finding.location),
        message=message,
        direction=direction,
        against_version=against_version,
    )


def field_path(schema: Schema, location: str) -> str:
    """Turn a location such as `/fields/1/type/1/fields/2` into `after.loyalty_tier` by walking `schema`.

    Array items add `[]`, map values add `{}`; a problem with the top-level schema itself is `<root>`.
    """
    parts = [part for part in location.split("/") if part]
    names: list[str] = []
    node: Schema = schema
    position = 0
    while position < len(parts):
        part = parts[position]
        following = parts[position + 1] if position + 1 < len(parts) else ""
        if part == "fields" and isinstance(node, RecordSchema) and following.isdigit():
            fields = node.fields
            if int(following) >= len(fields):
                break
            field = fields[int(following)]
            names.append(field.name)
            node = field.type
            position += 2
            if position < len(parts) and parts[position] == "type":
                position += 1
            continue
        if part == "items" and isinstance(node, ArraySchema):
            names.append((names.pop() if names else "") + "[]")
            node = node.items
        elif part == "values" and isinstance(node, MapSchema):
            names.append((names.pop() if names else "") + "{}")
            node = node.values
        elif part.isdigit() and isinstance(node, UnionSchema) and int(part) < len(node.schemas):
            node = node.schemas[int(part)]
        else:
            break
        position += 1
    return ".".join(names) or "<root>"
