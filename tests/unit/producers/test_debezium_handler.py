"""The engine batch handler's no-loss rules and the runner's error paths, without a JVM or Kafka."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from common.errors import ConfigError, ServiceUnavailableError
from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.debezium.capture import build_debezium_capture
from producers.capture.debezium.convert import CapturedChange, EventConversionError, EventConverter
from producers.capture.debezium.engine import (
    CaptureStoppedError,
    DebeziumCapture,
    DebeziumChangeHandler,
    DebeziumProgress,
    _is_interruption,
    phase_after,
)
from producers.capture.debezium.preflight import _require_tables
from schemas.catalog import Column, Table, load_catalog

FIXTURES = Path(__file__).with_name("fixtures")


class Record:
    """Stands in for the engine's ChangeEvent (key/value JSON text, Debezium topic)."""

    def __init__(self, name: str) -> None:
        document = json.loads((FIXTURES / f"debezium_{name}.json").read_text())
        self._destination = document["destination"]
        self._key = None if document["key"] is None else json.dumps(document["key"], separators=(",", ":"))
        self._value = None if document["value"] is None else json.dumps(document["value"], separators=(",", ":"))

    def destination(self) -> str:
        return self._destination

    def key(self) -> str | None:
        return self._key

    def value(self) -> str | None:
        return self._value


class FakeSink:
    """Records the calls a ChangePublisher would get; can fail on flush or publish."""

    def __init__(self, *, fail_flush: Exception | None = None, fail_publish: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_flush = fail_flush
        self.fail_publish = fail_publish

    def publish(
        self,
        table: Table,
        key: Mapping[str, Any],
        envelope: Mapping[str, Any] | None,
        *,
        position: int,
        columns: Sequence[Column] | None = None,
    ) -> None:
        if self.fail_publish is not None:
            raise self.fail_publish
        self.calls.append(("publish", table.topic, dict(key), None if envelope is None else envelope["op"], position))

    def seal(self, position: int) -> None:
        self.calls.append(("seal", position))

    def flush(self, timeout: float = 30.0) -> None:
        self.calls.append(("flush",))
        if self.fail_flush is not None:
            raise self.fail_flush


def handler(sink: FakeSink) -> DebeziumChangeHandler:
    return DebeziumChangeHandler(EventConverter(load_catalog()), sink)


STREAM = ["heartbeat", "orders_create", "orders_update", "orders_delete", "orders_tombstone", "customer_update"]


def test_batch_is_published_sealed_and_flushed_before_returning() -> None:
    sink = FakeSink()
    capture = handler(sink)
    capture.handleJsonBatch([Record("customer_read"), Record("product_read")])
    capture.handleJsonBatch([Record(name) for name in STREAM])
    assert sink.calls == [
        ("publish", "retail.customer.cdc", {"customer_id": 1}, "r", 1),
        ("publish", "retail.product.cdc", {"product_id": 7}, "r", 1),
        ("seal", 1),
        ("flush",),
        ("publish", "retail.orders.cdc", {"order_id": 5}, "c", 2),
        ("publish", "retail.orders.cdc", {"order_id": 5}, "u", 2),
        ("publish", "retail.orders.cdc", {"order_id": 5}, "d", 2),
        ("publish", "retail.orders.cdc", {"order_id": 5}, None, 2),
        ("publish", "retail.customer.cdc", {"customer_id": 1}, "u", 2),
        ("seal", 2),
        ("flush",),
    ]
    progress = capture.progress
    assert progress.events_by_table == {"customer": 2, "product": 1, "orders": 4}
    assert (progress.events, progress.tombstones, progress.skipped, progress.batches) == (7, 1, 1, 2)
    last = json.loads((FIXTURES / "debezium_customer_update.json").read_text())["value"]["payload"]["source"]["lsn"]
    assert progress.last_lsn == last


def test_failed_flush_raises_counts_nothing_and_refuses_later_batches() -> None:
    sink = FakeSink(fail_flush=ServiceUnavailableError("Kafka did not confirm 1 events within 30s"))
    capture = handler(sink)
    with pytest.raises(ServiceUnavailableError):
        capture.handleJsonBatch([Record("orders_create")])
    assert capture.progress.events == 0
    assert isinstance(capture.failure, ServiceUnavailableError)
    sink.fail_flush = None
    sink.calls.clear()
    with pytest.raises(CaptureStoppedError):
        capture.handleJsonBatch([Record("orders_update")])
    assert sink.calls == []  # nothing published after the failure, so no offset can move past it


def test_encoding_problem_names_the_table_and_position() -> None:
    capture = handler(FakeSink(fail_publish=ValueError("no value and no default for total_amount")))
    with pytest.raises(EventConversionError, match=r"table orders: c event at lsn \d+ does not fit"):
        capture.handleJsonBatch([Record("orders_create")])


def test_unknown_tables_are_skipped_and_counted() -> None:
    record = Record("orders_create")
    record._destination = "retail.public.audit"
    record._value = (record._value or "").replace('"table":"orders"', '"table":"audit"')
    sink = FakeSink()
    capture = handler(sink)
    capture.handleJsonBatch([record, record])
    assert [call[0] for call in sink.calls] == ["seal", "flush"]
    assert capture.progress.skipped == 2


def test_events_per_second() -> None:
    progress = DebeziumProgress(events_by_table={"orders": 50}, started_at=100.0)
    assert progress.events_per_second(now=110.0) == 5.0
    assert DebeziumProgress().events_per_second() == 0.0


def test_phase_follows_snapshot_markers_then_streaming() -> None:
    sink = FakeSink()
    capture = handler(sink)
    assert capture.progress.phase == "starting"
    capture.handleJsonBatch([Record("customer_read")])  # snapshot marker "first"
    assert capture.progress.phase == "snapshot"
    capture.handleJsonBatch([Record("product_read")])  # "last": the snapshot is over
    assert capture.progress.phase == "streaming"
    tombstone = Record("orders_tombstone")
    change = EventConverter(load_catalog()).convert(tombstone.destination(), tombstone.key(), tombstone.value())
    assert isinstance(change, CapturedChange)
    assert phase_after("snapshot", change) == "snapshot"  # a tombstone does not change the phase


def test_shared_progress_for_the_cli_is_keyed_by_topic() -> None:
    capture = handler(FakeSink())
    capture.handleJsonBatch([Record(name) for name in STREAM])
    shared = capture.progress.as_capture_progress()
    assert shared.source == "debezium"
    assert shared.phase == "streaming"
    assert dict(shared.events_by_table) == {"retail.orders.cdc": 4, "retail.customer.cdc": 1}
    assert shared.events == 5
    assert shared.last_lsn == shared.acknowledged == capture.progress.last_lsn


def test_runner_reports_preflight_errors_before_starting_the_jvm(tmp_path: Path) -> None:
    closed: list[bool] = []

    def refuse() -> None:
        raise ConfigError("source database postgresql://cdc:***@h/x: password authentication failed")

    runner = DebeziumCapture(
        {}, handler(FakeSink()), tmp_path / "state", preflight=[refuse], on_close=lambda: closed.append(True)
    )
    with pytest.raises(ConfigError, match="password authentication failed"):
        runner.run()
    assert closed == [True]
    assert not (tmp_path / "state").exists()


def test_build_needs_kafka_bootstrap_servers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        build_debezium_capture(
            load_catalog(),
            KafkaSettings(bootstrap_servers=None),
            SchemaRegistrySettings(url="http://127.0.0.1:1"),
            "postgresql://cdc:pw@127.0.0.1:5432/retail",
            tmp_path,
        )


def test_build_needs_a_registry_url(tmp_path: Path) -> None:
    with pytest.raises(ServiceUnavailableError, match="SCHEMA_REGISTRY_URL"):
        build_debezium_capture(
            load_catalog(),
            KafkaSettings(bootstrap_servers="127.0.0.1:1"),
            SchemaRegistrySettings(url=None),
            "postgresql://cdc:pw@127.0.0.1:5432/retail",
            tmp_path,
        )


def test_build_wires_without_connecting(tmp_path: Path) -> None:
    catalog = load_catalog()
    capture = build_debezium_capture(
        catalog,
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        SchemaRegistrySettings(url="http://127.0.0.1:1"),
        "postgresql://cdc:pw@127.0.0.1:5432/retail",
        tmp_path,
        slot_name="dbz_test",
        tables=[catalog.table("orders"), catalog.table("payment")],
    )
    assert capture.progress.events == 0
    assert not tmp_path.joinpath("offsets.dat").exists()
    properties = capture._properties
    assert properties["slot.name"] == "dbz_test"
    assert properties["publication.name"] == "cdc_debezium_pub"
    assert properties["table.include.list"] == r"public\.orders,public\.payment"


def test_missing_catalog_tables_are_a_config_error() -> None:
    catalog = load_catalog()
    identities = {table.qualified_name: "f" for table in catalog.tables[1:]}
    with pytest.raises(ConfigError, match=r"lacks catalog table\(s\) public\.customer"):
        _require_tables("postgresql://cdc:pw@h/retail", catalog, identities)


def test_replica_identity_other_than_full_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    catalog = load_catalog()
    identities = {table.qualified_name: "f" for table in catalog.tables}
    identities["public.orders"] = "d"
    with caplog.at_level("WARNING"):
        _require_tables("postgresql://cdc:pw@h/retail", catalog, identities)
    assert [record.getMessage() for record in caplog.records] == ["debezium.replica_identity"]


class _JavaInterrupted(Exception):
    """Stands in for JPype's exception class, whose name is the Java class name."""


_JavaInterrupted.__name__ = "java.lang.InterruptedException"


def test_an_interruption_while_stopping_is_recognised_through_the_cause_chain() -> None:
    wrapped = RuntimeError("batch failed")
    wrapped.__cause__ = _JavaInterrupted("java.lang.InterruptedException")
    assert _is_interruption(wrapped)
    assert not _is_interruption(RuntimeError("connection refused"))
