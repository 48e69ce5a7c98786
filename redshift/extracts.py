"""Truncate-and-load of a file extract into its warehouse table, guarded by a row-count check (seed 000).

Seed 000's daily flow is "truncate target tables, execute COPY commands, validate row counts", with the data-quality
alert "row count variance > 5 %". Here one load of an extract (``redshift`` side of ``cdc batch load-files``):

1. creates, if missing, the bookkeeping table ``public.extract_loads`` and the target table (``staging.extract_<name>``
   or the extract's ``warehouse_table``; the catalog columns with :func:`redshift.generate.warehouse_type`, the
   types the rest of the warehouse uses), and checks an existing target still has the catalog's columns;
2. compares the new row count with the previous *successful* load of the extract (:class:`RowCountCheck`): a
   variance above ``max_row_count_drop`` (5 % by default) in **either direction** refuses the load, as the seed's
   "variance > 5 %" says (a sudden growth is as suspicious as a drop: a duplicated or unfiltered export).
   Nothing is replaced, a ``failed`` row is recorded and :class:`ExtractLoadRefusedError` fails the run.
   ``accept_drop`` (the operator's ``--accept-drop``) loads anyway and says so in the recorded message. Without a
   previous successful load, or when it had 0 rows, there is nothing to compare with and the load goes ahead;
3. in one transaction: ``DELETE`` the target's rows (not ``TRUNCATE``: on Redshift it commits the open
   transaction; on PostgreSQL ``DELETE`` also lets readers see the old rows until the commit), load the new rows
   (PostgreSQL stand-in: ``COPY … FROM STDIN`` from pyarrow; Redshift: ``COPY … FORMAT AS PARQUET`` from each landed
   file's S3 URL with an IAM role; COPY's default MAXERROR 0 makes any bad value fail the whole statement), and
   record a ``loaded`` row. A failure rolls everything back and records a ``failed`` row with the database's reason.

The previous count is read before the transaction (the Data API cannot read inside one), so two concurrent loads of
the same extract could both pass the check; loads of one extract are meant to run one at a time (one schedule).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

import psycopg
import pyarrow as pa

from common.errors import CdcError, ConfigError
from common.logging import get_logger
from redshift.connections import PsycopgSession, SqlSession, WarehouseStatementError
from redshift.dialect import quote_literal
from redshift.generate import sql_name, warehouse_type
from schemas.catalog import FileExtract

log = get_logger(__name__)

BOOKKEEPING_TABLE: Final = "public.extract_loads"
STATUS_LOADED: Final = "loaded"
STATUS_FAILED: Final = "failed"
_MESSAGE_LIMIT: Final = 4096
_TARGET_RE: Final = re.compile(r"^(?:(?P<schema>[a-z_][a-z0-9_$]{0,62})\.)?(?P<table>[a-z_][a-z0-9_$]{0,62})$")
_DEFAULT_SCHEMA: Final = "public"

EXTRACT_LOADS_DDL: Final = f"""CREATE TABLE IF NOT EXISTS {BOOKKEEPING_TABLE} (
    extract VARCHAR(63) NOT NULL,
    load_id VARCHAR(36) NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    load_date DATE NOT NULL,
    file VARCHAR({_MESSAGE_LIMIT}) NOT NULL,
    rows BIGINT NOT NULL,
    previous_rows BIGINT,
    status VARCHAR(16) NOT NULL,
    message VARCHAR({_MESSAGE_LIMIT}),
    PRIMARY KEY (load_id)
)"""

_PREVIOUS_SQL: Final = f"""SELECT rows FROM {BOOKKEEPING_TABLE}
WHERE extract = %(extract)s AND status = '{STATUS_LOADED}'
ORDER BY loaded_at DESC
LIMIT 1"""  # noqa: S608 - constants only

_RECORD_SQL: Final = f"""INSERT INTO {BOOKKEEPING_TABLE}
    (extract, load_id, loaded_at, load_date, file, rows, previous_rows, status, message)
VALUES (%(extract)s, %(load_id)s, %(loaded_at)s, %(load_date)s, %(file)s, %(rows)s, %(previous_rows)s,
    %(status)s, %(message)s)"""  # noqa: S608 - constants only


class ExtractLoadError(CdcError):
    """A load of a file extract into the warehouse failed; the table keeps its previous rows."""


class ExtractLoadRefusedError(ExtractLoadError):
    """The row-count check refused a load (variance above the extract's limit); ``--accept-drop`` overrides."""


@dataclass(frozen=True)
class RowCountCheck:
    """The new row count against the previous successful load's, with the allowed relative variance. Pure."""

    rows: int
    previous_rows: int | None
    max_variance: float

    @property
    def variance(self) -> float | None:
        """``(rows - previous) / previous``; None without a previous load with rows to compare with."""
        if not self.previous_rows:
            return None
        return (self.rows - self.previous_rows) / self.previous_rows

    @property
    def passed(self) -> bool:
        variance = self.variance
        return variance is None or abs(variance) <= self.max_variance

    def describe(self) -> str:
        """One sentence for people and for ``extract_loads.message``."""
        variance = self.variance
        if variance is None:
            what = "no previous load" if self.previous_rows is None else "the previous load had 0 rows"
            return f"{self.rows:,} row(s); {what}, nothing to compare with"
        if variance == 0:
            return f"{self.rows:,} row(s), as many as the previous load"
        direction = "below" if variance < 0 else "above"
        return (
            f"{self.rows:,} row(s) is {abs(variance):.1%} {direction} the previous load's {self.previous_rows:,} "
            f"(limit {self.max_variance:.1%})"
        )


@dataclass(frozen=True)
class ExtractLoad:
    """What one load did: recorded as a row of ``public.extract_loads``."""

    extract: str
    load_id: str
    table: str
    rows: int
    previous_rows: int | None
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == STATUS_LOADED


# --------------------------------------------------------------------------------------------------------------
# SQL (pure)


def target_table(spec: FileExtract) -> tuple[str, str]:
    """``(schema, table)`` of the extract's warehouse table (no schema in ``warehouse_table`` = ``public``)."""
    match = _TARGET_RE.match(spec.target_table)
    if match is None:
        raise ConfigError(
            f"extract '{spec.name}': warehouse_table {spec.target_table!r} must be [schema.]table in lowercase "
            "letters, digits and _"
        )
    return match["schema"] or _DEFAULT_SCHEMA, match["table"]


def qualified_target(spec: FileExtract) -> str:
    """The target table as written in SQL (reserved words double-quoted)."""
    schema, table = target_table(spec)
    return f"{sql_name(schema)}.{sql_name(table)}"


def create_statements(spec: FileExtract) -> list[str]:
    """The bookkeeping table, the target's schema and the target table (all ``IF NOT EXISTS``); the same text on
    Redshift and PostgreSQL (Redshift takes the primary key as information)."""
    schema, _ = target_table(spec)
    lines = [f"{sql_name(column.name)} {warehouse_type(column)}" for column in spec.columns]
    for number, column in enumerate(spec.columns):
        if not column.nullable:
            lines[number] += " NOT NULL"
    lines.append(f"PRIMARY KEY ({', '.join(sql_name(name) for name in spec.primary_key)})")
    body = ",\n    ".join(lines)
    return [
        EXTRACT_LOADS_DDL,
        f"CREATE SCHEMA IF NOT EXISTS {sql_name(schema)}",
        f"CREATE TABLE IF NOT EXISTS {qualified_target(spec)} (\n    {body}\n)",
    ]


def delete_statement(spec: FileExtract) -> str:
    """Empty the target inside the load's transaction (``DELETE``: ``TRUNCATE`` commits on Redshift)."""
    return f"DELETE FROM {qualified_target(spec)}"  # noqa: S608 - validated catalog identifiers


def copy_from_stdin_statement(spec: FileExtract) -> str:
    """The PostgreSQL stand-in's ``COPY <target> (columns) FROM STDIN``."""
    columns = ", ".join(sql_name(column.name) for column in spec.columns)
    return f"COPY {qualified_target(spec)} ({columns}) FROM STDIN"


def redshift_copy_statement(spec: FileExtract, url: str, iam_role_arn: str) -> str:
    """Redshift's ``COPY <target> FROM 's3://…parquet' IAM_ROLE '…' FORMAT AS PARQUET`` for one landed file (the
    file's columns are the table's, in order: Parquet COPY maps by position)."""
    s3_url = "s3://" + url.removeprefix("s3a://") if url.startswith("s3a://") else url
    if not s3_url.startswith("s3://"):
        raise ConfigError(f"Redshift COPYs landed files from S3, got {url!r} (the lake root must be s3://)")
    return (
        f"COPY {qualified_target(spec)}\nFROM {quote_literal(s3_url)}\n"
        f"IAM_ROLE {quote_literal(iam_role_arn)}\nFORMAT AS PARQUET"
    )


# --------------------------------------------------------------------------------------------------------------
# Running a load


def previous_rows(session: SqlSession, extract: str) -> int | None:
    """The row count of the extract's last successful load (None when it never loaded)."""
    rows = session.fetchall(_PREVIOUS_SQL, {"extract": extract})
    return int(rows[0][0]) if rows else None


def prepare(session: SqlSession, spec: FileExtract) -> None:
    """Create what is missing and check an existing target table has the catalog's columns, in order."""
    for statement in create_statements(spec):
        session.execute(statement)
    schema, table = target_table(spec)
    found = session.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %(schema)s "
        "AND table_name = %(table)s ORDER BY ordinal_position",
        {"schema": schema, "table": table},
    )
    columns = [str(row[0]) for row in found]
    declared = [column.name for column in spec.columns]
    if columns and columns != declared:
        raise ConfigError(
            f"warehouse table {schema}.{table} has columns ({', '.join(columns)}) but extract '{spec.name}' declares "
            f"({', '.join(declared)}): migrate or drop the table"
        )


def load_extract(
    session: SqlSession,
    spec: FileExtract,
    *,
    rows: int,
    files: Sequence[str],
    load_date: date,
    copy: Callable[[SqlSession], None],
    accept_drop: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExtractLoad:
    """Check the row count, then replace the target's rows with ``copy``'s in one transaction; record the outcome.

    ``rows`` is what ``copy`` loads (the good rows of the landed files); ``files`` names them for the record.
    Raises :class:`ExtractLoadRefusedError` when the check refuses, :class:`ExtractLoadError` when the load fails;
    either way a ``failed`` row is recorded and the table keeps its rows.
    """
    prepare(session, spec)
    previous = previous_rows(session, spec.name)
    check = RowCountCheck(rows, previous, spec.max_row_count_drop)
    load_id = str(uuid.uuid4())
    table = qualified_target(spec)

    def outcome(status: str, message: str) -> ExtractLoad:
        return ExtractLoad(spec.name, load_id, table, rows, previous, status, message)

    def record(load: ExtractLoad) -> None:
        session.execute(
            _RECORD_SQL,
            {
                "extract": load.extract,
                "load_id": load.load_id,
                "loaded_at": now().astimezone(UTC).replace(tzinfo=None),
                "load_date": load_date,
                "file": _clip(", ".join(files) or "-"),
                "rows": load.rows,
                "previous_rows": load.previous_rows,
                "status": load.status,
                "message": _clip(load.message),
            },
        )

    message = check.describe()
    if not check.passed:
        if not accept_drop:
            refused = outcome(STATUS_FAILED, f"refused: {message}; nothing replaced (--accept-drop loads it)")
            record(refused)
            log.info("extract.refused", extract=spec.name, rows=rows, previous_rows=previous)
            raise ExtractLoadRefusedError(f"extract '{spec.name}' into {table}: {refused.message}")
        message = f"{message}: accepted by --accept-drop"
    loaded = outcome(STATUS_LOADED, message)
    try:
        with session.transaction():
            session.execute(delete_statement(spec))
            copy(session)
            record(loaded)
    except WarehouseStatementError as exc:
        failed = outcome(STATUS_FAILED, f"load failed, nothing replaced: {exc}")
        with suppress(CdcError):  # the original error matters more than a failed bookkeeping insert
            record(failed)
        raise ExtractLoadError(f"extract '{spec.name}' into {table}: {failed.message}") from exc
    log.info("extract.loaded", extract=spec.name, rows=rows, previous_rows=previous, load_id=load_id)
    return loaded


def load_into_postgres(
    session: PsycopgSession,
    spec: FileExtract,
    rows: pa.Table,
    *,
    files: Sequence[str],
    load_date: date,
    accept_drop: bool = False,
) -> ExtractLoad:
    """The PostgreSQL stand-in: :func:`load_extract` with ``COPY … FROM STDIN`` of ``rows`` (the good rows)."""

    def copy(_: SqlSession) -> None:
        names = [column.name for column in spec.columns]
        columns = [rows.column(name).to_pylist() for name in names]
        try:
            with session.connection.cursor() as cursor, cursor.copy(copy_from_stdin_statement(spec)) as stream:
                for row in zip(*columns, strict=True):
                    stream.write_row(row)
        except psycopg.Error as exc:  # the session wraps its own statements; COPY goes to the connection
            raise WarehouseStatementError(
                str(exc).strip().splitlines()[0] if str(exc).strip() else "COPY failed"
            ) from exc

    return load_extract(
        session, spec, rows=rows.num_rows, files=files, load_date=load_date, copy=copy, accept_drop=accept_drop
    )


def load_into_redshift(
    session: SqlSession,
    spec: FileExtract,
    *,
    urls: Sequence[str],
    rows: int,
    iam_role_arn: str,
    files: Sequence[str],
    load_date: date,
    accept_drop: bool = False,
) -> ExtractLoad:
    """Redshift: :func:`load_extract` with one ``COPY … FORMAT AS PARQUET`` per landed file (``urls``, s3://)."""
    statements = [redshift_copy_statement(spec, url, iam_role_arn) for url in urls]

    def copy(target: SqlSession) -> None:
        for statement in statements:
            target.execute(statement)

    return load_extract(session, spec, rows=rows, files=files, load_date=load_date, copy=copy, accept_drop=accept_drop)


def _clip(text: str) -> str:
    """At most VARCHAR(4096)'s bytes (Redshift counts UTF-8 bytes)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= _MESSAGE_LIMIT:
        return text
    return encoded[: _MESSAGE_LIMIT - 3].decode("utf-8", errors="ignore") + "…"
