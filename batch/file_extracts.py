"""File extracts (seed 000's Workday-style feed): delimited text files → typed rows + bad rows → Parquet in the lake.

A feed is declared in the catalog (``[extracts.<name>]``, :class:`schemas.catalog.FileExtract`): columns and
types, primary key, header, delimiter, quote, encoding, date/timestamp formats and quality rules.
:func:`parse_files` (pure: bytes in, values out) reads the files of one load and sorts every record into a good row
(typed, in a pyarrow Table with the declared types) or a :class:`BadRow` (1-based line number, reasons, raw text);
:func:`land` writes the good rows to ``landing/files/<name>/load_date=<date>/`` and the bad ones to
``quarantine/files/<name>/load_date=<date>/``. The warehouse load (truncate-and-load, row-count check) is
``redshift.extracts``; the CLI composes the two.

Parsing uses Python's ``csv`` module rather than ``pyarrow.csv``: the feed needs, per record, the line it starts
on and its raw text (a quoted field may span lines), a verdict per row instead of a failed column block when one
value does not convert, and the catalog's ``strptime`` formats. pyarrow's reader converts whole columns at once and
its error reporting is per block. Daily HR extracts hold tens of thousands of rows, so a Python row loop costs well
under a second per file, and files are read whole (their SHA-256 names the landed file anyway).

Documented behaviours:

* **Bad row** (the run goes on, the row is quarantined): a value that does not convert to its column type (reason
  ``type:<column>``), a value too long for the warehouse column (``length:<column>``, UTF-8 bytes, Redshift's
  measure), an empty value in a non-nullable, ``not_null`` or primary-key column (``not_null:<column>``), a quality
  rule broken (``range:``, ``allowed:``, ``pattern:`` + column; patterns must match the whole value), a record with
  the wrong number of fields (``columns``), a record the csv reader refuses (``csv``, e.g. text after a closing
  quote), and a primary key (``primary_key``) or ``unique`` column value (``unique:<column>``) that more than one
  record of the load carries: *every* such record is quarantined, each naming the others' lines, because the load
  cannot know which one is right.
* **Malformed file** (:class:`ExtractError`, one line naming the file and line; nothing of the run is landed or
  loaded): bytes that are not valid in the declared encoding, a missing or wrong header (missing, unexpected or
  repeated column names), a 0-byte file when a header is declared, a quoted field never closed, or the wrong number
  of fields on most records (more than half: a wrong delimiter or a different file).
* **Empty file**: a header line and no data (or, for a headerless feed, 0 bytes) is a valid load of 0 rows; it is
  landed as a 0-row Parquet file and the warehouse row-count check judges it (a first load of 0 rows passes; after
  a load with rows it is a 100 % drop and is refused unless the operator accepts it).
* An empty field is NULL for every type (a CSV cannot tell an empty string from a missing value); blank lines are
  skipped; a UTF-8 byte-order mark is ignored; header names match case-insensitively and in any order.
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.fs as pafs

from common.errors import CdcError, ConfigError
from common.lake import LakeLocation, write_parquet_atomically
from schemas.avro_types import MAX_DECIMAL_PRECISION, MAX_VARCHAR_LENGTH
from schemas.catalog import Column, FileExtract

LANDING_FOLDER: Final = ("landing", "files")
QUARANTINE_FOLDER: Final = ("quarantine", "files")
QUARANTINE_COLUMNS: Final = ("_file", "_line", "_reasons", "_raw")
MAX_OTHER_LINES: Final = 3  # a duplicate's reason names at most this many other lines

_INTEGER_RE: Final = re.compile(r"^[+-]?\d+$")
_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")  # no "1_000", "nan", "inf"
_INTEGER_BOUNDS: Final = {"int16": 2**15, "int32": 2**31, "int64": 2**63}
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0"})
_NUMERIC_KINDS: Final = frozenset({"int16", "int32", "int64", "float64", "decimal"})
_TEXT_KINDS: Final = frozenset({"string", "varchar", "text"})
_UNSAFE_NAME_CHARACTERS: Final = re.compile(r"[^A-Za-z0-9._-]+")
_DECIMAL_CONTEXT: Final = decimal.Context(prec=MAX_DECIMAL_PRECISION + 2)

Converter = Callable[[str], Any]


class ExtractError(CdcError):
    """A malformed extract file (not an instance of its declared format): the run stops, nothing is landed."""


@dataclass(frozen=True)
class BadRow:
    """A record that does not load: where it starts (1-based line), why (rule names + detail), its raw text."""

    line: int
    reasons: tuple[str, ...]
    raw: str


@dataclass(frozen=True)
class ParsedFile:
    """One file of a load: its good rows (declared types) and its bad rows; ``digest`` is the SHA-256 of its bytes."""

    name: str
    digest: str
    rows: pa.Table
    bad_rows: tuple[BadRow, ...]

    @property
    def records(self) -> int:
        """Data records read (good + bad; blank lines and the header not counted)."""
        return int(self.rows.num_rows) + len(self.bad_rows)

    @property
    def landed_name(self) -> str:
        """``<file stem>-<hash8>.parquet``: the same content always lands under the same name (idempotent)."""
        stem = _UNSAFE_NAME_CHARACTERS.sub("_", Path(self.name).stem).strip("._") or "extract"
        return f"{stem}-{self.digest[:8]}.parquet"


@dataclass(frozen=True)
class LandedFile:
    """Where one parsed file went: the landing file (path inside the lake filesystem, URL) and its quarantine file."""

    source: str
    rows: int
    bad_rows: int
    path: str
    url: str
    quarantine_path: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Reading the source


def read_source(source: Path) -> list[tuple[str, bytes]]:
    """The files of one load: ``source`` itself, or every non-hidden file of the folder (sorted by name) — the
    parts of a split export load together, as one truncate-and-load."""
    if source.is_file():
        return [(str(source), source.read_bytes())]
    if source.is_dir():
        paths = sorted(path for path in source.iterdir() if path.is_file() and not path.name.startswith("."))
        if not paths:
            raise ExtractError(f"{source}: no files to load in this folder")
        return [(str(path), path.read_bytes()) for path in paths]
    raise ConfigError(f"{source}: no such file or folder")


# --------------------------------------------------------------------------------------------------------------
# Types


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow (and Parquet) type a catalog column lands as; the warehouse column type matches it."""
    column_type = column.column_type
    kind = column_type.kind
    if kind == "decimal":
        assert column_type.precision is not None and column_type.scale is not None
        return pa.decimal128(column_type.precision, column_type.scale)
    simple: dict[str, pa.DataType] = {
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "boolean": pa.bool_(),
        "float64": pa.float64(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
    }
    return simple.get(kind, pa.string())  # string, varchar, text, uuid, json


def arrow_schema(spec: FileExtract) -> pa.Schema:
    """The landed file's schema: the declared columns in catalog order, nullability as declared."""
    return pa.schema([pa.field(column.name, arrow_type(column), nullable=column.nullable) for column in spec.columns])


def quarantine_schema() -> pa.Schema:
    """A quarantine file: source file name, line the record starts on, reasons, raw text of the record."""
    return pa.schema(
        [
            pa.field("_file", pa.string(), nullable=False),
            pa.field("_line", pa.int64(), nullable=False),
            pa.field("_reasons", pa.list_(pa.string()), nullable=False),
            pa.field("_raw", pa.string(), nullable=False),
        ]
    )


def _converter(spec: FileExtract, column: Column) -> Converter:
    """A function turning a non-empty field into the column's Python value; ValueError says what is wrong."""
    column_type = column.column_type
    kind = column_type.kind
    if kind in _INTEGER_BOUNDS:
        return _integer_converter(_INTEGER_BOUNDS[kind])
    if kind == "decimal":
        assert column_type.precision is not None and column_type.scale is not None
        return _decimal_converter(column_type.precision, column_type.scale)
    simple: dict[str, Converter] = {
        "float64": _to_float,
        "boolean": _to_bool,
        "date": lambda text: _to_datetime(text, spec.date_format, "date").date(),
        "timestamp": lambda text: _naive_utc(_to_datetime(text, spec.timestamp_format, "timestamp")),
        "timestamptz": lambda text: _aware_utc(_to_datetime(text, spec.timestamp_format, "timestamp")),
        "uuid": _to_uuid,
        "json": _to_json,
    }
    return simple.get(kind, _to_text)


def _integer_converter(bound: int) -> Converter:
    def convert(text: str) -> int:
        stripped = text.strip()
        if not _INTEGER_RE.match(stripped):
            raise ValueError("not an integer")
        value = int(stripped)
        if not -bound <= value < bound:
            raise ValueError(f"out of range for a {bound.bit_length()}-bit integer")
        return value

    return convert


def _decimal_converter(precision: int, scale: int) -> Converter:
    quantum = decimal.Decimal(1).scaleb(-scale)

    def convert(text: str) -> decimal.Decimal:
        stripped = text.strip()
        if not _NUMBER_RE.match(stripped):
            raise ValueError("not a decimal number")
        value = decimal.Decimal(stripped)
        try:
            quantized = value.quantize(quantum, context=_DECIMAL_CONTEXT)
        except decimal.InvalidOperation:
            raise ValueError(f"more than {precision} digits") from None
        if quantized != value:
            raise ValueError(f"more than {scale} decimal places")
        if len(quantized.as_tuple().digits) > precision:
            raise ValueError(f"more than {precision - scale} digits before the decimal point")
        return quantized

    return convert


def _to_float(text: str) -> float:
    stripped = text.strip()
    if not _NUMBER_RE.match(stripped):
        raise ValueError("not a number")
    value = float(stripped)
    if value in (float("inf"), float("-inf")):
        raise ValueError("out of range for float64")
    return value


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not a boolean: true/false, t/f, yes/no, y/n or 1/0")


def _to_datetime(text: str, format_: str, what: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), format_)  # the callers settle the zone
    except ValueError:
        raise ValueError(f"not a {what} in format {format_}") from None


def _naive_utc(value: datetime) -> datetime:
    """A ``timestamp`` column: naive; a zone in the text (``%z``) is converted to UTC first."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _aware_utc(value: datetime) -> datetime:
    """A ``timestamptz`` column: in UTC; a value without a zone is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise ValueError("not a UUID") from None


def _to_json(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        raise ValueError("not valid JSON") from None
    return text


def _to_text(text: str) -> str:
    return text


def _max_bytes(column: Column) -> int | None:
    """The warehouse column's byte limit for text kinds (VARCHAR(n) on Redshift counts UTF-8 bytes)."""
    column_type = column.column_type
    if column_type.kind == "varchar":
        return column_type.length
    if column_type.kind in ("string", "text", "json"):
        return MAX_VARCHAR_LENGTH
    return None


# --------------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class _Record:
    """One record as the csv reader gave it: starting line, raw text, fields (or the reader's complaint)."""

    line: int
    raw: str
    fields: list[str]
    error: str | None = None


def _decode(spec: FileExtract, name: str, data: bytes) -> str:
    try:
        text = data.decode(spec.encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExtractError(
            f"{name}: line {line}: byte 0x{data[exc.start]:02x} is not valid {spec.encoding} "
            f"(the catalog declares encoding {spec.encoding!r} for extract '{spec.name}')"
        ) from None
    return text.removeprefix("\ufeff")


def _records(spec: FileExtract, name: str, text: str) -> Iterator[_Record]:
    """The file's records in order, blank lines left out; an unclosed quote is a malformed file."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=spec.delimiter, quotechar=spec.quote, strict=True)
    line = 1
    while True:
        error: str | None = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise ExtractError(
                    f"{name}: line {line}: a quoted field ({spec.quote}) is never closed before the end of the file"
                ) from None
            fields, error = [], str(exc)
        raw = "".join(consumed)
        consumed.clear()
        start, line = line, reader.line_num + 1
        if error is None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            continue  # a blank line
        yield _Record(start, _strip_terminator(raw), fields, error)


def _strip_terminator(raw: str) -> str:
    if raw.endswith("\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(("\n", "\r")) else raw


def _column_positions(spec: FileExtract, name: str, header: _Record | None) -> tuple[list[int], int]:
    """Per declared column, its field index in the file, and the number of fields a record must have."""
    declared = [column.name for column in spec.columns]
    if header is None:
        return list(range(len(declared))), len(declared)
    if header.error is not None:
        raise ExtractError(f"{name}: line {header.line}: unreadable header ({header.error})")
    found = [field_name.strip().lower() for field_name in header.fields]
    repeated = sorted({field_name for field_name in found if found.count(field_name) > 1})
    missing = [column for column in declared if column not in found]
    unexpected = [field_name for field_name in found if field_name not in declared]
    if repeated or missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            shown = ", ".join(repr(field_name) for field_name in unexpected[:5])
            problems.append(f"unexpected {shown}{' …' if len(unexpected) > 5 else ''}")
        if repeated:
            problems.append(f"repeated {', '.join(repeated)}")
        hint = f" (delimiter {spec.delimiter!r})" if len(header.fields) == 1 and len(declared) > 1 else ""
        raise ExtractError(
            f"{name}: line {header.line}: the header does not match extract '{spec.name}'{hint}: {'; '.join(problems)}"
        )
    return [found.index(column) for column in declared], len(found)


def _check_field_counts(spec: FileExtract, name: str, records: Sequence[_Record], expected: int) -> None:
    """Most records with the wrong field count means the file is not what the catalog declares."""
    wrong = [record for record in records if record.error is None and len(record.fields) != expected]
    if wrong and len(wrong) * 2 > len(records):
        first = wrong[0]
        raise ExtractError(
            f"{name}: line {first.line}: {len(wrong)} of {len(records)} records do not have the {expected} fields "
            f"of extract '{spec.name}' (this one has {len(first.fields)}; delimiter {spec.delimiter!r})"
        )


# --------------------------------------------------------------------------------------------------------------
# Validation


@dataclass
class _Row:
    """A record being judged: where it is, its raw text, its typed values, the reasons collected so far."""

    file: int
    line: int
    raw: str
    values: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Rules:
    """The checks of one extract, compiled once: converters, byte limits, not-null set, patterns."""

    spec: FileExtract
    converters: dict[str, Converter]
    max_bytes: dict[str, int | None]
    not_null: frozenset[str]
    patterns: dict[str, re.Pattern[str]]

    @classmethod
    def of(cls, spec: FileExtract) -> _Rules:
        for name in spec.quality.ranges:
            column = next(column for column in spec.columns if column.name == name)
            if column.column_type.kind not in _NUMERIC_KINDS:
                raise ConfigError(
                    f"extract '{spec.name}': range rule on column '{name}' of type {column.type} "
                    "(ranges apply to numeric columns)"
                )
        declared_not_null = {column.name for column in spec.columns if not column.nullable}
        return cls(
            spec=spec,
            converters={column.name: _converter(spec, column) for column in spec.columns},
            max_bytes={column.name: _max_bytes(column) for column in spec.columns},
            not_null=frozenset(declared_not_null | set(spec.quality.not_null) | set(spec.primary_key)),
            patterns={name: re.compile(pattern) for name, pattern in spec.quality.patterns.items()},
        )

    def judge(self, row: _Row, fields: Sequence[str], positions: Sequence[int]) -> None:
        """Convert and check every column of one record, adding a reason per problem."""
        quality = self.spec.quality
        for column, position in zip(self.spec.columns, positions, strict=True):
            name = column.name
            text = fields[position]
            if text == "":
                row.values[name] = None
                if name in self.not_null:
                    row.reasons.append(f"not_null:{name}")
                continue
            limit = self.max_bytes[name]
            if limit is not None and len(text.encode("utf-8")) > limit:
                row.reasons.append(f"length:{name} (more than {limit} bytes)")
                continue
            try:
                value = self.converters[name](text)
            except ValueError as exc:
                row.reasons.append(f"type:{name} ({exc})")
                continue
            row.values[name] = value
            row.texts[name] = text if column.column_type.kind in _TEXT_KINDS else text.strip()
            self._check_rules(row, name, value, quality.ranges.get(name))

    def _check_rules(self, row: _Row, name: str, value: Any, bounds: Any) -> None:
        quality = self.spec.quality
        if bounds is not None:
            low = None if bounds.min is None else _comparable(bounds.min, value)
            high = None if bounds.max is None else _comparable(bounds.max, value)
            if low is not None and value < low:
                row.reasons.append(f"range:{name} (below the minimum {bounds.min})")
            elif high is not None and value > high:
                row.reasons.append(f"range:{name} (above the maximum {bounds.max})")
        allowed = quality.allowed.get(name)
        if allowed is not None and row.texts[name] not in allowed:
            row.reasons.append(f"allowed:{name}")
        pattern = self.patterns.get(name)
        if pattern is not None and pattern.fullmatch(row.texts[name]) is None:
            row.reasons.append(f"pattern:{name}")


def _comparable(bound: float, value: Any) -> Any:
    """A range bound in the value's own arithmetic (Decimal against Decimal: no float rounding)."""
    return decimal.Decimal(str(bound)) if isinstance(value, decimal.Decimal) else bound


def _mark_duplicates(rows: Sequence[_Row], columns: Sequence[str], reason: str, names: Sequence[str]) -> None:
    """Every row sharing a (non-NULL, converted) value of ``columns`` with another gets ``reason``."""
    seen: dict[tuple[Any, ...], list[_Row]] = {}
    for row in rows:
        key = tuple(row.values.get(column) for column in columns)
        if any(part is None for part in key):
            continue
        seen.setdefault(key, []).append(row)
    for group in seen.values():
        if len(group) < 2:
            continue
        for row in group:
            others = [_where(other, row, names) for other in group if other is not row]
            shown = ", ".join(others[:MAX_OTHER_LINES]) + (" …" if len(others) > MAX_OTHER_LINES else "")
            row.reasons.append(f"{reason} (also on {shown})")


def _where(other: _Row, row: _Row, names: Sequence[str]) -> str:
    return f"line {other.line}" if other.file == row.file else f"{Path(names[other.file]).name} line {other.line}"


def parse_files(spec: FileExtract, files: Sequence[tuple[str, bytes]]) -> list[ParsedFile]:
    """Parse and validate the files of one load (``(name, bytes)`` pairs); pure.

    Uniqueness (primary key, ``unique`` rules) holds across all files of the load, which is what the warehouse
    table will hold. Raises :class:`ExtractError` for the first malformed file; otherwise returns per file its
    good rows and bad rows.
    """
    rules = _Rules.of(spec)
    names = [name for name, _ in files]
    digests = [hashlib.sha256(data).hexdigest() for _, data in files]
    judged: list[list[_Row]] = []
    for index, (name, data) in enumerate(files):
        judged.append(_judge_file(spec, rules, index, name, data))
    every = [row for rows in judged for row in rows]  # a key that did not convert is NULL here: skipped
    _mark_duplicates(every, spec.primary_key, "primary_key", names)
    for column in spec.quality.unique:
        _mark_duplicates(every, (column,), f"unique:{column}", names)
    return [_parsed_file(spec, name, digest, rows) for name, digest, rows in zip(names, digests, judged, strict=True)]


def parse_file(spec: FileExtract, name: str, data: bytes) -> ParsedFile:
    """:func:`parse_files` for a load of one file."""
    return parse_files(spec, [(name, data)])[0]


def _judge_file(spec: FileExtract, rules: _Rules, index: int, name: str, data: bytes) -> list[_Row]:
    if spec.header and not data:
        raise ExtractError(f"{name}: the file is empty (0 bytes): extract '{spec.name}' declares a header line")
    records = list(_records(spec, name, _decode(spec, name, data)))
    header: _Record | None = None
    if spec.header:
        if not records:
            raise ExtractError(f"{name}: no header line (the file holds only blank lines)")
        header, records = records[0], records[1:]
    positions, expected = _column_positions(spec, name, header)
    _check_field_counts(spec, name, records, expected)
    rows = []
    for record in records:
        row = _Row(index, record.line, record.raw)
        if record.error is not None:
            row.reasons.append(f"csv ({record.error})")
        elif len(record.fields) != expected:
            row.reasons.append(f"columns (expected {expected} fields, got {len(record.fields)})")
        else:
            rules.judge(row, record.fields, positions)
        rows.append(row)
    return rows


def _parsed_file(spec: FileExtract, name: str, digest: str, rows: Sequence[_Row]) -> ParsedFile:
    good = [row for row in rows if not row.reasons]
    columns = {
        column.name: pa.array([row.values[column.name] for row in good], type=arrow_type(column))
        for column in spec.columns
    }
    table = pa.Table.from_pydict(columns, schema=arrow_schema(spec))
    bad = tuple(BadRow(row.line, tuple(row.reasons), row.raw) for row in rows if row.reasons)
    return ParsedFile(name=name, digest=digest, rows=table, bad_rows=bad)


def quarantine_table(parsed: ParsedFile) -> pa.Table:
    """The bad rows of a file as a quarantine Parquet table (:func:`quarantine_schema`)."""
    source = Path(parsed.name).name
    return pa.Table.from_pydict(
        {
            "_file": [source] * len(parsed.bad_rows),
            "_line": [bad.line for bad in parsed.bad_rows],
            "_reasons": [list(bad.reasons) for bad in parsed.bad_rows],
            "_raw": [bad.raw for bad in parsed.bad_rows],
        },
        schema=quarantine_schema(),
    )


# --------------------------------------------------------------------------------------------------------------
# Landing


def landing_folder(spec: FileExtract, load_date: date) -> tuple[str, ...]:
    """``landing/files/<name>/load_date=<YYYY-MM-DD>`` as path parts under the lake root."""
    return (*LANDING_FOLDER, spec.name, f"load_date={load_date.isoformat()}")


def quarantine_folder(spec: FileExtract, load_date: date) -> tuple[str, ...]:
    """``quarantine/files/<name>/load_date=<YYYY-MM-DD>`` as path parts under the lake root."""
    return (*QUARANTINE_FOLDER, spec.name, f"load_date={load_date.isoformat()}")


def land(location: LakeLocation, spec: FileExtract, files: Sequence[ParsedFile], load_date: date) -> list[LandedFile]:
    """Write each file's good rows to the landing folder of ``load_date`` (always, 0 rows included) and its bad
    rows, if any, to the quarantine folder; returns where everything went.

    Names are ``<file stem>-<hash8>.parquet``, so landing the same content again rewrites the same file. A load
    date's folders hold the files of the *last* load of that date: files an earlier run of the same date left there
    (a corrected export) are removed once the new ones are written, matching the warehouse's truncate-and-load.
    """
    filesystem, _ = location.filesystem()
    landed: list[LandedFile] = []
    for parsed in files:
        path = write_parquet_atomically(parsed.rows, location, *landing_folder(spec, load_date), parsed.landed_name)
        quarantine_path = None
        if parsed.bad_rows:
            quarantine_path = write_parquet_atomically(
                quarantine_table(parsed), location, *quarantine_folder(spec, load_date), parsed.landed_name
            )
        url = location.path(*landing_folder(spec, load_date), parsed.landed_name)
        landed.append(LandedFile(parsed.name, parsed.rows.num_rows, len(parsed.bad_rows), path, url, quarantine_path))
    keep = {parsed.landed_name for parsed in files}
    for folder in (landing_folder(spec, load_date), quarantine_folder(spec, load_date)):
        _remove_others(filesystem, location.fs_path(*folder), keep)
    return landed


def _remove_others(filesystem: pafs.FileSystem, folder: str, keep: set[str]) -> None:
    """Delete the Parquet files of ``folder`` not named in ``keep`` (hidden temporary files are left alone)."""
    for info in filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        name = info.base_name
        if info.type == pafs.FileType.File and name.endswith(".parquet") and name not in keep:
            filesystem.delete_file(info.path)
