"""SQLite persistence for the registry: schemas (content-addressed, global ids), subject versions, config.

One connection, one lock: every read and write runs inside the lock and a transaction (`BEGIN IMMEDIATE` for
writes), so a check-then-insert such as "is this schema already registered? if not, add a version" is atomic
even when many requests arrive at once. WAL journal, `synchronous=FULL`.

Schema rows are never deleted, so a schema id always means the same schema text and ids are never reused, not
even after a permanent delete (`AUTOINCREMENT` keeps them increasing).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DB_FILE = "registry.sqlite3"
_SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS schemas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_type TEXT    NOT NULL,
    canonical   TEXT    NOT NULL,
    schema_text TEXT    NOT NULL,
    guid        TEXT    NOT NULL UNIQUE,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (schema_type, canonical)
);
CREATE TABLE IF NOT EXISTS subject_versions (
    subject    TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    schema_id  INTEGER NOT NULL REFERENCES schemas (id),
    deleted    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS subject_versions_by_schema ON subject_versions (schema_id);
CREATE TABLE IF NOT EXISTS subject_config (
    subject       TEXT PRIMARY KEY,
    compatibility TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS global_config (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    compatibility TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class SchemaRow:
    id: int
    schema_type: str
    schema_text: str
    guid: str


@dataclass(frozen=True)
class VersionRow:
    subject: str
    version: int
    schema_id: int
    deleted: bool
    schema_type: str
    schema_text: str
    guid: str


_VERSION_COLUMNS = (
    "v.subject, v.version, v.schema_id, v.deleted, s.schema_type, s.schema_text, s.guid "
    "FROM subject_versions v JOIN schemas s ON s.id = v.schema_id"
)


def _version_row(row: tuple[str, int, int, int, str, str, str]) -> VersionRow:
    subject, version, schema_id, deleted, schema_type, schema_text, guid = row
    return VersionRow(subject, version, schema_id, bool(deleted), schema_type, schema_text, guid)


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch {path} to WAL journal mode")


class Store:
    """Owns the SQLite database under `data_dir`. Raises OSError / sqlite3.Error if it cannot be written."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            _enable_wal(self._conn, self.path)
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            with self.write() as tx:
                for statement in _DDL.split(";"):
                    if statement.strip():
                        tx.conn.execute(statement)
                tx.conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A consistent snapshot for several queries."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield Transaction(self._conn)
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """Serialised read-modify-write: committed on success, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


class Transaction:
    """Queries and updates; only valid inside `Store.read()` / `Store.write()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # ---------------------------------------------------------------------------------------- schemas
    def schema_by_id(self, schema_id: int) -> SchemaRow | None:
        row = self.conn.execute(
            "SELECT id, schema_type, schema_text, guid FROM schemas WHERE id = ?", (schema_id,)
        ).fetchone()
        return SchemaRow(*row) if row else None

    def schema_by_guid(self, guid: str) -> SchemaRow | None:
        row = self.conn.execute(
            "SELECT id, schema_type, schema_text, guid FROM schemas WHERE guid = ?", (guid,)
        ).fetchone()
        return SchemaRow(*row) if row else None

    def schema_by_canonical(self, schema_type: str, canonical: str) -> SchemaRow | None:
        row = self.conn.execute(
            "SELECT id, schema_type, schema_text, guid FROM schemas WHERE schema_type = ? AND canonical = ?",
            (schema_type, canonical),
        ).fetchone()
        return SchemaRow(*row) if row else None

    def insert_schema(self, schema_type: str, canonical: str, schema_text: str) -> SchemaRow:
        guid = str(uuid.uuid4())
        cursor = self.conn.execute(
            "INSERT INTO schemas (schema_type, canonical, schema_text, guid) VALUES (?, ?, ?, ?)",
            (schema_type, canonical, schema_text, guid),
        )
        assert cursor.lastrowid is not None
        return SchemaRow(cursor.lastrowid, schema_type, schema_text, guid)

    # --------------------------------------------------------------------------------------- versions
    def versions(self, subject: str) -> list[VersionRow]:
        """Every version of `subject`, soft-deleted ones included, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_VERSION_COLUMNS} WHERE v.subject = ? ORDER BY v.version", (subject,)
        ).fetchall()
        return [_version_row(row) for row in rows]

    def versions_of_schema(self, schema_id: int) -> list[VersionRow]:
        rows = self.conn.execute(
            f"SELECT {_VERSION_COLUMNS} WHERE v.schema_id = ? ORDER BY v.subject, v.version", (schema_id,)
        ).fetchall()
        return [_version_row(row) for row in rows]

    def subjects(self) -> list[tuple[str, bool]]:
        """(subject, has a live version) for every subject with at least one version row."""
        rows = self.conn.execute(
            "SELECT subject, MIN(deleted) FROM subject_versions GROUP BY subject ORDER BY subject"
        ).fetchall()
        return [(subject, not bool(all_deleted)) for subject, all_deleted in rows]

    def subjects_with_deleted_versions(self) -> set[str]:
        rows = self.conn.execute("SELECT DISTINCT subject FROM subject_versions WHERE deleted = 1").fetchall()
        return {subject for (subject,) in rows}

    def insert_version(self, subject: str, version: int, schema_id: int) -> None:
        self.conn.execute(
            "INSERT INTO subject_versions (subject, version, schema_id) VALUES (?, ?, ?)",
            (subject, version, schema_id),
        )

    def soft_delete_version(self, subject: str, version: int) -> None:
        self.conn.execute(
            "UPDATE subject_versions SET deleted = 1 WHERE subject = ? AND version = ?", (subject, version)
        )

    def hard_delete_version(self, subject: str, version: int) -> None:
        self.conn.execute("DELETE FROM subject_versions WHERE subject = ? AND version = ?", (subject, version))

    # ----------------------------------------------------------------------------------------- config
    def global_compatibility(self) -> str | None:
        row = self.conn.execute("SELECT compatibility FROM global_config WHERE singleton = 1").fetchone()
        return str(row[0]) if row else None

    def set_global_compatibility(self, level: str | None) -> None:
        if level is None:
            self.conn.execute("DELETE FROM global_config")
        else:
            self.conn.execute(
                "INSERT INTO global_config (singleton, compatibility) VALUES (1, ?) "
                "ON CONFLICT (singleton) DO UPDATE SET compatibility = excluded.compatibility",
                (level,),
            )

    def subject_compatibility(self, subject: str) -> str | None:
        row = self.conn.execute("SELECT compatibility FROM subject_config WHERE subject = ?", (subject,)).fetchone()
        return str(row[0]) if row else None

    def set_subject_compatibility(self, subject: str, level: str | None) -> None:
        if level is None:
            self.conn.execute("DELETE FROM subject_config WHERE subject = ?", (subject,))
        else:
            self.conn.execute(
                "INSERT INTO subject_config (subject, compatibility) VALUES (?, ?) "
                "ON CONFLICT (subject) DO UPDATE SET compatibility = excluded.compatibility",
                (subject, level),
            )
