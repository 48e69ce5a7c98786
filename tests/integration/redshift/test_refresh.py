"""The local MV refresher on the stack: JSON topic → staging.mv_<table>, exactly the committed records, resumable."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from producers.topics import ensure_topics
from redshift.refresh import MvRefresher, TableRefresh
from schemas.catalog import Catalog
from tests.support.sourcedb import catalog_copy, isolated_database

# ADR 0010 decision 2, PostgreSQL types, in the contract's column order.
MV_DDL = """CREATE TABLE staging.mv_{table} (
    kafka_partition INT,
    kafka_offset BIGINT,
    kafka_timestamp_type CHAR(1),
    kafka_timestamp TIMESTAMP,
    kafka_key VARCHAR(1024),
    payload JSONB,
    refresh_time TIMESTAMP
)"""
PARTITIONS = 3
T0 = 1_790_000_000_000  # a fixed CreateTime (ms) so timestamps can be compared exactly


@pytest.fixture
def warehouse(stack_endpoints: dict[str, str]) -> Iterator[str]:
    with isolated_database(stack_endpoints["WAREHOUSE_DSN"], "mv") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA staging")
            for table in ("customer", "product"):
                conn.execute(MV_DDL.format(table=table))  # type: ignore[arg-type]
        yield dsn


@pytest.fixture
def catalog(tmp_path: Path, stack_endpoints: dict[str, str]) -> tuple[Catalog, Path]:
    loaded, path = catalog_copy(tmp_path)
    servers = {"bootstrap.servers": stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]}
    ensure_topics(servers, [f"{loaded.table('customer').topic}.json"], partitions=PARTITIONS, replication=1)
    return loaded, path


class JsonTopic:
    """A transactional producer on one `.json` topic that remembers where each committed record landed."""

    def __init__(self, servers: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer(
            {"bootstrap.servers": servers, "transactional.id": f"test-{uuid.uuid4().hex[:8]}", "linger.ms": 5}
        )
        self.producer.init_transactions(30)
        self.committed: dict[tuple[int, int], tuple[str | None, bytes | None]] = {}
        self.next_id = 1

    def send(self, count: int, *, commit: bool = True, extra: list[tuple[str, bytes | None]] | None = None) -> None:
        pending: dict[tuple[int, int], tuple[str | None, bytes | None]] = {}

        def delivered(error: Any, message: Any) -> None:
            assert error is None, error
            pending[(message.partition(), message.offset())] = (
                message.key().decode() if message.key() is not None else None,
                message.value(),
            )

        records: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            key = json.dumps({"customer_id": self.next_id}, separators=(",", ":"))
            value = {"before": None, "after": {"customer_id": self.next_id, "segment": "retail"}, "op": "c"}
            records.append((key, json.dumps(value).encode()))
            self.next_id += 1
        records.extend(extra or [])
        self.producer.begin_transaction()
        for key, value in records:
            self.producer.produce(self.topic, key=key.encode(), value=value, timestamp=T0, on_delivery=delivered)
        self.producer.flush(30)
        if commit:
            self.producer.commit_transaction(30)
            self.committed.update(pending)
        else:
            self.producer.abort_transaction(30)


def mv_rows(dsn: str, table: str = "customer") -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT kafka_partition, kafka_offset, kafka_timestamp_type, kafka_timestamp, kafka_key, payload, "
            f"refresh_time FROM staging.mv_{table} ORDER BY kafka_partition, kafka_offset"
        ).fetchall()


def refresher(dsn: str, servers: str, catalog: Catalog, **options: Any) -> tuple[MvRefresher, psycopg.Connection[Any]]:
    conn = psycopg.connect(dsn, autocommit=True)
    return MvRefresher(conn, {"bootstrap.servers": servers}, catalog, eof_timeout_seconds=30, **options), conn


def test_refresh_appends_exactly_the_committed_records_and_resumes(
    warehouse: str, catalog: tuple[Catalog, Path], stack_endpoints: dict[str, str]
) -> None:
    loaded, _ = catalog
    servers = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    topic = JsonTopic(servers, f"{loaded.table('customer').topic}.json")
    tombstone_key = json.dumps({"customer_id": 1}, separators=(",", ":"))
    topic.send(40, extra=[(tombstone_key, None), ('{"customer_id":2}', b"not json {")])
    topic.send(5)

    first, conn = refresher(warehouse, servers, loaded)
    with conn:
        report = first.refresh(["customer", "product"])
    by_table = {result.table: result for result in report.tables}
    assert by_table["product"].skipped == "topic missing"
    customer = by_table["customer"]
    assert (customer.rows, customer.tombstones, customer.unreadable) == (47, 1, 1)
    assert customer.start_offsets == dict.fromkeys(range(PARTITIONS), 0)

    rows = mv_rows(warehouse)
    assert {(row[0], row[1]) for row in rows} == set(topic.committed)
    assert len(rows) == 47
    for partition, offset, kind, timestamp, key, payload, refreshed in rows:
        expected_key, expected_value = topic.committed[(partition, offset)]
        assert kind == "C" and timestamp == datetime(1970, 1, 1) + timedelta(milliseconds=T0)  # naive UTC
        assert key == expected_key
        assert isinstance(refreshed, datetime)
        if expected_value is None or expected_value == b"not json {":
            assert payload is None  # tombstone, or a value CAN_JSON_PARSE would refuse
        else:
            assert payload == json.loads(expected_value)

    # More records, a crash between COPY and commit, then a fresh refresher: exactly once.
    ends = {p: max(o for (q, o) in topic.committed if q == p) for p in range(PARTITIONS)}
    topic.send(30)

    def crash(result: TableRefresh) -> None:
        assert result.rows == 30
        raise RuntimeError("killed between COPY and commit")

    crashing, conn = refresher(warehouse, servers, loaded, before_commit=crash)
    with conn, pytest.raises(RuntimeError, match="killed between COPY and commit"):
        crashing.refresh(["customer"])
    assert len(mv_rows(warehouse)) == 47

    again, conn = refresher(warehouse, servers, loaded)
    with conn:
        (resumed,) = again.refresh(["customer"]).tables
        assert resumed.rows == 30
        assert resumed.start_offsets == {p: ends[p] + 1 for p in range(PARTITIONS)}  # where the table ended
        (idle,) = again.refresh(["customer"]).tables
        assert idle.rows == 0
        last = {p: max(o for (q, o) in topic.committed if q == p) for p in range(PARTITIONS)}
        assert idle.start_offsets == {p: last[p] + 1 for p in range(PARTITIONS)}
    rows = mv_rows(warehouse)
    assert len(rows) == len({(row[0], row[1]) for row in rows}) == len(topic.committed) == 77


@pytest.mark.xfail(
    reason="the embedded broker (Tansu) returns aborted transactional records to read_committed consumers; "
    "real Kafka/MSK filters them (this passes against the compose or an external stack)",
    strict=False,
)
def test_aborted_transactions_are_not_appended(
    warehouse: str, catalog: tuple[Catalog, Path], stack_endpoints: dict[str, str]
) -> None:
    loaded, _ = catalog
    servers = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    topic = JsonTopic(servers, f"{loaded.table('customer').topic}.json")
    topic.send(5)
    topic.send(10, commit=False)
    topic.send(5)
    aborted, conn = refresher(warehouse, servers, loaded)
    with conn:
        aborted.refresh(["customer"])
    assert {(row[0], row[1]) for row in mv_rows(warehouse)} == set(topic.committed)


def test_refresh_cap_per_table_and_missing_tables(
    warehouse: str, catalog: tuple[Catalog, Path], stack_endpoints: dict[str, str]
) -> None:
    loaded, _ = catalog
    servers = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    JsonTopic(servers, f"{loaded.table('customer').topic}.json").send(25)
    capped, conn = refresher(warehouse, servers, loaded, max_records_per_table=10)
    with conn:
        counts = [capped.refresh(["customer"]).tables[0].rows for _ in range(4)]
        report = capped.refresh()
    assert counts == [10, 10, 5, 0]
    assert len(mv_rows(warehouse)) == 25
    skipped = {result.table: result.skipped for result in report.tables if result.skipped}
    assert skipped == {
        "product": "topic missing",
        "orders": "no MV table",
        "order_item": "no MV table",
        "payment": "no MV table",
        "shipment": "no MV table",
    }
    assert "skipped" in report.summary()


def test_cli_refresh(
    warehouse: str,
    catalog: tuple[Catalog, Path],
    stack_endpoints: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli import main as cli_main
    from cli import warehouse_commands

    if not any(group.name == "warehouse" for group in cli_main.app.registered_groups):
        monkeypatch.setattr(cli_main.app, "registered_groups", list(cli_main.app.registered_groups))
        cli_main.app.add_typer(warehouse_commands.app, name="warehouse")
    monkeypatch.setenv("CDC_HOME", str(tmp_path / "home"))
    loaded, path = catalog
    servers = stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"]
    JsonTopic(servers, f"{loaded.table('customer').topic}.json").send(12)
    argv = ["warehouse", "refresh", "--catalog", str(path), "--warehouse-dsn", warehouse]
    assert cli_main.main([*argv, "--bootstrap-servers", servers, "--tables", "customer"]) == 0
    out = capsys.readouterr().out
    assert "12 row(s) appended to 1 MV table(s)" in out
    assert len(mv_rows(warehouse)) == 12

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert cli_main.main(argv) == 2
    assert "no Kafka configured: set KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
