"""The table catalog: typed, validated loading of ``catalog.toml`` (every captured table declared once).

``load_catalog()`` returns a :class:`Catalog` whose tables carry everything later stages need: the Kafka
topic, key columns, column types with their PostgreSQL and Avro encodings, SCD settings and partitioning.
Any problem is one :class:`~common.errors.ConfigError` line naming the file, table and column.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from common.errors import ConfigError
from schemas import avro_types
from schemas.avro_types import AvroType, ColumnType

DEFAULT_PATH: Final = Path(__file__).with_name("catalog.toml")

_IDENTIFIER_RE: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A topic is also the Avro namespace of the table's records, so each dot-separated part must be an Avro name.
_TOPIC_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_TOPIC_PLACEHOLDERS: Final = frozenset({"prefix", "database", "schema", "table"})
_MAX_TOPIC_LENGTH: Final = 249  # Kafka's limit
# Keys the loader fills in from the catalog level; writing them in a table block is an error.
_INJECTED_KEYS: Final = ("name", "connector", "database")

Connector = Literal["postgresql", "sqlserver"]
ScdAttribute = Literal["type1", "type2"]


def _check_identifier(value: str) -> str:
    """Accept a lowercase SQL identifier PostgreSQL and Redshift take unquoted (≤ 63 chars)."""
    if not _IDENTIFIER_RE.match(value):
        raise ValueError(
            f"'{value}' is not a valid identifier (lowercase letter or _, then lowercase letters, digits "
            "or _, at most 63 characters)"
        )
    return value


def _check_topic(value: str) -> str:
    """Accept a Kafka topic that is also a valid Avro namespace (dot-separated Avro names)."""
    if len(value) > _MAX_TOPIC_LENGTH or not _TOPIC_RE.match(value):
        raise ValueError(
            f"topic '{value}' must be dot-separated names of letters, digits and _ (each not starting with a "
            f"digit), at most {_MAX_TOPIC_LENGTH} characters: it is also the Avro namespace of the schemas"
        )
    return value


def _non_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse an empty list (checked after the items, so a bad item is not also reported as 'too short')."""
    if not value:
        raise ValueError("must not be empty")
    return value


Identifier = Annotated[StrictStr, AfterValidator(_check_identifier)]
Topic = Annotated[StrictStr, AfterValidator(_check_topic)]


class _Model(BaseModel):
    """Base of the catalog models: immutable, and unknown keys are errors so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Model):
    """One source column: name, catalog type, nullability and (dimension tables) its SCD attribute type."""

    name: Identifier
    type: StrictStr
    nullable: StrictBool = False
    scd: ScdAttribute | None = None

    @field_validator("type")
    @classmethod
    def _canonical_type(cls, value: str) -> str:
        """Reject unknown or malformed type names and store the canonical spelling."""
        return str(avro_types.parse_type(value))

    @property
    def column_type(self) -> ColumnType:
        """The parsed type (kind, varchar length, decimal precision and scale)."""
        return avro_types.parse_type(self.type)

    @property
    def postgres_type(self) -> str:
        """The column's PostgreSQL DDL type, e.g. ``numeric(12,2)``."""
        return avro_types.postgres_type(self.column_type)

    @property
    def avro_type(self) -> AvroType:
        """The Avro type of a non-null value, as Debezium + the Confluent AvroConverter register it."""
        return avro_types.avro_type(self.column_type)

    def avro_field(self) -> dict[str, Any]:
        """The column as a field of ``<topic>.Key``/``<topic>.Value`` (nullable: union with null default)."""
        return avro_types.field(self.name, self.avro_type, nullable=self.nullable)

    def postgres_ddl(self) -> str:
        """The column's line in a PostgreSQL ``CREATE TABLE``."""
        return f"{self.name} {self.postgres_type}{'' if self.nullable else ' NOT NULL'}"


class Dimension(_Model):
    """The warehouse dimension built from a table: its name and default SCD type for non-key columns."""

    name: Identifier
    scd_type: Literal[1, 2]

    @field_validator("scd_type", mode="before")
    @classmethod
    def _strict_int(cls, value: object) -> object:
        """Refuse booleans and strings for scd_type (TOML gives real integers)."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"scd_type must be the integer 1 or 2, got {value!r}")  # noqa: TRY004 (pydantic wants ValueError)
        return value


class RangeRule(_Model):
    """Inclusive bounds of a numeric column (either may be left out)."""

    min: StrictInt | StrictFloat | None = None
    max: StrictInt | StrictFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")
        return self


class QualityRules(_Model):
    """Data-quality rules for a table's rows in the batch staging job (``[tables.<name>.quality]``).

    A row breaking any rule goes to ``quarantine/<table>/`` with the names of the rules it broke
    (``not_null:<column>``, ``unique:<column>``, ``range:<column>``, ``allowed:<column>``, ``pattern:<column>``,
    ``references:<column>``) instead of staging. Deletes are not checked; ``unique``, ``ranges``, ``allowed``,
    ``patterns`` and ``references`` pass a NULL (``not_null`` is the rule for that).
    """

    not_null: tuple[Identifier, ...] = ()
    unique: tuple[Identifier, ...] = ()
    ranges: dict[Identifier, RangeRule] = Field(default_factory=dict)
    allowed: dict[Identifier, tuple[StrictStr, ...]] = Field(default_factory=dict)
    patterns: dict[Identifier, StrictStr] = Field(default_factory=dict)
    references: dict[Identifier, Identifier] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for column, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern of '{column}' is not a regular expression: {exc}") from None
        return value

    def columns(self) -> set[str]:
        """Every column a rule names."""
        named = {*self.not_null, *self.unique, *self.ranges, *self.allowed, *self.patterns, *self.references}
        return set(named)

    def rule_names(self) -> list[str]:
        """The rule names rows are quarantined with, in a stable order."""
        names = [f"not_null:{column}" for column in self.not_null]
        names += [f"unique:{column}" for column in self.unique]
        names += [f"range:{column}" for column in self.ranges]
        names += [f"allowed:{column}" for column in self.allowed]
        names += [f"pattern:{column}" for column in self.patterns]
        names += [f"references:{column}" for column in self.references]
        return names


class Table(_Model):
    """One captured table with its resolved topic and source coordinates (filled in from the catalog)."""

    name: Identifier
    topic: Topic
    database: StrictStr
    source_schema: Identifier
    connector: Connector
    role: Literal["dimension", "fact", "reference"]
    primary_key: Annotated[tuple[Identifier, ...], AfterValidator(_non_empty)]
    partition_by: Literal["source_ts"] = "source_ts"
    columns: Annotated[tuple[Column, ...], AfterValidator(_non_empty)]
    dimension: Dimension | None = None
    quality: QualityRules = Field(default_factory=QualityRules)

    @model_validator(mode="after")
    def _consistent(self) -> Table:
        """Check columns, key and SCD settings against each other, naming the offending column."""
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate column(s) {', '.join(map(repr, duplicates))}")
        _check_primary_key(self)
        _check_dimension(self)
        unknown = sorted(self.quality.columns() - set(names))
        if unknown:
            raise ValueError(f"quality rules name unknown column(s) {', '.join(map(repr, unknown))}")
        return self

    @property
    def key_columns(self) -> tuple[Column, ...]:
        """The primary-key columns in key order (the fields of ``<topic>.Key``)."""
        by_name = {column.name: column for column in self.columns}
        return tuple(by_name[name] for name in self.primary_key)

    @property
    def non_key_columns(self) -> tuple[Column, ...]:
        """The columns that are not part of the primary key, in source order."""
        return tuple(column for column in self.columns if column.name not in self.primary_key)

    @property
    def qualified_name(self) -> str:
        """``schema.table`` at the source, as a replication publication or ``table.include.list`` names it."""
        return f"{self.source_schema}.{self.name}"

    def column(self, name: str) -> Column:
        """The column called ``name``; ConfigError listing the known columns otherwise."""
        for column in self.columns:
            if column.name == name:
                return column
        known = ", ".join(column.name for column in self.columns)
        raise ConfigError(f"table '{self.name}' has no column '{name}' (known: {known})")

    def scd_type_of(self, column: str) -> Literal[1, 2] | None:
        """The SCD type of a dimension attribute: the column's own ``scd`` wins over the dimension default."""
        if self.dimension is None or column in self.primary_key:
            return None
        scd = self.column(column).scd
        if scd is None:
            return self.dimension.scd_type
        return 1 if scd == "type1" else 2

    def scd_columns(self, scd_type: Literal[1, 2]) -> tuple[Column, ...]:
        """The non-key columns handled as SCD type ``scd_type`` (empty for non-dimension tables)."""
        return tuple(column for column in self.non_key_columns if self.scd_type_of(column.name) == scd_type)

    def postgres_ddl(self) -> str:
        """A ``CREATE TABLE`` for the local PostgreSQL source (columns in catalog order, primary key)."""
        lines = [column.postgres_ddl() for column in self.columns]
        lines.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        body = ",\n  ".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {self.qualified_name} (\n  {body}\n)"


def _check_primary_key(table: Table) -> None:
    """Primary-key columns must be distinct, declared and non-nullable."""
    if len(set(table.primary_key)) != len(table.primary_key):
        raise ValueError(f"primary_key {list(table.primary_key)} repeats a column")
    declared = {column.name: column for column in table.columns}
    for name in table.primary_key:
        if name not in declared:
            raise ValueError(f"primary key column '{name}' is not among the columns")
        if declared[name].nullable:
            raise ValueError(f"column '{name}': primary key columns must not be nullable")


def _check_dimension(table: Table) -> None:
    """A dimension block goes with role "dimension"; per-column ``scd`` only on non-key dimension columns."""
    if table.role == "dimension" and table.dimension is None:
        raise ValueError('role "dimension" needs a [tables.<name>.dimension] block (name, scd_type)')
    if table.role != "dimension" and table.dimension is not None:
        raise ValueError(f'a dimension block needs role = "dimension", not "{table.role}"')
    for column in table.columns:
        if column.scd is not None and table.dimension is None:
            raise ValueError(f"column '{column.name}': scd is only allowed on dimension tables")
        if column.scd is not None and column.name in table.primary_key:
            raise ValueError(f"column '{column.name}': scd is not allowed on a primary key column")


class FileExtract(_Model):
    """A file-extract feed (seed 000's Workday-style flow, ``[extracts.<name>]``): delimited text files landed as
    Parquet under ``landing/files/<name>/<load date>/`` and truncate-and-loaded into the warehouse."""

    name: Identifier
    primary_key: Annotated[tuple[Identifier, ...], AfterValidator(_non_empty)]
    columns: Annotated[tuple[Column, ...], AfterValidator(_non_empty)]
    header: StrictBool = True
    delimiter: StrictStr = Field(default=",", min_length=1, max_length=1)
    quote: StrictStr = Field(default='"', min_length=1, max_length=1)
    encoding: StrictStr = "utf-8"
    date_format: StrictStr = "%Y-%m-%d"
    timestamp_format: StrictStr = "%Y-%m-%d %H:%M:%S"
    max_row_count_drop: float = Field(default=0.05, ge=0, le=1)
    warehouse_table: StrictStr | None = None
    quality: QualityRules = Field(default_factory=QualityRules)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs  # noqa: PLC0415

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FileExtract:
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate column(s) {', '.join(map(repr, duplicates))}")
        missing = [name for name in self.primary_key if name not in names]
        if missing:
            raise ValueError(f"primary key column(s) {missing} are not among the columns")
        unknown = sorted(self.quality.columns() - set(names))
        if unknown:
            raise ValueError(f"quality rules name unknown column(s) {', '.join(map(repr, unknown))}")
        if self.quality.references:
            raise ValueError("references rules are not supported on file extracts")
        return self

    @property
    def target_table(self) -> str:
        """The warehouse table a load replaces: ``warehouse_table`` or ``staging.extract_<name>``."""
        return self.warehouse_table or f"staging.extract_{self.name}"


class Catalog(_Model):
    """Every captured table in declaration order, plus the catalog-level settings they were resolved with."""

    topic_prefix: Identifier
    topic_pattern: StrictStr = "{prefix}.{table}.cdc"
    database: StrictStr = Field(min_length=1)
    source_schema: Identifier
    connector: Connector = "postgresql"
    connector_name: StrictStr = Field(min_length=1)
    tables: Annotated[tuple[Table, ...], AfterValidator(_non_empty)]
    extracts: tuple[FileExtract, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_extracts(cls, data: Any) -> Any:
        """Turn ``[extracts.<name>]`` blocks into FileExtract inputs named after their block."""
        if not isinstance(data, Mapping) or not isinstance(data.get("extracts"), Mapping):
            return data
        extracts = [
            {"name": name, **spec} if isinstance(spec, Mapping) else spec for name, spec in data["extracts"].items()
        ]
        return {**data, "extracts": extracts}

    @model_validator(mode="before")
    @classmethod
    def _resolve_tables(cls, data: Any) -> Any:
        """Turn ``[tables.<name>]`` blocks into Table inputs with name, topic and source coordinates set."""
        if not isinstance(data, Mapping) or not isinstance(data.get("tables"), Mapping):
            return data
        tables = []
        for name, spec in data["tables"].items():
            if not isinstance(spec, Mapping):
                tables.append(spec)
                continue
            tables.append(_resolve_table(data, name, spec))
        return {**data, "tables": tables}

    @model_validator(mode="after")
    def _unique_topics(self) -> Catalog:
        """Two tables on one topic would mix their events and schemas."""
        seen: dict[str, str] = {}
        for table in self.tables:
            if table.topic in seen:
                raise ValueError(f"tables '{seen[table.topic]}' and '{table.name}' share topic '{table.topic}'")
            seen[table.topic] = table.name
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalog:
        """A ``references`` rule names a catalog table with a one-column primary key."""
        for table in self.tables:
            for column, target in table.quality.references.items():
                if target not in self.table_names:
                    raise ValueError(f"table '{table.name}': references.{column} names unknown table '{target}'")
                if len(self.table(target).primary_key) != 1:
                    raise ValueError(
                        f"table '{table.name}': references.{column}: '{target}' has a composite primary key"
                    )
        return self

    def referenced_first(self) -> list[Table]:
        """The tables ordered so each comes after the tables its ``references`` rules name (declaration order
        otherwise); a cycle is an error."""
        ordered: list[Table] = []
        visiting: set[str] = set()

        def visit(table: Table) -> None:
            if table in ordered:
                return
            if table.name in visiting:
                raise ConfigError(f"references rules form a cycle through table '{table.name}'")
            visiting.add(table.name)
            for target in table.quality.references.values():
                if target != table.name:  # a self-reference (a manager id) needs no order
                    visit(self.table(target))
            visiting.discard(table.name)
            ordered.append(table)

        for table in self.tables:
            visit(table)
        return ordered

    @property
    def table_names(self) -> tuple[str, ...]:
        """The table names in declaration order."""
        return tuple(table.name for table in self.tables)

    def table(self, name: str) -> Table:
        """The table called ``name``; ConfigError listing the known tables otherwise."""
        for table in self.tables:
            if table.name == name:
                return table
        raise ConfigError(f"unknown table '{name}' (known: {', '.join(self.table_names)})")

    def extract(self, name: str) -> FileExtract:
        """The file extract called ``name``; ConfigError listing the known extracts otherwise."""
        for extract in self.extracts:
            if extract.name == name:
                return extract
        known = ", ".join(extract.name for extract in self.extracts) or "none"
        raise ConfigError(f"unknown file extract '{name}' (known: {known})")

    def by_topic(self, topic: str) -> Table:
        """The table whose changes go to ``topic``; ConfigError listing the known topics otherwise."""
        for table in self.tables:
            if table.topic == topic:
                return table
        raise ConfigError(f"no table on topic '{topic}' (known: {', '.join(t.topic for t in self.tables)})")


def _resolve_table(data: Mapping[str, Any], name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A table block plus its name, connector, database, source schema and topic from the catalog level."""
    for key in _INJECTED_KEYS:
        if key in spec:
            raise ValueError(f"table '{name}': remove '{key}' (it comes from the catalog level / the block name)")
    source_schema = spec.get("source_schema", data.get("source_schema"))
    resolved = {
        "name": name,
        "connector": data.get("connector", "postgresql"),
        "database": data.get("database"),
        **spec,
        "source_schema": source_schema,
    }
    if "topic" not in spec:
        resolved["topic"] = topic_for(
            str(data.get("topic_pattern", "{prefix}.{table}.cdc")),
            prefix=data.get("topic_prefix"),
            database=data.get("database"),
            schema=source_schema,
            table=name,
        )
    return resolved


def topic_for(pattern: str, **values: Any) -> str:
    """Fill a topic pattern's ``{prefix}``/``{database}``/``{schema}``/``{table}`` placeholders."""
    fields = {part[1] for part in string.Formatter().parse(pattern) if part[1] is not None}
    unknown = sorted(fields - _TOPIC_PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"topic_pattern '{pattern}' has unknown placeholder(s) {unknown} "
            f"(known: {', '.join(sorted(_TOPIC_PLACEHOLDERS))})"
        )
    return pattern.format(**{key: str(value) for key, value in values.items()})


def _where(raw: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    """Describe a pydantic error location in catalog terms: "table 'x', column 'y', key 'type'"."""
    parts: list[str] = []
    table_names = list(raw.get("tables", {})) if isinstance(raw.get("tables"), Mapping) else []
    table: Any = None
    index = 0
    while index < len(loc):
        item = loc[index]
        if item == "tables" and index + 1 < len(loc) and isinstance(loc[index + 1], int):
            position = int(loc[index + 1])
            name = table_names[position] if position < len(table_names) else position
            table = raw["tables"].get(name) if isinstance(name, str) else None
            parts.append(f"table '{name}'")
            index += 2
        elif item == "columns" and index + 1 < len(loc) and isinstance(loc[index + 1], int):
            position = int(loc[index + 1])
            columns = table.get("columns") if isinstance(table, Mapping) else None
            spec = columns[position] if isinstance(columns, list) and position < len(columns) else None
            name = spec.get("name") if isinstance(spec, Mapping) else None
            parts.append(f"column '{name}'" if isinstance(name, str) else f"column #{position + 1}")
            index += 2
        else:
            parts.append(f"item {item + 1}" if isinstance(item, int) else f"key '{item}'")
            index += 1
    return ", ".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    """One pydantic error as a short sentence (our own ValueError texts are kept as they are)."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind == "missing":
        return "missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def format_validation_error(path: Path, raw: Mapping[str, Any], exc: ValidationError) -> str:
    """All validation errors of a catalog file on one line, each naming where it is."""
    problems = []
    for error in exc.errors(include_url=False):
        where = _where(raw, error["loc"])
        problems.append(f"{where}: {_message(error)}" if where else _message(error))
    return f"{path}: invalid catalog: {'; '.join(problems)}"


def parse_catalog(raw: Mapping[str, Any], path: Path) -> Catalog:
    """Validate already-parsed TOML data; ``path`` is only used to name the file in ConfigError."""
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, raw, exc)) from None


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the table catalog (default: the packaged ``schemas/catalog.toml``)."""
    path = DEFAULT_PATH if path is None else Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_catalog(raw, path)
