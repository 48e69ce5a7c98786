"""Wiring for ``cdc capture --source debezium``: settings + catalog in, a ready :class:`DebeziumCapture` out.

The CLI composition root calls :func:`build_debezium_capture` and then ``run(stop_event, on_progress=...,
stop_when_idle=...)``. Building connects nothing; the checks (database, Kafka topics, schema registration) run at
the start of ``run``. :func:`reset_debezium_capture` forgets the capture's position (``--reset``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import psycopg
from confluent_kafka import Producer

from common.errors import CdcError, ConfigError
from common.logging import get_logger
from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.debezium.config import (
    DEFAULT_SLOT,
    DebeziumOptions,
    engine_properties,
    offsets_path,
    parse_source_dsn,
)
from producers.capture.debezium.convert import EventConverter
from producers.capture.debezium.engine import DebeziumCapture, DebeziumChangeHandler
from producers.capture.debezium.preflight import check_source, register_schemas, require_kafka
from producers.publish import ChangePublisher, SchemaCache, producer_config
from producers.topics import ensure_topics
from schemas.catalog import Catalog, Table
from schemas.registry import SchemaRegistry

log = get_logger(__name__)


def build_debezium_capture(
    catalog: Catalog,
    kafka: KafkaSettings,
    registry: SchemaRegistrySettings,
    source_dsn: str,
    state_dir: Path,
    *,
    slot_name: str | None = None,
    publication_name: str | None = None,
    partitions: int = 1,
    replication: int = 1,
    tables: Sequence[Table] | None = None,
    options: DebeziumOptions | None = None,
) -> DebeziumCapture:
    """A capture of the catalog's tables (or only ``tables``) through the Debezium engine, to the catalog's topics.

    ``state_dir`` holds the engine's offsets (``offsets.dat``) and its log4j configuration; keep one per slot.
    ``slot_name``/``publication_name`` override ``options`` (defaults ``cdc_debezium``/``cdc_debezium_pub``).
    """
    if tables is not None:
        catalog = catalog.model_copy(update={"tables": tuple(tables)})
    options = options or DebeziumOptions()
    options = dataclasses.replace(
        options,
        slot_name=slot_name or options.slot_name,
        publication_name=publication_name or options.publication_name,
    )
    bootstrap = require_kafka(kafka.bootstrap_servers)
    properties = engine_properties(catalog, parse_source_dsn(source_dsn), state_dir, options)
    schema_registry = SchemaRegistry(registry)
    schemas = SchemaCache(schema_registry)
    publisher = ChangePublisher(Producer(producer_config(kafka)), schemas)  # shares the preflight's cache
    handler = DebeziumChangeHandler(EventConverter(catalog), publisher)
    admin_config = {**kafka.librdkafka_config(), "bootstrap.servers": bootstrap}
    topics = [table.topic for table in catalog.tables]
    return DebeziumCapture(
        properties,
        handler,
        state_dir,
        preflight=(
            partial(check_source, source_dsn, catalog),
            partial(ensure_topics, admin_config, topics, partitions=partitions, replication=replication),
            partial(register_schemas, schemas, catalog),
        ),
        log_level=options.log_level,
        on_close=partial(_close_outputs, publisher, schema_registry),
    )


def _close_outputs(publisher: ChangePublisher, registry: SchemaRegistry) -> None:
    """Release the Kafka and registry clients without masking the run's own outcome.

    Whatever is still queued belongs to a batch that failed, whose offsets were never committed, so a short
    wait is enough; a failure here is logged, not raised.
    """
    try:
        publisher.close(timeout=5.0)
    except CdcError as exc:
        log.warning("debezium.publisher.close", error=str(exc))
    finally:
        registry.close()


def reset_debezium_capture(source_dsn: str, state_dir: Path, slot_name: str = DEFAULT_SLOT) -> list[str]:
    """Forget where the capture was, so its next run takes a new snapshot: drop its slot and its offsets file.

    Returns what was removed. Refuses while the slot is in use (a capture is running).
    """
    removed: list[str] = []
    with psycopg.connect(source_dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot_name,)
        ).fetchone()
        if row is not None and row[0]:
            raise ConfigError(f"replication slot {slot_name} is in use: stop the running capture first")
        if row is not None:
            connection.execute("SELECT pg_drop_replication_slot(%s)", (slot_name,))
            removed.append(f"slot {slot_name}")
    offsets = offsets_path(state_dir)
    if offsets.exists():
        offsets.unlink()
        removed.append(str(offsets))
    return removed
