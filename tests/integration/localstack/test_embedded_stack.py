"""The embedded stack as users drive it: up, use, status, second up, down; and its failure reporting."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from common.errors import StackError
from localstack.paths import LAKE_ZONES, StackPaths
from localstack.ports import LOOPBACK, free_port
from localstack.process import is_alive
from localstack.supervisor import SERVICE_ORDER, EmbeddedStack


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (how we check that `down` leaves nothing behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _produce_and_consume(bootstrap: str) -> list[tuple[bytes, bytes]]:
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)]
    for key, value in sent:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    received: list[tuple[bytes, bytes]] = []
    try:
        consumer.subscribe([topic])
        eof: set[int] = set()
        deadline = time.monotonic() + 30
        while len(eof) < 2 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(message.partition())
                continue
            received.append((message.key(), message.value()))
        consumer.commit(asynchronous=False)
        committed = consumer.committed(consumer.assignment(), timeout=10)
    finally:
        consumer.close()
    assert sum(tp.offset for tp in committed) == len(sent)
    return received


def test_up_use_status_second_up_and_down_leave_nothing_behind(tmp_path: Path) -> None:
    paths = StackPaths.at(tmp_path / "stack")
    stack = EmbeddedStack(paths)
    try:
        state = stack.up()
        assert set(state.services) == set(SERVICE_ORDER)
        assert {row.name: row.health for row in stack.status()} == dict.fromkeys(SERVICE_ORDER, "healthy")
        for zone in LAKE_ZONES:
            assert (paths.lake / zone).is_dir()
        endpoints = state.endpoints
        assert endpoints["LAKE_ROOT"] == str(paths.lake)

        # The broker: idempotent producer, consumer group with commits.
        sent = {(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)}
        assert set(_produce_and_consume(endpoints["KAFKA_BOOTSTRAP_SERVERS"])) == sent

        # PostgreSQL: logical WAL, both databases.
        for key, database in (("SOURCE_DSN", "retail"), ("WAREHOUSE_DSN", "warehouse")):
            with psycopg.connect(endpoints[key]) as conn:
                assert conn.execute("SELECT current_database()").fetchone() == (database,)
                assert conn.execute("SHOW wal_level").fetchone() == ("logical",)

        # A second `up` while running is harmless: same processes, same addresses.
        pids = {name: record.pid for name, record in state.services.items()}
        again = stack.up()
        assert {name: record.pid for name, record in again.services.items()} == pids
        assert again.endpoints == endpoints
    finally:
        stopped = stack.down()
    assert set(stopped) == set(SERVICE_ORDER)
    assert all(not is_alive(pid) for pid in pids.values())
    assert _processes_mentioning(str(paths.home)) == []
    assert {row.health for row in stack.status()} == {"stopped"}

    # Data survives down/up (registry and database are on disk; only the broker is in memory).
    state = stack.up()
    try:
        assert state.endpoints["SOURCE_DSN"] == endpoints["SOURCE_DSN"]
    finally:
        stack.down(purge=True)
    assert not paths.home.exists()


def test_requested_port_in_use_is_reported_and_nothing_is_left_running(tmp_path: Path) -> None:
    paths = StackPaths.at(tmp_path / "stack")
    stack = EmbeddedStack(paths)
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} requested for aws is already in use"):
            stack.up({"aws": port})
    state = stack.state()
    assert state is not None
    # Services started before the failure were stopped again.
    assert all(record.pid is None for record in state.services.values())
    assert _processes_mentioning(str(paths.home)) == []
    stack.down(purge=True)


def test_unknown_service_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown service"):
        EmbeddedStack(StackPaths.at(tmp_path)).up({"zookeeper": free_port()})
