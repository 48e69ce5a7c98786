"""Backfill from the landing zone: the ``staging.<table>_backfill`` tables that feed the same SCD procedures.

The landing zone (``landing/<table>/``, written by the streaming job) holds every change ever captured, as
Parquet: the table's columns, then the CDC metadata columns (``_op``, ``_source_ts``, ``_lsn``, …; see
``streaming/landing_schema.py``). A backfill copies those files into ``staging.<table>_backfill``, a table of
exactly the files' shape (Redshift's ``COPY … FORMAT AS PARQUET`` maps columns by position), and the flattening
view ``staging.<table>_changes`` presents its rows next to the streaming MV's, with ``feed = 'backfill'``.

* Redshift: ``redshift/sql/copy/<table>.sql`` (``COPY … MANIFEST``), with a manifest listing the *committed*
  landing files (:func:`copy_manifest`); a prefix would also load part files of crashed batches.
* PostgreSQL: :func:`rows_from_landing` reads the committed files with pyarrow and :func:`load_backfill` streams
  the rows in with ``COPY … FROM STDIN``.

Which files are committed is the landing zone's contract (``common.landing_files.committed_files``); the
caller (the CLI, the composition root) passes the list in, so this package does not import ``streaming``.
After the procedures have consumed a backfill (``CALL staging.run_all()`` succeeded) the caller may empty the
table (:func:`clear_backfill_sql`): the procedures deduplicate backfill rows against what they already hold, so
leaving them is correct, only slower.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow.parquet as pq

from common.errors import ConfigError
from redshift.dialect import quote_literal, render
from redshift.statements import split_statements
from schemas.catalog import Table

if TYPE_CHECKING:
    import psycopg
    import pyarrow.fs as pafs

STAGING_SCHEMA: Final = "staging"
COPY_DIR: Final = Path(__file__).resolve().parent / "sql" / "copy"

# The CDC metadata columns of a landing file of a PostgreSQL-connector table, in file order, with their warehouse
# types. Mirrors streaming.landing_schema._metadata("postgresql") (a unit test keeps them equal); the partition
# columns (year/month/day/hour) are folder names, not file columns.
BACKFILL_METADATA: Final[tuple[tuple[str, str], ...]] = (
    ("_op", "VARCHAR(1)"),
    ("_source_ts", "TIMESTAMP"),
    ("_lsn", "BIGINT"),
    ("_tx_id", "VARCHAR(32)"),
    ("_snapshot", "BOOLEAN"),
    ("_schema_id", "INTEGER"),
    ("_kafka_topic", "VARCHAR(249)"),
    ("_kafka_partition", "INTEGER"),
    ("_kafka_offset", "BIGINT"),
    ("_kafka_timestamp", "TIMESTAMP"),
    ("_ingested_at", "TIMESTAMP"),
)


def backfill_table(table: Table) -> str:
    """``staging.<table>_backfill``: the qualified name of the table's backfill table."""
    return f"{STAGING_SCHEMA}.{table.name}_backfill"


def backfill_columns(table: Table) -> tuple[str, ...]:
    """The backfill table's columns in file order: the catalog columns, then :data:`BACKFILL_METADATA`."""
    if table.connector != "postgresql":
        raise ConfigError(f"table '{table.name}': backfill supports the postgresql connector only")
    return (*(column.name for column in table.columns), *(name for name, _ in BACKFILL_METADATA))


def rows_from_landing(
    table: Table, paths: Iterable[str], filesystem: pafs.FileSystem | None = None, *, batch_rows: int = 10_000
) -> Iterator[tuple[Any, ...]]:
    """The rows of committed landing files, as tuples in :func:`backfill_columns` order.

    ``paths`` are the files ``common.landing_files.committed_files`` returns (paths inside ``filesystem``; a
    local path when it is None). A column missing from an older file (added at the source later) reads as NULL;
    columns the backfill table does not know are ignored. Timestamps come back naive, in UTC, as the warehouse
    stores them.
    """
    names = backfill_columns(table)
    for path in paths:
        parquet = pq.ParquetFile(path, filesystem=filesystem)
        present = [name for name in names if name in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=present):
            columns = {name: batch.column(name).to_pylist() for name in present}
            empty = [None] * batch.num_rows
            values = [[_naive_utc(value) for value in columns.get(name, empty)] for name in names]
            yield from zip(*values, strict=True)


def _naive_utc(value: Any) -> Any:
    """A timezone-aware datetime as naive UTC (the warehouse's TIMESTAMP); anything else unchanged."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def copy_statement_postgres(table: Table) -> str:
    """``COPY staging.<table>_backfill (columns) FROM STDIN``: the PostgreSQL side of the backfill load."""
    columns = ", ".join(backfill_columns(table))
    return f"COPY {backfill_table(table)} ({columns}) FROM STDIN"


def load_backfill(connection: psycopg.Connection[Any], table: Table, rows: Iterable[Sequence[Any]]) -> int:
    """Append ``rows`` (from :func:`rows_from_landing`) to the table's backfill table; returns the row count.

    Runs in the connection's current transaction; the caller commits (then calls the procedures).
    """
    count = 0
    with connection.cursor() as cursor, cursor.copy(copy_statement_postgres(table)) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def clear_backfill_sql(table: Table) -> str:
    """The statement that empties a consumed backfill table (run it outside the procedures, after they succeed)."""
    return f"DELETE FROM {backfill_table(table)}"  # noqa: S608 - catalog identifiers, validated by the catalog


def copy_manifest(files: Iterable[tuple[str, int]]) -> str:
    """A Redshift COPY manifest (JSON) for ``(s3 url, size in bytes)`` pairs: what ``COPY … MANIFEST`` reads.

    Parquet manifests need each file's ``content_length``; ``common.landing_files.committed_file_details``
    gives the sizes. ``mandatory`` makes a vanished file an error instead of a silent gap.
    """
    entries = []
    for url, size in files:
        s3_url = "s3://" + url.removeprefix("s3a://") if url.startswith("s3a://") else url
        if not s3_url.startswith("s3://"):
            raise ConfigError(f"a COPY manifest lists s3:// URLs, got {url!r}")
        entries.append({"url": s3_url, "mandatory": True, "meta": {"content_length": int(size)}})
    return json.dumps({"entries": entries}, indent=2) + "\n"


def manifest_url(prefix: str, table: str, now: datetime) -> str:
    """Where a backfill's COPY manifest goes: ``<prefix>/<table>-<UTC time>.manifest`` (an s3:// URL)."""
    if not prefix.startswith("s3://"):
        raise ConfigError(f"the backfill manifest prefix must be an s3:// URL, got {prefix!r}")
    return f"{prefix.rstrip('/')}/{table}-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.manifest"


def copy_statements(table: Table, manifest: str, iam_role_arn: str) -> list[str]:
    """The table's Redshift ``COPY … FORMAT AS PARQUET MANIFEST`` (``redshift/sql/copy/<table>.sql``), filled in."""
    backfill_columns(table)  # the connector check
    path = COPY_DIR / f"{table.name}.sql"
    if not path.is_file():
        raise ConfigError(
            f"no COPY statement for table '{table.name}' ({path.name}): run `python -m redshift.generate`"
        )
    parameters = {"manifest_url": quote_literal(manifest), "iam_role_arn": quote_literal(iam_role_arn)}
    text = render(path.read_text(encoding="utf-8"), "redshift", parameters, name=path.name)
    return [statement.text for statement in split_statements(text, name=path.name)]
