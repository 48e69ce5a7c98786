"""The bridge's I/O shell: a transactional consume-transform-produce loop over confluent-kafka.

Per batch: consume up to N records (or wait T ms), turn each into its JSON twin or dead letter
(:func:`~redshift.bridge.records.bridge_record`), then in one Kafka transaction produce them to the source
record's partition number, send the consumed offsets with the consumer's group metadata
(``send_offsets_to_transaction``) and commit. Outputs and progress become visible together or not at all.

* ``init_transactions`` runs once, before the consumer joins its group: with the stable transactional id it
  fences a previous incarnation and aborts the transaction that one left open, so the committed offsets the
  consumer then reads are final.
* On an abortable error the transaction is aborted and the batch's partitions are rewound to their committed
  offsets; a fatal error (e.g. fenced by another instance with the same transactional id) stops the bridge.
* On assignment (and after an abort) the tails of the outputs are read back (:mod:`redshift.bridge.ledger`), so a
  broker that lets readers see aborted output (the local one) still ends with every record exactly once.
* A registry outage stops the bridge before the transaction begins: nothing of that batch is committed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from common.errors import CdcError, ServiceUnavailableError
from common.logging import get_logger
from common.metrics import NULL_SINK, IntervalMeter, MetricsSink
from redshift.bridge.decoding import WriterSchemas
from redshift.bridge.ledger import SourcePartition, written_offsets
from redshift.bridge.progress import BridgeProgress
from redshift.bridge.records import OutputRecord, SourceRecord, bridge_record, headers_of

log = get_logger(__name__)

T = TypeVar("T")
REPORT_EVERY_S: Final = 1.0


class BridgeError(CdcError):
    """Kafka refused the bridge for good (fenced, unauthorised, misconfigured); nothing uncommitted is kept."""


@dataclass(frozen=True)
class BridgeOptions:
    """What to bridge and how to batch it."""

    topics: tuple[str, ...]
    batch_size: int = 2000
    batch_timeout_s: float = 0.5
    stop_when_idle_s: float | None = None  # stop once every partition is read to its end for this long
    request_timeout_s: float = 60.0


def _retriable(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException) or not exc.args or not isinstance(exc.args[0], KafkaError):
        return False
    error = exc.args[0]
    return bool(error.retriable()) and not error.txn_requires_abort() and not error.fatal()


def _describe(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


@dataclass(frozen=True)
class KafkaClients:
    """How the bridge gets its Kafka clients (tests hand in fakes)."""

    consumer: Callable[[dict[str, Any]], Consumer] = Consumer
    producer: Callable[[dict[str, Any]], Producer] = Producer
    written: Callable[..., dict[SourcePartition, set[int]]] = written_offsets


class JsonBridge:
    """Bridges Avro CDC topics to their `.json` twins, exactly once, until stopped (or idle)."""

    def __init__(
        self,
        consumer_config: Mapping[str, Any],
        producer_config: Mapping[str, Any],
        options: BridgeOptions,
        schemas: WriterSchemas,
        on_progress: Callable[[BridgeProgress], None] | None = None,
        clients: KafkaClients | None = None,
        metrics: MetricsSink = NULL_SINK,
    ) -> None:
        self._consumer_config = dict(consumer_config)
        self._producer_config = dict(producer_config)
        self.options = options
        self._schemas = schemas
        self._clients = clients or KafkaClients()
        self._on_progress = on_progress or (lambda _progress: None)
        self.progress = BridgeProgress.for_topics(options.topics)
        self._assigned: set[SourcePartition] = set()
        self._skip: dict[SourcePartition, set[int]] = {}
        self._last_activity = time.monotonic()
        self._last_report = 0.0
        self._closing = False
        self._metrics = metrics
        self._meter = IntervalMeter(metrics.interval_s)

    # -- the loop ------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> BridgeProgress:
        """Bridge until `stop` is set (or, with `stop_when_idle_s`, until caught up and idle)."""
        producer = self._clients.producer(self._producer_config)
        try:
            self._call("initialise transactions", producer.init_transactions, self.options.request_timeout_s)
            consumer = self._clients.consumer(self._consumer_config)
            try:
                self.progress.state = "joining"
                consumer.subscribe(
                    list(self.options.topics),
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_revoke,
                )
                while not stop.is_set():
                    try:
                        messages = consumer.consume(self.options.batch_size, self.options.batch_timeout_s)
                    except KafkaException as exc:
                        raise BridgeError(f"Kafka consumer failed: {_describe(exc)}") from None
                    batch = self._accept(messages)
                    if batch:
                        self._process(batch, producer, consumer)
                    self._report(consumer)
                    if self._idle_enough():
                        break
            finally:
                self._closing = True  # leaving the group revokes everything: keep the last view of the partitions
                consumer.close()
        finally:
            producer.close()
        self.progress.state = "stopped"
        self._emit_metrics(time.monotonic(), force=True)
        self._on_progress(self.progress)
        return self.progress

    def _accept(self, messages: Sequence[Message]) -> list[Message]:
        """The data records of still-assigned partitions; end-of-partition events update the progress."""
        now = time.monotonic()
        batch = []
        for message in messages:
            topic, partition = str(message.topic()), int(message.partition() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if (topic, partition) in self._assigned:
                        self.progress.reached_end(topic, partition, int(message.offset() or 0))
                elif error.fatal():
                    raise BridgeError(f"Kafka consumer failed: {error.str()}")
                else:
                    log.warning("bridge.consumer_error", topic=topic, partition=partition, error=error.str())
                continue
            if (topic, partition) not in self._assigned:
                continue  # revoked while this batch was fetched: its new owner reads it from the committed offset
            batch.append(message)
            self.progress.consumed(topic, partition, int(message.offset() or 0) + 1, now)
        if batch:
            self._last_activity = now
            self.progress.state = "running"
        return batch

    def _process(self, batch: list[Message], producer: Producer, consumer: Consumer) -> None:
        outputs: list[OutputRecord] = []
        skipped: Counter[str] = Counter()
        next_offsets: dict[SourcePartition, int] = {}
        for message in batch:
            topic, partition, offset = str(message.topic()), int(message.partition() or 0), int(message.offset() or 0)
            next_offsets[(topic, partition)] = offset + 1
            already = self._skip.get((topic, partition))
            if already and offset in already:
                already.discard(offset)  # written by an earlier run whose transaction the broker let readers see
                skipped[topic] += 1
                continue
            record = SourceRecord(
                topic, partition, offset, message.key(), message.value(), headers_of(message.headers())
            )
            outputs.append(bridge_record(record, self._schemas))
        started = time.monotonic()
        if self._transact(producer, consumer, outputs, next_offsets):
            now = time.monotonic()
            self.progress.committed(outputs, skipped, now)
            log.debug("bridge.committed", records=len(batch), written=len(outputs), ms=round((now - started) * 1000))

    def _transact(
        self,
        producer: Producer,
        consumer: Consumer,
        outputs: list[OutputRecord],
        next_offsets: dict[SourcePartition, int],
    ) -> bool:
        """Produce and commit one batch atomically with its offsets; False when it was aborted and rewound."""
        timeout = self.options.request_timeout_s
        try:
            self._call("begin a transaction", producer.begin_transaction)
            for output in outputs:
                self._produce(producer, output)
            offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
            self._call(
                "send offsets to the transaction",
                producer.send_offsets_to_transaction,
                offsets,
                consumer.consumer_group_metadata(),
                timeout,
            )
            self._call("commit the transaction", producer.commit_transaction, timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or not error.txn_requires_abort():
                raise BridgeError(f"Kafka transaction failed: {_describe(exc)}") from None
            log.warning("bridge.transaction_aborted", reason=error.str(), records=len(outputs))
            self._call("abort the transaction", producer.abort_transaction, timeout)
            self.progress.aborted += 1
            self._rewind(consumer, list(next_offsets))
            return False
        return True

    @staticmethod
    def _produce(producer: Producer, output: OutputRecord) -> None:
        while True:
            try:
                producer.produce(
                    output.topic,
                    value=output.value,
                    key=output.key,
                    partition=output.partition,
                    headers=output.headers,
                )
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
            else:
                return

    def _call(self, what: str, call: Callable[..., T], *args: Any) -> T:
        """Retry Kafka's retriable errors with backoff; fatal ones become one BridgeError line."""
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_retriable),
                stop=stop_after_attempt(5),
                wait=wait_exponential(multiplier=0.2, max=5),
                reraise=True,
            ):
                with attempt:
                    return call(*args)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.txn_requires_abort():
                raise
            if isinstance(error, KafkaError) and error.retriable():
                raise ServiceUnavailableError(f"Kafka did not let the bridge {what}: {_describe(exc)}") from None
            raise BridgeError(f"Kafka refused to let the bridge {what}: {_describe(exc)}") from None
        raise AssertionError("unreachable: Retrying either returns or raises")  # pragma: no cover

    # -- where to read from ----------------------------------------------------------------------------------

    def _start_positions(self, consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Committed offsets (the beginning where none), and the source offsets past them already written."""
        try:
            committed = consumer.committed(partitions, timeout=self.options.request_timeout_s)
        except KafkaException as exc:
            raise ServiceUnavailableError(f"could not read the bridge's committed offsets: {_describe(exc)}") from None
        starts = {(tp.topic, tp.partition): tp.offset for tp in committed}
        written = self._clients.written(
            self._consumer_config,
            {source: max(offset, 0) for source, offset in starts.items()},
            timeout_s=self.options.request_timeout_s,
        )
        for source, offsets in written.items():
            self._skip[source] = offsets
            if offsets:
                log.info("bridge.already_written", topic=source[0], partition=source[1], records=len(offsets))
        return [
            TopicPartition(topic, partition, offset if offset >= 0 else OFFSET_BEGINNING)
            for (topic, partition), offset in starts.items()
        ]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        positions = self._start_positions(consumer, partitions)
        consumer.assign(positions)
        self._assigned.update((tp.topic, tp.partition) for tp in positions)
        self.progress.assigned((tp.topic, tp.partition, tp.offset if tp.offset >= 0 else None) for tp in positions)
        self.progress.state = "running"
        self._last_activity = time.monotonic()
        log.info("bridge.assigned", partitions=len(positions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = [(tp.topic, tp.partition) for tp in partitions]
        self._assigned.difference_update(gone)
        for source in gone:
            self._skip.pop(source, None)
        if not self._closing:
            self.progress.revoked(gone)

    def _rewind(self, consumer: Consumer, sources: list[SourcePartition]) -> None:
        """After an abort: read the batch's partitions again from what was committed (minus what is written)."""
        positions = self._start_positions(consumer, [TopicPartition(topic, partition) for topic, partition in sources])
        for position in positions:
            try:
                consumer.seek(position)
            except KafkaException as exc:
                raise BridgeError(
                    f"could not rewind {position.topic}[{position.partition}] after an aborted transaction: "
                    f"{_describe(exc)}"
                ) from None
        self.progress.rewound((tp.topic, tp.partition, max(tp.offset, 0)) for tp in positions)

    # -- progress ----------------------------------------------------------------------------------------------

    def _report(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_report < REPORT_EVERY_S:
            return
        self._last_report = now
        for topic, partition in self._assigned:
            found = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if found is not None and found[1] >= 0:
                self.progress.high_watermark(topic, partition, found[1])
        if self.progress.state == "running" and self.progress.all_at_end():
            self.progress.state = "idle"
        self._emit_metrics(now)
        self._on_progress(self.progress)

    def _emit_metrics(self, now: float, *, force: bool = False) -> None:
        """Per source topic, per interval: records written per second, dead letters since, lag (a lower bound)."""
        elapsed = self._meter.due(now, force=force)
        if elapsed is None:
            return
        for topic in self.progress.topics.values():
            written = self._meter.delta(f"{topic.topic}:written", topic.written)
            values = {
                "EventsPerSecond": written / elapsed if elapsed > 0 else None,
                "DeadLetterRecords": self._meter.delta(f"{topic.topic}:dead", topic.dead_letters),
                "ConsumerLag": topic.lag()[0],
            }
            self._metrics.emit("bridge", values, {"Topic": topic.topic})

    def _idle_enough(self) -> bool:
        idle = self.options.stop_when_idle_s
        return idle is not None and self.progress.all_at_end() and time.monotonic() - self._last_activity >= idle
