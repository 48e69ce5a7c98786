"""The source database seen through ordinary SQL (psycopg 3): tables, publication, slots, peeking, lag."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from psycopg import sql
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from common.errors import ConfigError, ServiceUnavailableError
from common.settings import redact_dsn
from producers.capture.postgres.pgoutput import Relation, RelationColumn
from schemas.catalog import Table

_PERMANENT = ("password authentication failed", "does not exist", "no pg_hba.conf entry", "invalid dsn")


def _transient(exc: BaseException) -> bool:
    """Connection refused or timed out is worth retrying; a wrong password or database name is not."""
    text = str(exc).lower()
    return isinstance(exc, psycopg.OperationalError) and not any(marker in text for marker in _PERMANENT)


def connect(dsn: str, *, autocommit: bool = True, attempts: int = 4) -> psycopg.Connection:
    """Open a connection, retrying transient failures with backoff; then one line naming the (redacted) DSN."""
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception(_transient),
            reraise=True,
        ):
            with attempt:
                return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailableError(f"cannot connect to the source database {redact_dsn(dsn)}: {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises


class SourceDatabase:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def database_name(self) -> str:
        row = self.conn.execute("SELECT current_database()").fetchone()
        return str(row[0]) if row else ""

    def describe(self, table: Table) -> Relation:
        """The table's current columns (name, type oid, modifier, key flag) as a pgoutput Relation would say."""
        rows = self.conn.execute(
            """
            SELECT a.attname, a.atttypid, a.atttypmod,
                   coalesce(a.attnum = ANY(i.indkey), false) AS is_key, c.oid, c.relreplident
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """,
            (table.source_schema, table.name),
        ).fetchall()
        if not rows:
            raise ConfigError(
                f"table {table.qualified_name} does not exist in the source database (run `cdc workload init`)"
            )
        columns = tuple(RelationColumn(name, oid, modifier, bool(is_key)) for name, oid, modifier, is_key, _, _ in rows)
        return Relation(int(rows[0][4]), table.source_schema, table.name, str(rows[0][5]), columns)

    def check_primary_key(self, table: Table, relation: Relation) -> None:
        """Events are keyed by primary key: the source must have the catalog's primary key."""
        source_key = [column.name for column in relation.columns if column.is_key]
        if not source_key:
            raise ConfigError(
                f"table {table.qualified_name} has no primary key at the source; capture keys every event by it "
                f"(catalog declares {', '.join(table.primary_key)})"
            )
        if sorted(source_key) != sorted(table.primary_key):
            raise ConfigError(
                f"table {table.qualified_name}: source primary key ({', '.join(source_key)}) differs from the "
                f"catalog's ({', '.join(table.primary_key)})"
            )

    def ensure_publication(self, name: str, tables: Sequence[Table]) -> None:
        """Create the publication over exactly these tables, or set its table list if it exists."""
        targets = sql.SQL(", ").join(sql.Identifier(t.source_schema, t.name) for t in tables)
        exists = self.conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
        verb = "ALTER PUBLICATION {} SET TABLE {}" if exists else "CREATE PUBLICATION {} FOR TABLE {}"
        self.conn.execute(sql.SQL(verb).format(sql.Identifier(name), targets))

    def slots(self, prefix: str) -> dict[str, int | None]:
        """Logical slots whose name starts with `prefix` → confirmed flush LSN."""
        rows = self.conn.execute(
            "SELECT slot_name, confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots "
            "WHERE slot_type = 'logical' AND database = current_database() AND slot_name LIKE %s",
            (prefix.replace("_", r"\_") + "%",),
        ).fetchall()
        return {name: None if lsn is None else int(lsn) for name, lsn in rows}

    def drop_slot(self, name: str) -> None:
        self.conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (name,)
        )

    def peek(self, slot: str, publication: str, upto_lsn: int, batch: int) -> list[tuple[int, bytes]]:
        """Up to `batch` changes (whole transactions) committed before `upto_lsn`, without consuming them."""
        rows = self.conn.execute(
            "SELECT lsn - '0/0'::pg_lsn, data FROM pg_logical_slot_peek_binary_changes("
            "%s, ('0/0'::pg_lsn + %s::numeric), %s, 'proto_version', '1', 'publication_names', %s)",
            (slot, upto_lsn, batch, publication),
        ).fetchall()
        return [(int(lsn), bytes(data)) for lsn, data in rows]

    def advance(self, slot: str, lsn: int) -> None:
        self.conn.execute("SELECT pg_replication_slot_advance(%s, ('0/0'::pg_lsn + %s::numeric))", (slot, lsn))

    def slot_lag_bytes(self, slot: str) -> int | None:
        row = self.conn.execute(
            "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])


class SnapshotReader:
    """Reads tables in primary-key order, in chunks, inside one transaction on an exported snapshot."""

    def __init__(self, dsn: str, snapshot_name: str) -> None:
        self.conn = connect(dsn, autocommit=False)
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            self.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
        except psycopg.Error as exc:
            self.conn.close()
            raise ServiceUnavailableError(f"could not import the slot's exported snapshot: {exc}") from None
        row = self.conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
        self.snapshot_xmin = int(row[0]) if row else None

    def has_rows(self, table: Table) -> bool:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table.source_schema, table.name))
        row = self.conn.execute(query).fetchone()
        return bool(row and row[0])

    def chunks(
        self, table: Table, columns: Sequence[str], after_key: Sequence[str] | None, chunk_rows: int
    ) -> Iterator[list[tuple[str | None, ...]]]:
        """Yield lists of text rows, `chunk_rows` at a time, with keys after `after_key` (text, key order)."""
        key = [sql.Identifier(name) for name in table.primary_key]
        key_types = [sql.SQL(table.column(name).postgres_type) for name in table.primary_key]
        select = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
        last = list(after_key) if after_key is not None else None
        while True:
            where: sql.Composable
            params: list[str] = []
            if last is None:
                where = sql.SQL("TRUE")
            else:
                values = sql.SQL(", ").join(sql.SQL("%s::{}").format(t) for t in key_types)
                where = sql.SQL("({}) > ({})").format(sql.SQL(", ").join(key), values)
                params = list(last)
            query = sql.SQL("COPY (SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {}) TO STDOUT").format(
                select,
                sql.Identifier(table.source_schema, table.name),
                where,
                sql.SQL(", ").join(key),
                sql.Literal(chunk_rows),
            )
            rows: list[tuple[str | None, ...]] = []
            with self.conn.cursor() as cursor, cursor.copy(query, params) as copy:
                rows.extend(copy.rows())
            if not rows:
                return
            yield rows
            if len(rows) < chunk_rows:
                return
            positions = [list(columns).index(name) for name in table.primary_key]
            last = [str(rows[-1][i]) for i in positions]

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()
