"""A capture (anything with `run(stop_event)`) running in a thread, for tests that change the source meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from common.settings import KafkaSettings, SchemaRegistrySettings
from producers.capture.postgres.capture import PostgresCapture, PostgresCaptureConfig
from producers.capture.postgres.state import StateFile
from producers.publish import ChangePublisher
from producers.topics import ensure_topics
from schemas.catalog import Catalog
from schemas.registry import SchemaRegistry


class InThread:
    def __init__(
        self,
        run: Callable[[threading.Event], object],
        events: Callable[[], int],
        ready: Callable[[], bool] = lambda: True,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._events, self._ready, self._on_close = events, ready, on_close
        self.thread = threading.Thread(target=self._run, args=(run,), daemon=True)
        self.thread.start()

    def _run(self, run: Callable[[threading.Event], object]) -> None:
        try:
            run(self.stop)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, events: int, timeout: float = 90) -> None:
        """Until the capture is ready (e.g. streaming) and has published at least `events` events."""
        deadline = time.monotonic() + timeout
        while not (self._ready() and self._events() >= events):
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._events()} of {events} events")
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(90)
        try:
            self._on_close()
        finally:
            if self.error is not None:
                raise self.error


def native_capture(
    dsn: str,
    catalog: Catalog,
    endpoints: dict[str, str],
    state: Path,
    *,
    slot: str,
    partitions: int = 1,
    chunk_rows: int = 20_000,
) -> InThread:
    """The native capture of every catalog table on its own slot, in a thread; `wait_for` also waits for streaming."""
    kafka = KafkaSettings(bootstrap_servers=endpoints["KAFKA_BOOTSTRAP_SERVERS"])
    ensure_topics(kafka.librdkafka_config(), [t.topic for t in catalog.tables], partitions=partitions, replication=1)
    registry = SchemaRegistry(SchemaRegistrySettings(url=endpoints["SCHEMA_REGISTRY_URL"]))
    publisher = ChangePublisher.connect(kafka, registry)
    capture = PostgresCapture(
        dsn=dsn,
        catalog=catalog,
        tables=list(catalog.tables),
        publisher=publisher,
        state_file=StateFile(state),
        config=PostgresCaptureConfig(slot_base=slot, publication=f"{slot}_pub", chunk_rows=chunk_rows),
    )

    def close() -> None:
        publisher.close()
        registry.close()

    return InThread(capture.run, lambda: capture.progress.events, lambda: capture.progress.phase == "streaming", close)
