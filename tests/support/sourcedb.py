"""Isolated source databases and catalog copies for tests that share one stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from schemas.catalog import Catalog, load_catalog

CATALOG_FILE = Path(__file__).resolve().parents[2] / "schemas" / "catalog.toml"


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def isolated_database(dsn: str, prefix: str = "t") -> Iterator[str]:
    """A fresh database on the stack's PostgreSQL; dropped afterwards (with its replication slots)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_dsn = with_database(dsn, "postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(dsn, name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            _drop_slots(admin, name)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _drop_slots(admin: psycopg.Connection[Any], database: str, timeout: float = 15.0) -> None:
    """Drop the database's replication slots. A walsender whose backend was just terminated may still hold its
    slot for a moment ("is active for PID"), so terminate and try again until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        try:
            for (slot,) in admin.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (database,)
            ).fetchall():
                admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def catalog_copy(folder: Path, prefix: str | None = None) -> tuple[Catalog, Path]:
    """The project catalog under a unique topic prefix, so topics and subjects do not collide between tests."""
    prefix = prefix or f"t{uuid.uuid4().hex[:8]}"
    path = folder / f"catalog-{prefix}.toml"
    path.write_text(CATALOG_FILE.read_text().replace('topic_prefix = "retail"', f'topic_prefix = "{prefix}"'))
    return load_catalog(path), path


def create_source_tables(dsn: str, catalog: Catalog) -> None:
    """The catalog's tables with REPLICA IDENTITY FULL (what `cdc workload init` does)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in catalog.tables:
            conn.execute(table.postgres_ddl())  # type: ignore[arg-type]
            conn.execute(
                sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(sql.Identifier(table.source_schema, table.name))
            )
