"""Checks run before the engine starts, so a wrong DSN, an unreachable service or a refused schema is one clear line.

Inside the engine the same problems surface as Java stack traces in its log, or as endless retries; asking each
service once up front names the setting to fix instead.
"""

from __future__ import annotations

import psycopg

from common.errors import ConfigError, ServiceUnavailableError
from common.logging import get_logger
from common.settings import redact_dsn
from producers.publish import SchemaCache
from schemas.catalog import Catalog

log = get_logger(__name__)

_CONFIG_PROBLEMS = ("password authentication failed", "does not exist", "no pg_hba.conf entry")


def check_source(dsn: str, catalog: Catalog, *, timeout_s: int = 5) -> None:
    """The source answers, decodes logically and has every catalog table; warns unless ``REPLICA IDENTITY FULL``.

    Without FULL, Debezium sends no ``before`` for updates and, for deletes, the key plus type fillers (0, '')
    for the other columns: the events still encode, but the old row is lost (as with the native capture).
    """
    try:
        connection = psycopg.connect(dsn, connect_timeout=timeout_s, autocommit=True)
    except psycopg.Error as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        problem = f"source database {redact_dsn(dsn)}: {message}"
        if any(marker in message for marker in _CONFIG_PROBLEMS):
            raise ConfigError(f"{problem} (check SOURCE_DSN)") from None
        raise ServiceUnavailableError(f"{problem} (is it running and reachable?)") from None
    with connection:
        row = connection.execute("SHOW wal_level").fetchone()
        if row is None or row[0] != "logical":
            raise ConfigError(
                f"source database {redact_dsn(dsn)} has wal_level={row[0] if row else '?'}; "
                "Debezium needs wal_level=logical"
            )
        rows = connection.execute(
            "SELECT n.nspname || '.' || c.relname, c.relreplident FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY(%s)",
            ([table.qualified_name for table in catalog.tables],),
        ).fetchall()
    identities = {str(name): str(identity) for name, identity in rows}
    _require_tables(dsn, catalog, identities)


def _require_tables(dsn: str, catalog: Catalog, identities: dict[str, str]) -> None:
    missing = [table.qualified_name for table in catalog.tables if table.qualified_name not in identities]
    if missing:
        raise ConfigError(f"source database {redact_dsn(dsn)} lacks catalog table(s) {', '.join(missing)}")
    not_full = sorted(name for name, identity in identities.items() if identity != "f")
    if not_full:
        log.warning(
            "debezium.replica_identity",
            tables=",".join(not_full),
            hint="ALTER TABLE ... REPLICA IDENTITY FULL for complete before images",
        )


def register_schemas(schemas: SchemaCache, catalog: Catalog) -> None:
    """Register every catalog table's key and envelope schema now; a refusal is a SchemaError naming the subject."""
    for table in catalog.tables:
        schemas.codec(table)


def require_kafka(bootstrap_servers: str | None) -> str:
    """The Kafka bootstrap servers, or a ConfigError naming the variable to set."""
    if not bootstrap_servers:
        raise ConfigError("no Kafka bootstrap servers configured (KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers)")
    return bootstrap_servers
