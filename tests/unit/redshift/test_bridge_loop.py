"""The bridge's transaction handling against in-memory fakes of confluent-kafka's Consumer and Producer.

The fakes keep one log per topic-partition and a committed offset per partition; a transaction's outputs and
offsets become committed together. `aborted_visible=True` behaves like the local broker (Tansu 0.6), where
read_committed readers still see the output of aborted transactions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from producers.encoding import AvroEncoder, EnvelopeEncoder
from redshift.bridge.decoding import WriterSchemas
from redshift.bridge.ledger import SourcePartition
from redshift.bridge.loop import BridgeError, BridgeOptions, JsonBridge, KafkaClients
from redshift.bridge.settings import BridgeSettings
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema, key_schema
from schemas.envelope import PostgresPosition, build_envelope, postgres_source

pytestmark = pytest.mark.unit

TABLE = load_catalog().table("payment")
TOPIC = TABLE.topic
KEY_ID, VALUE_ID = 1, 2


def event(payment_id: int) -> tuple[bytes, bytes | None]:
    key = AvroEncoder(key_schema(TABLE), KEY_ID).encode({"payment_id": payment_id})
    if payment_id % 5 == 0:
        return key, None  # a tombstone
    if payment_id % 7 == 0:
        return key, b"\x09not avro"  # a dead letter
    position = PostgresPosition(lsn=payment_id, tx_id=1, commit_ts_us=1_700_000_000_000_000)
    source = postgres_source(connector_name="r", database="r", schema="public", table="payment", position=position)
    after = {"payment_id": payment_id, "order_id": 1, "method": "card", "amount": Decimal("1.00"),
             "status": "ok", "paid_at": None}  # fmt: skip
    value = EnvelopeEncoder(envelope_schema(TABLE), VALUE_ID).encode(
        build_envelope("c", before=None, after=after, source=source, processed_at_us=1)
    )
    return key, value


class Message:
    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None = None, value: bytes | None = None,
                 error: KafkaError | None = None) -> None:  # fmt: skip
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._error = key, value, error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def error(self) -> KafkaError | None:
        return self._error


@dataclass
class Broker:
    """Logs, committed group offsets and the outputs readers can see."""

    sources: dict[SourcePartition, list[tuple[bytes, bytes | None]]]
    aborted_visible: bool = False
    committed: dict[SourcePartition, int] = field(default_factory=dict)
    visible: list[tuple[str, int, bytes | None, bytes | None, dict[str, bytes]]] = field(default_factory=list)
    fail_commits: list[KafkaError] = field(default_factory=list)  # errors the next commits raise, in order
    aborts: int = 0

    def written(self, _config: Mapping[str, Any], committed: Mapping[SourcePartition, int],
                timeout_s: float = 0) -> dict[SourcePartition, set[int]]:  # fmt: skip
        """What the ledger would find: source offsets at or past the committed one among the visible outputs."""
        found: dict[SourcePartition, set[int]] = {source: set() for source in committed}
        for _topic, _partition, _key, _value, headers in self.visible:
            source = (headers["cdc.source.topic"].decode(), int(headers["cdc.source.partition"]))
            offset = int(headers["cdc.source.offset"])
            if source in committed and offset >= committed[source]:
                found[source].add(offset)
        return found


class FakeConsumer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.positions: dict[SourcePartition, int] = {}
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.eof_sent: set[SourcePartition] = set()
        self.joined = False

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.callbacks = callbacks

    def consume(self, count: int, timeout: float) -> list[Message]:
        if not self.joined:
            self.joined = True
            self.callbacks["on_assign"](self, [TopicPartition(t, p) for t, p in self.broker.sources])
        batch: list[Message] = []
        for (topic, partition), log in self.broker.sources.items():
            position = self.positions[(topic, partition)]
            while position < len(log) and len(batch) < count:
                key, value = log[position]
                batch.append(Message(topic, partition, position, key, value))
                position += 1
            self.positions[(topic, partition)] = position
            if position == len(log) and (topic, partition) not in self.eof_sent and len(batch) < count:
                self.eof_sent.add((topic, partition))
                batch.append(Message(topic, partition, position, error=KafkaError(KafkaError._PARTITION_EOF)))
        return batch

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.broker.committed.get((tp.topic, tp.partition), -1001))
                for tp in partitions]  # fmt: skip

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions[(tp.topic, tp.partition)] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def seek(self, tp: TopicPartition) -> None:
        self.positions[(tp.topic, tp.partition)] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset
        self.eof_sent.discard((tp.topic, tp.partition))

    def consumer_group_metadata(self) -> object:
        return object()

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, len(self.broker.sources[(tp.topic, tp.partition)])

    def close(self) -> None:
        self.callbacks["on_revoke"](self, [TopicPartition(t, p) for t, p in self.broker.sources])


class FakeProducer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.pending: list[tuple[str, int, bytes | None, bytes | None, dict[str, bytes]]] = []
        self.offsets: list[TopicPartition] = []
        self.in_transaction = False

    def init_transactions(self, timeout: float) -> None:
        pass

    def begin_transaction(self) -> None:
        assert not self.in_transaction
        self.in_transaction = True

    def produce(self, topic: str, value: bytes | None, key: bytes | None, partition: int,
                headers: list[tuple[str, bytes]]) -> None:  # fmt: skip
        assert self.in_transaction
        self.pending.append((topic, partition, key, value, dict(headers)))
        if self.broker.aborted_visible:
            self.broker.visible.append(self.pending[-1])  # the local broker shows data before its transaction ends

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: object, timeout: float) -> None:
        self.offsets = offsets

    def commit_transaction(self, timeout: float) -> None:
        if self.broker.fail_commits:
            raise KafkaException(self.broker.fail_commits.pop(0))
        if not self.broker.aborted_visible:
            self.broker.visible.extend(self.pending)
        for tp in self.offsets:
            self.broker.committed[(tp.topic, tp.partition)] = tp.offset
        self.pending, self.offsets, self.in_transaction = [], [], False

    def abort_transaction(self, timeout: float) -> None:
        self.broker.aborts += 1
        self.pending, self.offsets, self.in_transaction = [], [], False

    def poll(self, timeout: float) -> int:
        return 0

    def close(self) -> bool:
        return True


def abortable() -> KafkaError:
    return KafkaError(KafkaError._STATE, "transaction failed", txn_requires_abort=True)


def run_bridge(broker: Broker, *, batch_size: int = 7) -> JsonBridge:
    schemas = WriterSchemas({KEY_ID: json.dumps(key_schema(TABLE)), VALUE_ID: json.dumps(envelope_schema(TABLE))}.get)
    bridge = JsonBridge(
        {},
        {},
        BridgeOptions(topics=(TOPIC,), batch_size=batch_size, batch_timeout_s=0, stop_when_idle_s=0),
        schemas,
        clients=KafkaClients(
            consumer=lambda _config: FakeConsumer(broker),  # type: ignore[arg-type,return-value]
            producer=lambda _config: FakeProducer(broker),  # type: ignore[arg-type,return-value]
            written=broker.written,
        ),
    )
    bridge.run(threading.Event())
    return bridge


def two_partitions(count: int) -> dict[SourcePartition, list[tuple[bytes, bytes | None]]]:
    return {(TOPIC, p): [event(i) for i in range(p * 1000 + 1, p * 1000 + 1 + count)] for p in (0, 1)}


def sources_seen(broker: Broker) -> list[tuple[int, int]]:
    return sorted((int(h["cdc.source.partition"]), int(h["cdc.source.offset"])) for *_, h in broker.visible)


def test_every_record_is_written_once_with_offsets_committed() -> None:
    broker = Broker(two_partitions(30))
    bridge = run_bridge(broker)
    assert sources_seen(broker) == [(p, o) for p in (0, 1) for o in range(30)]
    assert broker.committed == {(TOPIC, 0): 30, (TOPIC, 1): 30}
    for topic, partition, key, value, headers in broker.visible:
        assert partition == int(headers["cdc.source.partition"])  # same partition as the source record
        source_key, source_value = broker.sources[(TOPIC, partition)][int(headers["cdc.source.offset"])]
        if source_value is None:
            assert (topic, value) == (f"{TOPIC}.json", None)
        elif source_value.startswith(b"\x09"):
            assert (topic, value, key) == (f"{TOPIC}.json.dlq", source_value, source_key)
        else:
            assert topic == f"{TOPIC}.json" and json.loads(value or b"")["op"] == "c"
        if topic.endswith(".json"):
            assert json.loads(key or b"")["payment_id"] == int(headers["cdc.source.offset"]) + 1 + partition * 1000
    progress = bridge.progress.topics[TOPIC]
    assert progress.written == 60 and progress.tombstones == 12 and progress.dead_letters > 0
    assert bridge.progress.state == "stopped" and bridge.progress.aborted == 0


@pytest.mark.parametrize("aborted_visible", [False, True], ids=["kafka", "local-broker"])
def test_an_aborted_transaction_is_rewound_and_nothing_is_lost_or_doubled(aborted_visible: bool) -> None:
    broker = Broker(two_partitions(30), aborted_visible=aborted_visible, fail_commits=[abortable(), abortable()])
    bridge = run_bridge(broker)
    assert sources_seen(broker) == [(p, o) for p in (0, 1) for o in range(30)]
    assert broker.aborts == 2 and bridge.progress.aborted == 2
    assert broker.committed == {(TOPIC, 0): 30, (TOPIC, 1): 30}
    # Local broker: readers saw the first aborted batch, so the retry skips it (and the retry's own abort
    # produced nothing new); on Kafka the aborted outputs are invisible and simply written again.
    assert bridge.progress.skipped == (7 if aborted_visible else 0)


def test_a_restart_after_a_crash_mid_transaction_skips_what_readers_already_see() -> None:
    complete = Broker(two_partitions(20))
    run_bridge(complete)
    # A killed bridge had committed partition 0 up to offset 2, and its open transaction had already made the
    # outputs of offsets 2..5 visible (the local broker shows them even though the transaction never commits).
    broker = Broker(two_partitions(20), aborted_visible=True, committed={(TOPIC, 0): 2})
    broker.visible = [out for out in complete.visible if out[4]["cdc.source.partition"] == b"0"][:6]
    bridge = run_bridge(broker)
    assert sources_seen(broker) == [(p, o) for p in (0, 1) for o in range(20)]
    assert bridge.progress.skipped == 4


def test_a_restart_with_everything_committed_writes_nothing() -> None:
    broker = Broker(two_partitions(10))
    run_bridge(broker)
    before = list(broker.visible)
    bridge = run_bridge(broker)
    assert broker.visible == before and bridge.progress.written == 0


def test_fatal_transaction_errors_stop_the_bridge_with_one_clear_error() -> None:
    fenced = KafkaError(KafkaError._FENCED, "producer fenced by a newer instance", fatal=True)
    broker = Broker(two_partitions(5), fail_commits=[fenced])
    with pytest.raises(BridgeError, match="fenced"):
        run_bridge(broker)
    assert broker.visible == [] and broker.committed == {}


def test_settings_render_exactly_once_client_configs() -> None:
    settings = BridgeSettings(group="g1")
    consumer = settings.consumer_config({"bootstrap.servers": "k:9092"})
    producer = settings.producer_config({"bootstrap.servers": "k:9092"})
    assert consumer["isolation.level"] == "read_committed" and consumer["enable.auto.commit"] is False
    assert consumer["group.id"] == "g1" and consumer["session.timeout.ms"] == 6000
    assert producer["transactional.id"] == "cdc-bridge-g1" and producer["enable.idempotence"] is True
    assert BridgeSettings(group="g1", transactional_id="bridge-a").producer_config({})["transactional.id"] == (
        "bridge-a"
    )
