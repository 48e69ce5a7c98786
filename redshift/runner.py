"""The warehouse runner: versioned migrations, the load cycle (refresh → procedures → checks) and status.

Everything here talks to the warehouse through a :class:`~redshift.connections.SqlSession` from a connection
factory, so a unit test captures the statements and the integration test runs them on PostgreSQL. The SQL it
sends itself is in the subset Redshift and PostgreSQL share (ARCHITECTURE §5); the versioned files are rendered
per dialect by :mod:`redshift.dialect`.

Bookkeeping, created by the runner itself (``CREATE TABLE IF NOT EXISTS``), independent of the versioned files:

* ``public.schema_migrations`` — one row per applied file: version, name, SHA-256 of the file text, time.
* ``public.warehouse_runs`` — one row per ``run_once``: start, end, status, failed checks, message.
* ``public.warehouse_run_counts`` — row counts of the dimensions and facts per run (the variance check's memory).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from common.errors import CdcError, ConfigError
from common.logging import get_logger
from common.metrics import NULL_SINK, MetricsSink
from redshift.connections import SessionFactory, SqlSession, WarehouseStatementError
from redshift.dialect import Dialect, quote_identifier, render
from redshift.statements import Statement, split_statements
from schemas.catalog import Catalog

log = get_logger(__name__)

DEFAULT_SQL_DIR: Final = Path(__file__).resolve().parent / "sql"
STAGING: Final = "staging"
ANALYTICS: Final = "analytics"
PROCEDURE_SCHEMAS: Final = (STAGING, ANALYTICS)
# Discovered procedures are called in the order of the first pattern each name matches (names compared without
# schema). A procedure matching RUN_ALL_PATTERNS orchestrates the others: when present it is the only one called.
DEFAULT_PROCEDURE_ORDER: Final = ("*history*", "*dim_date*", "*dim_*", "*fact_*", "*")
RUN_ALL_PATTERNS: Final = ("run_all", "sp_run_all")
DEFAULT_MAX_DROP: Final = 0.05

_FILE_NAME: Final = re.compile(r"^V(?P<version>\d+)__(?P<name>[A-Za-z0-9_]+)\.sql$")
_QUALIFIED: Final = re.compile(r"^(?P<schema>[A-Za-z_][A-Za-z0-9_$]*)\.(?P<name>[A-Za-z_][A-Za-z0-9_$]*)$")

BOOKKEEPING_DDL: Final = (
    """CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version INT NOT NULL,
    name VARCHAR(256) NOT NULL,
    checksum CHAR(64) NOT NULL,
    dialect VARCHAR(16) NOT NULL,
    applied_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (version)
)""",
    """CREATE TABLE IF NOT EXISTS public.warehouse_runs (
    run_id VARCHAR(36) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR(16) NOT NULL,
    failed_checks INT,
    message VARCHAR(4096),
    PRIMARY KEY (run_id)
)""",
    """CREATE TABLE IF NOT EXISTS public.warehouse_run_counts (
    run_id VARCHAR(36) NOT NULL,
    relation VARCHAR(256) NOT NULL,
    row_count BIGINT NOT NULL,
    recorded_at TIMESTAMP NOT NULL
)""",
)


class MigrationError(CdcError):
    """The migration folder or the recorded history is inconsistent, or a migration statement failed."""


class ChecksumMismatchError(MigrationError):
    """An applied migration file was edited afterwards."""


class WarehouseRunError(CdcError):
    """A load cycle failed: a step raised, or data-quality checks found violations."""


# --------------------------------------------------------------------------------------------------------------
# Migrations


@dataclass(frozen=True)
class MigrationFile:
    """One versioned file ``V<NNN>__<name>.sql``; the checksum is the SHA-256 of its text (dialect-independent)."""

    version: int
    name: str
    path: Path
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name

    def statements(self, dialect: Dialect, parameters: Mapping[str, str]) -> list[Statement]:
        """The rendered statements; refuses transaction control (the runner owns transactions)."""
        rendered = render(self.text, dialect, parameters, name=self.filename)
        statements = split_statements(rendered, name=self.filename)
        for statement in statements:
            if statement.is_transaction_control:
                raise MigrationError(
                    f"{self.filename}:{statement.line}: '{statement.summary}' — the runner wraps migrations in "
                    "transactions itself; remove transaction control from the file"
                )
        return statements


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: Any


@dataclass
class MigrationReport:
    """What ``migrate`` found and did (``applied`` stays empty on a dry run)."""

    already_applied: list[AppliedMigration]
    pending: list[MigrationFile]
    applied: list[MigrationFile] = field(default_factory=list)
    statements: dict[int, int] = field(default_factory=dict)  # version -> statement count of pending files
    dry_run: bool = False


def discover_migrations(folder: Path) -> list[MigrationFile]:
    """The ``V<NNN>__<name>.sql`` files of ``folder`` in version order; versions must run 1, 2, 3 … without gaps."""
    if not folder.is_dir():
        raise ConfigError(f"migration folder {folder} does not exist")
    files: dict[int, MigrationFile] = {}
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files must be named V<NNN>__<what>.sql (letters, digits, _)")
        version = int(match["version"])
        if version in files:
            raise MigrationError(f"duplicate migration version {version}: {files[version].filename} and {path.name}")
        files[version] = MigrationFile(version, match["name"], path, path.read_text(encoding="utf-8"))
    ordered = [files[version] for version in sorted(files)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration versions must be consecutive from 1: V{expected:03d} is missing before {migration.filename}"
            )
    return ordered


BOOKKEEPING_TABLES: Final = ("public.schema_migrations", "public.warehouse_runs", "public.warehouse_run_counts")


def reset_warehouse(session: SqlSession) -> None:
    """Drop everything the migrations and the runner created (schemas ``staging`` and ``analytics``, the
    bookkeeping tables), so the next ``migrate`` starts from nothing. For the local stand-in, whose feeds are gone
    when the in-memory broker restarts (``cdc demo``); never called against Redshift by the CLI."""
    for schema in PROCEDURE_SCHEMAS:
        session.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    for table in BOOKKEEPING_TABLES:
        session.execute(f"DROP TABLE IF EXISTS {table}")


def ensure_bookkeeping(session: SqlSession) -> None:
    """The runner's own tables (idempotent; PostgreSQL and Redshift both know ``CREATE TABLE IF NOT EXISTS``)."""
    for ddl in BOOKKEEPING_DDL:
        session.execute(ddl)


def applied_migrations(session: SqlSession) -> list[AppliedMigration]:
    """The recorded migrations in version order (none when the bookkeeping table does not exist yet)."""
    if not relation_exists(session, "public", "schema_migrations"):
        return []
    rows = session.fetchall("SELECT version, name, checksum, applied_at FROM public.schema_migrations ORDER BY version")
    return [AppliedMigration(int(row[0]), str(row[1]), str(row[2]).strip(), row[3]) for row in rows]


def plan_migrations(files: Sequence[MigrationFile], applied: Sequence[AppliedMigration]) -> list[MigrationFile]:
    """The files still to apply; refuses edited, vanished or out-of-order history. Pure."""
    by_version = {migration.version: migration for migration in files}
    for record in applied:
        migration = by_version.get(record.version)
        if migration is None:
            raise MigrationError(
                f"V{record.version:03d}__{record.name} is recorded as applied but no V{record.version:03d}__*.sql "
                "file exists"
            )
        if migration.checksum != record.checksum:
            raise ChecksumMismatchError(
                f"{migration.filename} was changed after it was applied (recorded checksum {record.checksum}, "
                f"file now {migration.checksum}): restore it and put the change in a new V<NNN> file"
            )
    done = {record.version for record in applied}
    pending = [migration for migration in files if migration.version not in done]
    if pending and done and pending[0].version < max(done):
        raise MigrationError(
            f"{pending[0].filename} is older than the applied V{max(done):03d}: versions must be applied in order"
        )
    return pending


def migrate(
    session: SqlSession,
    dialect: Dialect,
    parameters: Mapping[str, str] | None = None,
    *,
    sql_dir: Path = DEFAULT_SQL_DIR,
    dry_run: bool = False,
) -> MigrationReport:
    """Apply the pending ``V*.sql`` files in version order, each once, recording it with its checksum.

    PostgreSQL: each file in its own transaction, so a failing file leaves nothing behind. Redshift: statement by
    statement (the Data API has no multi-call transaction, and some DDL refuses to run inside one), the file
    recorded after its last statement — a failing file is retried from its start, so files must be re-runnable.
    Every pending file is rendered and split before the first statement runs: a missing parameter or an
    unterminated string fails the whole run up front.
    """
    values = dict(parameters or {})
    files = discover_migrations(sql_dir)
    already = applied_migrations(session)
    pending = plan_migrations(files, already)
    planned = {migration.version: migration.statements(dialect, values) for migration in pending}
    report = MigrationReport(
        already_applied=already,
        pending=pending,
        statements={version: len(statements) for version, statements in planned.items()},
        dry_run=dry_run,
    )
    if dry_run or not pending:
        return report
    ensure_bookkeeping(session)
    for migration in pending:
        started = time.monotonic()
        if dialect == "postgres":
            with session.transaction():
                session.execute("LOCK TABLE public.schema_migrations IN EXCLUSIVE MODE")
                if _recorded(session, migration.version):  # another runner got there first
                    continue
                _apply(session, migration, planned[migration.version])
                _record(session, migration, dialect, started)
        else:
            _apply(session, migration, planned[migration.version])
            _record(session, migration, dialect, started)
        log.info("warehouse.migrated", version=migration.version, file=migration.filename)
        report.applied.append(migration)
    return report


def _apply(session: SqlSession, migration: MigrationFile, statements: Sequence[Statement]) -> None:
    for number, statement in enumerate(statements, start=1):
        try:
            session.execute(statement.text)
        except WarehouseStatementError as exc:
            raise MigrationError(
                f"{migration.filename}: statement {number} (line {statement.line}: {statement.summary}) failed: {exc}"
            ) from exc


def _recorded(session: SqlSession, version: int) -> bool:
    rows = session.fetchall("SELECT 1 FROM public.schema_migrations WHERE version = %(version)s", {"version": version})
    return bool(rows)


def _record(session: SqlSession, migration: MigrationFile, dialect: Dialect, started: float) -> None:
    session.execute(
        "INSERT INTO public.schema_migrations (version, name, checksum, dialect, applied_at, duration_ms) "
        "VALUES (%(version)s, %(name)s, %(checksum)s, %(dialect)s, %(applied_at)s, %(duration_ms)s)",
        {
            "version": migration.version,
            "name": migration.name,
            "checksum": migration.checksum,
            "dialect": dialect,
            "applied_at": utc_now(),
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
    )


# --------------------------------------------------------------------------------------------------------------
# Discovery helpers (both dialects)


def utc_now() -> datetime:
    """Now in UTC as a naive datetime: what a ``TIMESTAMP`` (without time zone) column holds in this warehouse."""
    return datetime.now(UTC).replace(tzinfo=None)


def relation_exists(session: SqlSession, schema: str, name: str) -> bool:
    rows = session.fetchall(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %(schema)s AND table_name = %(name)s",
        {"schema": schema, "name": name},
    )
    return bool(rows)


def table_columns(session: SqlSession, schema: str) -> dict[str, list[str]]:
    """``{"schema.table": [columns in order]}`` of the base tables of ``schema``."""
    rows = session.fetchall(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = %(schema)s AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position",
        {"schema": schema},
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(f"{schema}.{table}", []).append(str(column))
    return columns


def materialized_views(session: SqlSession, dialect: Dialect) -> list[str]:
    """The MV-named relations ``staging.mv_<table>``: streaming MVs on Redshift, the refresher's tables locally."""
    if dialect == "redshift":
        sql = "SELECT TRIM(name) FROM svv_mv_info WHERE TRIM(schema_name) = %(schema)s"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = %(schema)s"
    names = sorted(str(row[0]).strip() for row in session.fetchall(sql, {"schema": STAGING}))
    return [f"{STAGING}.{name}" for name in names if name.startswith("mv_")]


def qualified(name: str) -> str:
    """``schema.name`` validated and quoted part by part (names come from configuration or the catalog)."""
    match = _QUALIFIED.match(name)
    if match is None:
        raise ConfigError(f"'{name}' is not a schema-qualified name (schema.name)")
    return f"{quote_identifier(match['schema'])}.{quote_identifier(match['name'])}"


def count_rows(session: SqlSession, relation: str) -> int:
    rows = session.fetchall(f"SELECT COUNT(*) FROM {qualified(relation)}")  # noqa: S608 - validated and quoted
    return int(rows[0][0])


# --------------------------------------------------------------------------------------------------------------
# Procedures


def discover_procedures(session: SqlSession, dialect: Dialect) -> list[str]:
    """``schema.name`` of the argument-less stored procedures in ``staging`` and ``analytics``."""
    catalog = "pg_catalog.pg_proc_info" if dialect == "redshift" else "pg_catalog.pg_proc"
    defaults = "" if dialect == "redshift" else " OR p.pronargs = p.pronargdefaults"
    rows = session.fetchall(
        f"SELECT n.nspname, p.proname FROM {catalog} p "  # noqa: S608 - fixed catalog names
        "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE p.prokind = 'p' AND (p.pronargs = 0{defaults}) AND n.nspname IN (%(staging)s, %(analytics)s) "
        "ORDER BY n.nspname, p.proname",
        {"staging": STAGING, "analytics": ANALYTICS},
    )
    return [f"{row[0]}.{row[1]}" for row in rows]


def order_procedures(names: Sequence[str], order: Sequence[str] = DEFAULT_PROCEDURE_ORDER) -> list[str]:
    """The call order of discovered procedures (pure): a ``run_all`` alone if there is one, else by the first
    pattern of ``order`` each name matches, then by name."""
    orchestrators = [name for name in names if name.rpartition(".")[2] in RUN_ALL_PATTERNS]
    if orchestrators:
        return orchestrators[:1]

    def rank(name: str) -> tuple[int, str]:
        short = name.rpartition(".")[2]
        for position, pattern in enumerate(order):
            if fnmatch.fnmatchcase(short, pattern):
                return position, name
        return len(order), name

    return sorted(names, key=rank)


def normalise_procedure(name: str) -> str:
    """A configured procedure name as PostgreSQL/Redshift store it (unquoted identifiers fold to lower case);
    ``staging`` is assumed when no schema is given."""
    text = name.strip()
    if "." not in text:
        text = f"{STAGING}.{text}"
    text = text.lower()
    qualified(text)  # validates
    return text


@dataclass(frozen=True)
class ProcedureCall:
    name: str
    seconds: float


def call_procedures(session: SqlSession, names: Sequence[str]) -> list[ProcedureCall]:
    """``CALL`` each procedure, in order, outside any transaction block (a CALL is its own transaction, and
    procedures may COMMIT)."""
    calls = []
    for name in names:
        started = time.monotonic()
        try:
            session.execute(f"CALL {qualified(name)}()")
        except WarehouseStatementError as exc:
            raise WarehouseRunError(f"procedure {name} failed: {exc}") from exc
        calls.append(ProcedureCall(name, time.monotonic() - started))
        log.info("warehouse.procedure", name=name, seconds=round(calls[-1].seconds, 3))
    return calls


# --------------------------------------------------------------------------------------------------------------
# Data-quality checks


@dataclass(frozen=True)
class QualityCheck:
    """One check: ``sql`` returns a single number, the count of violations (0 = passed)."""

    name: str
    relation: str
    sql: str


@dataclass(frozen=True)
class CheckResult:
    name: str
    relation: str
    violations: int
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.violations == 0


def plan_quality_checks(catalog: Catalog, columns: Mapping[str, Sequence[str]]) -> list[QualityCheck]:
    """The checks that apply to the analytics tables that exist (pure; ``columns`` from :func:`table_columns`).

    * SCD2 dimensions (catalog tables with type2 attributes): exactly one current row per natural key, and no
      overlapping ``[valid_from, valid_to)`` ranges per natural key.
    * Facts (``analytics.fact_*``): every non-NULL ``<x>_key`` finds its row in ``analytics.dim_<x>`` (a
      ``*date_key`` in ``dim_date``). A NULL key is "not resolved yet" (an order without payment, a line whose
      customer version has not arrived), which the fact load re-resolves later: not an orphan.
    """
    checks: list[QualityCheck] = []
    scd2_needs = {"is_current", "valid_from", "valid_to"}
    for table in catalog.tables:
        if table.dimension is None or not table.scd_columns(2):
            continue
        relation = f"{ANALYTICS}.{table.dimension.name}"
        present = set(columns.get(relation, ()))
        if not present or not (scd2_needs | set(table.primary_key)) <= present:
            continue
        keys = ", ".join(quote_identifier(key) for key in table.primary_key)
        target = qualified(relation)
        checks.append(
            QualityCheck(
                "one current row per key",
                relation,
                f"SELECT COUNT(*) FROM (SELECT {keys} FROM {target} GROUP BY {keys} "  # noqa: S608 - quoted
                "HAVING SUM(CASE WHEN is_current THEN 1 ELSE 0 END) <> 1) AS violations",
            )
        )
        checks.append(
            QualityCheck(
                "no overlapping validity",
                relation,
                "SELECT COUNT(*) FROM (SELECT valid_to, LEAD(valid_from) OVER "  # noqa: S608 - quoted
                f"(PARTITION BY {keys} ORDER BY valid_from, valid_to) AS next_from FROM {target}) AS versions "
                "WHERE versions.next_from < versions.valid_to",
            )
        )
    for relation, fact_columns in sorted(columns.items()):
        if not relation.startswith(f"{ANALYTICS}.fact_"):
            continue
        for column in fact_columns:
            dimension = _dimension_of(column, columns)
            if dimension is None:
                continue
            dim_relation, dim_column = dimension
            checks.append(
                QualityCheck(
                    f"no orphan {column}",
                    relation,
                    f"SELECT COUNT(*) FROM {qualified(relation)} AS f "  # noqa: S608 - quoted
                    f"LEFT JOIN {qualified(dim_relation)} AS d ON f.{quote_identifier(column)} = "
                    f"d.{quote_identifier(dim_column)} WHERE f.{quote_identifier(column)} IS NOT NULL "
                    f"AND d.{quote_identifier(dim_column)} IS NULL",
                )
            )
    return checks


def _dimension_of(column: str, columns: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    if not column.endswith("_key"):
        return None
    stem = column.removesuffix("_key")
    candidates = [(f"{ANALYTICS}.dim_{stem}", column)]
    if column.endswith("date_key"):
        candidates.append((f"{ANALYTICS}.dim_date", "date_key"))
    for relation, key in candidates:
        if key in columns.get(relation, ()):
            return relation, key
    return None


def row_count_drops(
    previous: Mapping[str, int], current: Mapping[str, int], max_drop: float = DEFAULT_MAX_DROP
) -> list[CheckResult]:
    """One result per relation counted in both runs: violated when rows fell by more than ``max_drop`` (pure)."""
    results = []
    for relation in sorted(current):
        before = previous.get(relation)
        if before is None:
            continue
        now = current[relation]
        dropped = before > 0 and now < before * (1 - max_drop)
        detail = f"{before:,} → {now:,}" + (f" (-{(before - now) / before:.1%})" if dropped else "")
        results.append(CheckResult("row count drop", relation, 1 if dropped else 0, detail))
    return results


# --------------------------------------------------------------------------------------------------------------
# The load cycle


@dataclass
class RunReport:
    """One ``run_once``: what the refresh did, the procedures called, the check results."""

    run_id: str
    refreshed: str = ""
    procedures: list[ProcedureCall] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed_checks

    def summary(self) -> str:
        if self.error:
            return self.error
        failed = self.failed_checks
        if failed:
            names = "; ".join(f"{check.relation}: {check.name} ({check.violations:,})" for check in failed[:5])
            return f"{len(failed)} data-quality check(s) failed: {names}"
        return f"{len(self.procedures)} procedure(s), {len(self.checks)} check(s) passed"


def run_once(
    session: SqlSession,
    dialect: Dialect,
    catalog: Catalog,
    *,
    refresh: Callable[[], str] | None = None,
    procedures: Sequence[str] | None = None,
    max_drop: float = DEFAULT_MAX_DROP,
    metrics: MetricsSink = NULL_SINK,
) -> RunReport:
    """Refresh (local: the refresher; Redshift: ``REFRESH MATERIALIZED VIEW``) → procedures in order → checks.

    The run is recorded in ``public.warehouse_runs`` and its row counts in ``public.warehouse_run_counts``.
    Never raises for a failed step or check: the report says what failed (``ok`` is False) and the caller
    decides the exit code.
    """
    started = time.monotonic()
    previous: dict[str, int] = {}
    ensure_bookkeeping(session)
    report = RunReport(run_id=str(uuid.uuid4()))
    session.execute(
        "INSERT INTO public.warehouse_runs (run_id, started_at, status) VALUES (%(run)s, %(now)s, 'running')",
        {"run": report.run_id, "now": utc_now()},
    )
    try:
        if refresh is not None:
            report.refreshed = refresh()
        names = (
            [normalise_procedure(name) for name in procedures]
            if procedures is not None
            else order_procedures(discover_procedures(session, dialect))
        )
        report.procedures = call_procedures(session, names)
        report.checks = run_quality_checks(session, catalog)
        report.counts = analytics_counts(session)
        previous = previous_counts(session, report.run_id)
        record_counts(session, report.run_id, report.counts)
        report.checks.extend(row_count_drops(previous, report.counts, max_drop))
    except CdcError as exc:
        report.error = str(exc)
    except BaseException as exc:  # interrupted or a bug: still close the run's record, then let it propagate
        report.error = f"run interrupted by {type(exc).__name__}"
        with suppress(Exception):
            _finish_run(session, report)
        raise
    _finish_run(session, report)
    emit_run_metrics(metrics, report, previous, time.monotonic() - started)
    return report


def emit_run_metrics(metrics: MetricsSink, report: RunReport, previous: Mapping[str, int], seconds: float) -> None:
    """The cycle's duration and outcome, and each relation's row-count change against the previous run."""
    metrics.emit("warehouse", {"BatchDurationSeconds": seconds, "StepFailed": 0 if report.ok else 1})
    for relation, count in sorted(report.counts.items()):
        before = previous.get(relation)
        if before:
            variance = (count - before) / before * 100
            metrics.emit("warehouse", {"RowCountVariancePercent": variance}, {"Table": relation})


def _finish_run(session: SqlSession, report: RunReport) -> None:
    status = "ok" if report.ok else "failed"
    session.execute(
        "UPDATE public.warehouse_runs SET finished_at = %(now)s, status = %(status)s, "
        "failed_checks = %(failed)s, message = %(message)s WHERE run_id = %(run)s",
        {
            "now": utc_now(),
            "status": status,
            "failed": len(report.failed_checks),
            "message": report.summary()[:4096],
            "run": report.run_id,
        },
    )
    log.info("warehouse.run", run_id=report.run_id, status=status, procedures=len(report.procedures))


def run_quality_checks(session: SqlSession, catalog: Catalog) -> list[CheckResult]:
    """Run the checks :func:`plan_quality_checks` derives from the catalog and the existing analytics tables."""
    results = []
    for check in plan_quality_checks(catalog, table_columns(session, ANALYTICS)):
        rows = session.fetchall(check.sql)
        results.append(CheckResult(check.name, check.relation, int(rows[0][0])))
    return results


def analytics_counts(session: SqlSession) -> dict[str, int]:
    """Row counts of every analytics base table (dimensions and facts)."""
    return {relation: count_rows(session, relation) for relation in sorted(table_columns(session, ANALYTICS))}


def previous_counts(session: SqlSession, run_id: str) -> dict[str, int]:
    """The counts recorded by the latest earlier run that recorded any."""
    latest = session.fetchall(
        "SELECT run_id FROM public.warehouse_run_counts WHERE run_id <> %(run)s "
        "ORDER BY recorded_at DESC, run_id LIMIT 1",
        {"run": run_id},
    )
    if not latest:
        return {}
    rows = session.fetchall(
        "SELECT relation, row_count FROM public.warehouse_run_counts WHERE run_id = %(run)s", {"run": latest[0][0]}
    )
    return {str(relation): int(count) for relation, count in rows}


def record_counts(session: SqlSession, run_id: str, counts: Mapping[str, int]) -> None:
    """One multi-row INSERT (a single statement: atomic on every session, including the Data API)."""
    if not counts:
        return
    rows = []
    params: dict[str, Any] = {"run": run_id, "now": utc_now()}
    for number, (relation, count) in enumerate(sorted(counts.items())):
        rows.append(f"(%(run)s, %(relation_{number})s, %(count_{number})s, %(now)s)")
        params[f"relation_{number}"] = relation
        params[f"count_{number}"] = count
    values = ", ".join(rows)  # placeholders only: every value travels as a parameter
    insert = "INSERT INTO public.warehouse_run_counts (run_id, relation, row_count, recorded_at) VALUES "
    session.execute(insert + values, params)


def refresh_materialized_views(session: SqlSession) -> str:
    """Redshift: ``REFRESH MATERIALIZED VIEW`` every ``staging.mv_*`` (deterministic, unlike auto refresh)."""
    views = materialized_views(session, "redshift")
    for view in views:
        try:
            session.execute(f"REFRESH MATERIALIZED VIEW {qualified(view)}")
        except WarehouseStatementError as exc:
            raise WarehouseRunError(f"refresh of {view} failed: {exc}") from exc
    return f"{len(views)} materialized view(s) refreshed"


# --------------------------------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class Watermark:
    target: str
    kafka_partition: int
    kafka_offset: int
    updated_at: Any


@dataclass(frozen=True)
class Lag:
    """How far a procedure's watermark trails the MV it reads: change rows (tombstones aside) not consumed yet."""

    mv: str
    target: str | None
    max_offset: int | None
    watermark: int | None
    rows_behind: int


@dataclass
class WarehouseStatus:
    migrations: list[AppliedMigration]
    pending: list[str]
    watermarks: list[Watermark]
    counts: dict[str, int]
    lag: list[Lag]
    last_runs: list[tuple[Any, ...]]


def status(
    session: SqlSession,
    dialect: Dialect,
    catalog: Catalog,
    *,
    sql_dir: Path | None = DEFAULT_SQL_DIR,
    targets: Mapping[str, str] | None = None,
) -> WarehouseStatus:
    """Applied and pending migrations, watermarks, row counts of MVs/dimensions/facts, lag, the last runs.

    Read-only: creates nothing. ``targets`` maps watermark targets to catalog tables where the name alone does
    not tell (see :func:`table_of_target`).
    """
    migrations = applied_migrations(session)
    pending: list[str] = []
    if sql_dir is not None and sql_dir.is_dir():
        done = {migration.version for migration in migrations}
        pending = [file.filename for file in discover_migrations(sql_dir) if file.version not in done]
    watermarks: list[Watermark] = []
    if relation_exists(session, STAGING, "load_watermark"):
        watermarks = [
            Watermark(str(row[0]), int(row[1]), int(row[2]), row[3])
            for row in session.fetchall(
                "SELECT target, kafka_partition, kafka_offset, updated_at FROM staging.load_watermark "
                "ORDER BY target, kafka_partition"
            )
        ]
    views = materialized_views(session, dialect)
    counts = {view: count_rows(session, view) for view in views}
    counts.update(analytics_counts(session))
    runs: list[tuple[Any, ...]] = []
    if relation_exists(session, "public", "warehouse_runs"):
        runs = session.fetchall(
            "SELECT run_id, started_at, finished_at, status, failed_checks, message FROM public.warehouse_runs "
            "ORDER BY started_at DESC LIMIT 5"
        )
    return WarehouseStatus(
        migrations, pending, watermarks, counts, lag_of(session, catalog, views, watermarks, targets), runs
    )


def table_of_target(target: str, catalog: Catalog, targets: Mapping[str, str] | None = None) -> str | None:
    """The catalog table whose MV a watermark target reads (pure): explicit mapping first, else the longest
    catalog table name inside the target's last segment (``a.b``, ``a:b``, ``a/b``), else inside the whole name."""
    if targets and target in targets:
        return targets[target]
    names = sorted(catalog.table_names, key=len, reverse=True)
    last = re.split(r"[.:/]", target)[-1]
    for text in (last, target):
        for name in names:
            if name in text:
                return name
    return None


def lag_of(
    session: SqlSession,
    catalog: Catalog,
    views: Sequence[str],
    watermarks: Sequence[Watermark],
    targets: Mapping[str, str] | None = None,
) -> list[Lag]:
    """Per MV and watermark target reading it: max MV offset, max watermark offset, change rows behind."""
    by_target: dict[str, list[Watermark]] = {}
    for mark in watermarks:
        by_target.setdefault(mark.target, []).append(mark)
    readers: dict[str, list[str]] = {}
    for target in by_target:
        table = table_of_target(target, catalog, targets)
        if table is not None:
            readers.setdefault(f"{STAGING}.mv_{table}", []).append(target)
    result = []
    for view in views:
        source = qualified(view)
        max_offset = session.fetchall(f"SELECT MAX(kafka_offset) FROM {source}")[0][0]  # noqa: S608 - quoted
        for target in readers.get(view, []):
            behind = session.fetchall(
                f"SELECT COUNT(*) FROM {source} m "  # noqa: S608 - quoted
                "LEFT JOIN staging.load_watermark w ON w.target = %(target)s AND w.kafka_partition = m.kafka_partition "
                "WHERE m.payload IS NOT NULL AND (w.kafka_offset IS NULL OR m.kafka_offset > w.kafka_offset)",
                {"target": target},
            )
            watermark = max((mark.kafka_offset for mark in by_target[target]), default=None)
            result.append(Lag(view, target, _int_or_none(max_offset), watermark, int(behind[0][0])))
        if view not in readers:  # nothing reads it yet: every change row is behind
            behind = session.fetchall(f"SELECT COUNT(*) FROM {source} WHERE payload IS NOT NULL")  # noqa: S608
            result.append(Lag(view, None, _int_or_none(max_offset), None, int(behind[0][0])))
    return result


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# --------------------------------------------------------------------------------------------------------------
# The runner object the CLI wires


@dataclass
class WarehouseRunner:
    """The runner bound to a connection factory: one session per operation, always closed."""

    connect: SessionFactory
    dialect: Dialect
    catalog: Catalog
    sql_dir: Path = DEFAULT_SQL_DIR
    parameters: Mapping[str, str] = field(default_factory=dict)
    procedures: Sequence[str] | None = None
    max_drop: float = DEFAULT_MAX_DROP
    targets: Mapping[str, str] = field(default_factory=dict)
    metrics: MetricsSink = NULL_SINK

    def migrate(self, *, dry_run: bool = False) -> MigrationReport:
        session = self.connect()
        try:
            return migrate(session, self.dialect, self.parameters, sql_dir=self.sql_dir, dry_run=dry_run)
        finally:
            session.close()

    def status(self) -> WarehouseStatus:
        session = self.connect()
        try:
            return status(session, self.dialect, self.catalog, sql_dir=self.sql_dir, targets=self.targets)
        finally:
            session.close()

    def run_once(self, refresh: Callable[[], str] | None = None) -> RunReport:
        """One cycle; on Redshift the refresh defaults to ``REFRESH MATERIALIZED VIEW`` of every MV."""
        session = self.connect()
        try:
            step = refresh
            if step is None and self.dialect == "redshift":
                step = lambda: refresh_materialized_views(session)  # noqa: E731 - bound to this session
            return run_once(
                session,
                self.dialect,
                self.catalog,
                refresh=step,
                procedures=self.procedures,
                max_drop=self.max_drop,
                metrics=self.metrics,
            )
        finally:
            session.close()
