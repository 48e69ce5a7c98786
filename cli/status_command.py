"""`cdc status`: the whole pipeline in one table — capture, stream, bridge, warehouse, dead letters, batch.

Each stage is read from where its progress is durably recorded, never from the job's memory, so the command works
whether the jobs run here, in another shell or on AWS (ADR 0013):

* capture: the source's logical replication slots, ``pg_current_wal_lsn() - confirmed_flush_lsn`` (bytes);
* stream: the end offsets of the Avro topics against the offsets of each table's last committed micro-batch in the
  landing checkpoint (``checkpoints/landing/<table>/offsets/<batch>`` of the newest ``commits/<batch>``);
* bridge: its consumer group's committed offsets against the same end offsets;
* warehouse: JSON-topic records the MV tables do not hold yet, plus MV rows past the procedures' watermarks;
* dead letters: rows under the lake's ``dlq/`` and records in the bridge's ``<topic>.json.dlq`` topics;
* batch: committed landing files no staging version consumed yet, and the newest staging/curated versions.

Stages are probed in parallel and independently: one that cannot be reached shows ``unreachable: <reason>`` in its
row and the others are still shown. ``--watch 2s`` refreshes until Ctrl-C; ``-o json`` is for machines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table as RichTable

from cli.capture_commands import stop_on_signals
from cli.endpoints import Endpoints, build, require, resolve_endpoints
from cli.options import AwsEndpoint, BootstrapServers, Catalog, Home, LakeRoot, SourceDsn, WarehouseDsn
from cli.output import console
from common.durations import parse_duration
from common.errors import CdcError, ServiceUnavailableError
from common.lake import LakeLocation
from common.settings import StreamSettings, redact_dsn
from redshift.bridge.settings import BridgeSettings
from redshift.bridge.topics import dead_letter_topic, json_topic
from schemas.catalog import Catalog as TableCatalog
from schemas.catalog import load_catalog
from streaming.source.offsets import Offsets, from_json

if TYPE_CHECKING:
    from redshift.runner import WarehouseStatus

Health = Literal["ok", "lagging", "warning", "failed", "not running", "unreachable"]
STAGE_ORDER: Final = ("capture", "stream", "bridge", "warehouse", "dead letters", "batch")
CAPTURE_LAGGING_BYTES: Final = 16 * 1024 * 1024  # a WAL segment: an attached capture further behind is lagging
STAGE_TIMEOUT_S: Final = 45.0
KAFKA_TIMEOUT_S: Final = 10.0
COUNT_CAP: Final = 100_000  # records counted one by one at most (dead-letter topics, the MV refresh backlog)

_STYLE: Final[dict[str, str]] = {
    "ok": "green",
    "lagging": "yellow",
    "warning": "yellow",
    "failed": "red",
    "not running": "dim",
    "unreachable": "red",
}

Figure = int | float | str | None


@dataclass
class StageStatus:
    """One row: the stage, its health, how far behind it is (in ``lag_unit``), its figures and a short note."""

    stage: str
    status: Health
    lag: int | None = None
    lag_unit: str = ""
    figures: dict[str, Figure] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)  # per slot/table/topic; JSON only
    detail: str = ""


@dataclass
class PipelineStatus:
    checked_at: str
    seconds: float
    stages: list[StageStatus]

    def as_dict(self) -> dict[str, Any]:
        stages = [asdict(stage) for stage in self.stages]
        return {"checked_at": self.checked_at, "seconds": round(self.seconds, 3), "stages": stages}


# --------------------------------------------------------------------------------------------------------------
# Pure: offsets and each stage's verdict


def records_behind(ends: Offsets, earliest: Offsets, positions: Offsets | None) -> int:
    """Records between a reader's positions and the log ends; a partition without a position starts at earliest."""
    behind = 0
    for topic, parts in ends.items():
        for partition, end in parts.items():
            start = (positions or {}).get(topic, {}).get(partition)
            if start is None:
                start = earliest.get(topic, {}).get(partition, 0)
            behind += max(end - start, 0)
    return behind


def total(offsets: Offsets | None) -> int:
    return sum(o for parts in (offsets or {}).values() for o in parts.values())


def latest_batch_id(names: Iterable[str]) -> int | None:
    """The highest batch number among a checkpoint folder's file names (``.0.crc`` and temporaries ignored)."""
    batches = [int(name) for name in names if name.isdigit()]
    return max(batches) if batches else None


def parse_offset_log(text: str) -> tuple[Offsets | None, int | None]:
    """A Spark offset log file (``v1``, the batch metadata, then one line per source): the first source's offsets
    (``{"topic": {"0": 42}}``, the same for the native and the Python Kafka source) and the batch timestamp (ms)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("v"):
        raise ValueError("not a Spark offset log file")
    timestamp = None
    if len(lines) > 1:
        metadata = json.loads(lines[1])
        value = metadata.get("batchTimestampMs") if isinstance(metadata, dict) else None
        timestamp = int(value) if value is not None else None
    if len(lines) < 3 or lines[2].strip() == "-":
        return None, timestamp
    data = json.loads(lines[2])
    if not isinstance(data, dict) or not all(isinstance(parts, dict) for parts in data.values()):
        raise ValueError("the source offsets are not {topic: {partition: offset}}")
    return from_json(data), timestamp


@dataclass(frozen=True)
class SlotLag:
    name: str
    active: bool
    lag_bytes: int | None
    confirmed_lsn: str | None


def capture_stage(slots: list[SlotLag], current_lsn: str | None) -> StageStatus:
    """Not running without an attached slot; lagging when an attached slot trails by more than a WAL segment."""
    breakdown = {
        slot.name: {"active": slot.active, "lag_bytes": slot.lag_bytes, "confirmed_lsn": slot.confirmed_lsn}
        for slot in slots
    }
    if not slots:
        figures: dict[str, Figure] = {"slots": 0, "current_lsn": current_lsn}
        return StageStatus(
            "capture", "not running", None, "bytes", figures, {}, "no logical slot in the source database"
        )
    lag = max((slot.lag_bytes or 0) for slot in slots)
    active = [slot for slot in slots if slot.active]
    figures = {"slots": len(slots), "active": len(active), "current_lsn": current_lsn}
    if not active:
        status: Health = "not running"
        detail = f"no capture attached to {', '.join(slot.name for slot in slots)}"
    elif max((slot.lag_bytes or 0) for slot in active) > CAPTURE_LAGGING_BYTES:
        status, detail = "lagging", f"more than {CAPTURE_LAGGING_BYTES // (1024 * 1024)} MiB of WAL unconfirmed"
    else:
        status, detail = "ok", f"streaming from {', '.join(slot.name for slot in active)}"
    return StageStatus("capture", status, lag, "bytes", figures, breakdown, detail)


@dataclass(frozen=True)
class TableCheckpoint:
    """One landing query's checkpoint: the offsets its last committed batch ended at, and when that batch ran."""

    table: str
    topic: str
    batch: int | None = None
    offsets: Offsets | None = None
    batch_ms: int | None = None


def stream_stage(checkpoints: list[TableCheckpoint], earliest: Offsets, ends: Offsets) -> StageStatus:
    """Per table: its topic's end offsets minus its last committed batch's offsets (all of it, never landed)."""
    breakdown: dict[str, Any] = {}
    behind = 0
    for checkpoint in checkpoints:
        table_ends = {checkpoint.topic: ends[checkpoint.topic]} if checkpoint.topic in ends else {}
        table_behind = records_behind(table_ends, earliest, checkpoint.offsets)
        behind += table_behind
        breakdown[checkpoint.table] = {
            "batch": checkpoint.batch,
            "committed": total(checkpoint.offsets),
            "behind": table_behind,
            "batch_at": _iso(checkpoint.batch_ms),
        }
    started = [c for c in checkpoints if c.batch is not None]
    newest = max((c.batch_ms or 0 for c in started), default=0) or None
    figures: dict[str, Figure] = {
        "tables": f"{len(started)}/{len(checkpoints)}",
        "committed": sum(total(c.offsets) for c in checkpoints),
        "end": total(ends),
        "last_batch_at": _iso(newest),
    }
    if not started:
        return StageStatus("stream", "not running", behind, "records", figures, breakdown, "no committed batch yet")
    status: Health = "lagging" if behind else "ok"
    detail = f"last batch {_ago(newest)}" if newest else ""
    return StageStatus("stream", status, behind, "records", figures, breakdown, detail)


def bridge_stage(group: str, committed: Offsets, earliest: Offsets, ends: Offsets) -> StageStatus:
    """The bridge's committed offsets (its group) against the Avro topics' ends."""
    behind = records_behind(ends, earliest, committed)
    breakdown = {
        topic: {
            "committed": total({topic: committed.get(topic, {})}),
            "behind": records_behind({topic: parts}, earliest, committed),
        }
        for topic, parts in ends.items()
    }
    figures: dict[str, Figure] = {"group": group, "committed": total(committed), "end": total(ends)}
    if not committed:
        detail = f"group {group} has committed nothing yet"
        return StageStatus("bridge", "not running", behind, "records", figures, breakdown, detail)
    return StageStatus("bridge", "lagging" if behind else "ok", behind, "records", figures, breakdown, f"group {group}")


@dataclass(frozen=True)
class Backlog:
    """Records counted from a position to the log end; ``exact`` is False when counting stopped at the cap."""

    records: int
    exact: bool = True


def warehouse_stage(found: WarehouseStatus, refresh: Mapping[str, Backlog] | None, where: str) -> StageStatus:
    """Not running before the first migration; failed when the last cycle failed; lagging with a refresh backlog
    (JSON records not in the MV tables) or MV rows past the procedures' watermarks."""
    behind_watermarks = sum(row.rows_behind for row in found.lag)
    unrefreshed = sum(backlog.records for backlog in (refresh or {}).values())
    analytics = {name: count for name, count in found.counts.items() if name.startswith("analytics.")}
    figures: dict[str, Figure] = {
        "migrations": len(found.migrations),
        "pending_migrations": len(found.pending),
        "refresh_backlog": None if refresh is None else unrefreshed,
        "rows_behind_watermarks": behind_watermarks,
        "mv_rows": sum(count for name, count in found.counts.items() if name.startswith("staging.mv_")),
        "analytics_rows": sum(analytics.values()),
        "watermarks": len(found.watermarks),
    }
    breakdown: dict[str, Any] = {"counts": dict(found.counts)}
    if refresh is not None:
        breakdown["refresh_backlog"] = {mv: asdict(backlog) for mv, backlog in refresh.items()}
    breakdown["lag"] = [asdict(row) for row in found.lag]
    lag = behind_watermarks + unrefreshed
    if found.last_runs:
        _, started, _, state, _, message = found.last_runs[0]
        figures["last_run"] = str(state)
        figures["last_run_at"] = _iso_value(started)
        if str(state) == "failed":
            return StageStatus("warehouse", "failed", lag, "rows", figures, breakdown, str(message or "")[:200])
    if not found.migrations:
        return StageStatus("warehouse", "not running", lag, "rows", figures, breakdown, f"not migrated ({where})")
    exact = refresh is None or all(backlog.exact for backlog in refresh.values())
    detail = where if exact else f"{where}; refresh backlog counted up to {COUNT_CAP:,} per MV"
    return StageStatus("warehouse", "lagging" if lag else "ok", lag, "rows", figures, breakdown, detail)


def dead_letter_stage(
    landing: Mapping[str, int] | None, bridge: Mapping[str, Backlog] | None, problems: list[str]
) -> StageStatus:
    """Dead letters are never lag: a warning while any exist (their reasons are in the rows and headers)."""
    if landing is None and bridge is None:
        return StageStatus("dead letters", "unreachable", detail="; ".join(problems))
    landed = sum((landing or {}).values())
    bridged = sum(backlog.records for backlog in (bridge or {}).values())
    figures: dict[str, Figure] = {
        "landing_dlq_rows": None if landing is None else landed,
        "bridge_dlq_records": None if bridge is None else bridged,
    }
    breakdown: dict[str, Any] = {
        "landing": dict(landing or {}),
        "bridge": {topic: backlog.records for topic, backlog in (bridge or {}).items()},
    }
    status: Health = "warning" if landed or bridged else "ok"
    where = [f"{table}: {count:,}" for table, count in sorted({**(landing or {})}.items()) if count]
    where += [f"{topic}: {b.records:,}" for topic, b in sorted((bridge or {}).items()) if b.records]
    detail = "; ".join([*where, *problems]) or "none"
    return StageStatus("dead letters", status, landed + bridged, "records", figures, breakdown, detail)


@dataclass(frozen=True)
class VersionedTable:
    zone: str
    table: str
    version: int
    committed_at: str
    pending_files: int | None = None  # staging only: committed landing files not consumed yet


def batch_stage(tables: list[VersionedTable], unstaged: Mapping[str, int]) -> StageStatus:
    """Staging's bookmarks against the landing zone's committed files; the newest versions of both zones."""
    staging = [t for t in tables if t.zone == "staging"]
    curated = [t for t in tables if t.zone == "curated"]
    pending = sum(t.pending_files or 0 for t in staging) + sum(unstaged.values())
    breakdown: dict[str, Any] = {
        f"{t.zone}.{t.table}": {"version": t.version, "committed_at": t.committed_at, "pending_files": t.pending_files}
        for t in tables
    }
    breakdown.update({f"staging.{name}": {"version": None, "pending_files": count} for name, count in unstaged.items()})
    newest = max((t.committed_at for t in tables), default=None)
    figures: dict[str, Figure] = {
        "staging_tables": len(staging),
        "curated_tables": len(curated),
        "pending_landing_files": pending,
        "last_commit_at": newest,
    }
    if not tables:
        return StageStatus("batch", "not running", pending, "files", figures, breakdown, "no staging or curated table")
    detail = f"last commit {newest}" if newest else ""
    return StageStatus("batch", "lagging" if pending else "ok", pending, "files", figures, breakdown, detail)


def unreachable(stage: str, error: BaseException) -> StageStatus:
    """A stage that could not be read: its row says why, in one line."""
    return StageStatus(stage, "unreachable", detail=describe_error(error))


def describe_error(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [""])[0][:300]
    return text if isinstance(error, CdcError) else f"{type(error).__name__}: {text}"


def _iso(ms: int | None) -> str | None:
    return None if not ms else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _iso_value(value: Any) -> str | None:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # the warehouse keeps naive UTC
        return aware.isoformat(timespec="seconds")
    return None if value is None else str(value)


def _ago(ms: int | None) -> str:
    if not ms:
        return "-"
    seconds = max(time.time() - ms / 1000, 0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


# --------------------------------------------------------------------------------------------------------------
# I/O: reading each stage's recorded progress


class KafkaView:
    """Log ends, group offsets and record counts, each Kafka question asked once per status pass."""

    def __init__(self, config: Mapping[str, str]) -> None:
        self.config = dict(config)
        self._lock = Lock()
        self._topics: set[str] | None = None
        self._ends: dict[tuple[str, ...], tuple[Offsets, Offsets]] = {}

    def topics(self) -> set[str]:
        from confluent_kafka import KafkaException  # noqa: PLC0415 - keeps `cdc --help` fast
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415

        with self._lock:
            if self._topics is None:
                try:
                    metadata = AdminClient({**self.config, "log_level": 0}).list_topics(timeout=KAFKA_TIMEOUT_S)
                except KafkaException as exc:
                    raise ServiceUnavailableError(
                        f"Kafka at {self.config.get('bootstrap.servers')} unreachable: {exc}"
                    ) from None
                self._topics = {name for name, topic in metadata.topics.items() if topic.error is None}
            return self._topics

    def ends(self, topics: Iterable[str]) -> tuple[Offsets, Offsets]:
        """(earliest, true end) of every partition of the topics that exist (read to EOF: ADR 0002)."""
        from streaming.source.kafka_log import KafkaLog  # noqa: PLC0415

        existing = tuple(sorted(set(topics) & self.topics()))
        with self._lock:
            if existing not in self._ends:
                self._ends[existing] = KafkaLog(self.config).log_ends(list(existing)) if existing else ({}, {})
            return self._ends[existing]

    def committed(self, group: str, partitions: Offsets) -> Offsets:
        """The group's committed offsets (partitions without one left out); the group is never joined."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: PLC0415

        wanted = [TopicPartition(topic, partition) for topic, parts in partitions.items() for partition in parts]
        if not wanted:
            return {}
        consumer = Consumer({**self.config, "group.id": group, "enable.auto.commit": False, "log_level": 0})
        try:
            found = consumer.committed(wanted, timeout=KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            raise ServiceUnavailableError(f"committed offsets of group {group} unavailable: {exc}") from None
        finally:
            consumer.close()
        committed: Offsets = {}
        for position in found:
            if position.offset >= 0:
                committed.setdefault(position.topic, {})[position.partition] = position.offset
        return committed

    def count(self, starts: Offsets, ends: Offsets, cap: int = COUNT_CAP) -> dict[str, Backlog]:
        """Records (not offsets: transaction markers take offsets too) from ``starts`` to the log end, per topic."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition  # noqa: PLC0415

        todo = [
            TopicPartition(topic, partition, starts.get(topic, {}).get(partition, OFFSET_BEGINNING))
            for topic, parts in ends.items()
            for partition, end in parts.items()
            if end > max(starts.get(topic, {}).get(partition, 0), 0)
        ]
        counts = {topic: 0 for topic in ends}
        if not todo:
            return {topic: Backlog(0) for topic in ends}
        consumer = Consumer(
            {
                "fetch.wait.max.ms": 50,  # an empty fetch answers this fast: partition EOF is seen sooner
                **self.config,
                "group.id": "cdc-status",  # required by librdkafka; partitions are assigned, the group never joined
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "log_level": 0,
            }
        )
        pending = {(tp.topic, tp.partition) for tp in todo}
        deadline = time.monotonic() + 2 * KAFKA_TIMEOUT_S
        try:
            consumer.assign(todo)
            while pending and sum(counts.values()) < cap and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=5000, timeout=0.5):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            pending.discard((message.topic(), message.partition()))
                        continue
                    counts[str(message.topic())] += 1
        finally:
            consumer.close()
        unfinished = {topic for topic, _ in pending}
        return {topic: Backlog(count, topic not in unfinished) for topic, count in counts.items()}


@dataclass
class PipelineProbe:
    """Reads every stage; built at the entry point from resolved endpoints and settings."""

    catalog: TableCatalog
    endpoints: Endpoints
    bridge_group: str
    checkpoint_root: str | None
    warehouse: Callable[[], tuple[Any, str]]  # -> (WarehouseRunner, where), built lazily: it may not be configured
    _kafka: KafkaView | None = None

    @property
    def topics(self) -> list[str]:
        return [table.topic for table in self.catalog.tables]

    def kafka(self) -> KafkaView:
        if self._kafka is None:
            servers = require(
                self.endpoints.kafka.bootstrap_servers, "Kafka", "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap-servers"
            )
            self._kafka = KafkaView({**self.endpoints.kafka.librdkafka_config(), "bootstrap.servers": servers})
        return self._kafka

    def lake(self) -> LakeLocation:
        root = require(self.endpoints.lake.root, "data lake", "LAKE_ROOT", "--lake-root")
        aws = self.endpoints.aws
        return LakeLocation(root, s3_endpoint=aws.endpoint_url, s3_region=aws.region)

    # -- capture ---------------------------------------------------------------------------------------------

    def capture(self) -> StageStatus:
        import psycopg  # noqa: PLC0415

        dsn = self.endpoints.source.dsn.get_secret_value() if self.endpoints.source.dsn else None
        dsn = require(dsn, "source database", "SOURCE_DSN", "--source-dsn")
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                current = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
                rows = conn.execute(
                    "SELECT slot_name, active, (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, "
                    "confirmed_flush_lsn::text FROM pg_replication_slots "
                    "WHERE slot_type = 'logical' AND database = current_database() ORDER BY slot_name"
                ).fetchall()
        except psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ServiceUnavailableError(f"source database {redact_dsn(dsn)}: {reason}") from None
        slots = [SlotLag(str(r[0]), bool(r[1]), None if r[2] is None else int(r[2]), r[3]) for r in rows]
        return capture_stage(slots, current[0] if current else None)

    # -- stream ----------------------------------------------------------------------------------------------

    def stream(self) -> StageStatus:
        earliest, ends = self.kafka().ends(self.topics)
        aws = self.endpoints.aws
        root = self.checkpoint_root or self.lake().path("checkpoints")
        checkpoints = LakeLocation(root, s3_endpoint=aws.endpoint_url, s3_region=aws.region)
        found = [self._checkpoint(checkpoints, t.name, t.topic) for t in self.catalog.tables]
        return stream_stage(found, earliest, ends)

    @staticmethod
    def _checkpoint(checkpoints: LakeLocation, table: str, topic: str) -> TableCheckpoint:
        import pyarrow.fs as pafs  # noqa: PLC0415

        filesystem, _ = checkpoints.filesystem()
        folder = checkpoints.fs_path("landing", table)

        def names(sub: str) -> list[str]:
            selector = pafs.FileSelector(f"{folder}/{sub}", allow_not_found=True)
            return [info.base_name for info in filesystem.get_file_info(selector) if info.is_file]

        batch = latest_batch_id(names("commits"))
        if batch is None:
            return TableCheckpoint(table, topic)
        with filesystem.open_input_stream(f"{folder}/offsets/{batch}") as stream:
            offsets, batch_ms = parse_offset_log(stream.read().decode("utf-8"))
        return TableCheckpoint(table, topic, batch, offsets, batch_ms)

    # -- bridge ----------------------------------------------------------------------------------------------

    def bridge(self) -> StageStatus:
        kafka = self.kafka()
        earliest, ends = kafka.ends(self.topics)
        committed = kafka.committed(self.bridge_group, ends)
        return bridge_stage(self.bridge_group, committed, earliest, ends)

    # -- warehouse -------------------------------------------------------------------------------------------

    def warehouse_status(self) -> StageStatus:
        from redshift.runner import qualified  # noqa: PLC0415

        runner, where = self.warehouse()
        found = runner.status()
        positions: dict[str, dict[int, int]] = {}
        session = runner.connect()
        try:
            for relation in found.counts:
                if relation.startswith("staging.mv_"):
                    rows = session.fetchall(
                        f"SELECT kafka_partition, MAX(kafka_offset) FROM {qualified(relation)} "  # noqa: S608
                        "GROUP BY kafka_partition"
                    )
                    positions[relation] = {int(p): int(o) + 1 for p, o in rows if o is not None}
        finally:
            session.close()
        refresh: dict[str, Backlog] | None = None
        try:
            refresh = self._refresh_backlog(positions)
        except CdcError as exc:  # Kafka down: the warehouse row still shows what the database says
            where = f"{where}; refresh backlog unknown: {describe_error(exc)}"
        return warehouse_stage(found, refresh, where)

    def _refresh_backlog(self, positions: Mapping[str, dict[int, int]]) -> dict[str, Backlog]:
        """JSON-topic records past each MV table's highest offset: what the next refresh will append."""
        by_topic = {json_topic(t.topic): f"staging.mv_{t.name}" for t in self.catalog.tables}
        wanted = {topic: mv for topic, mv in by_topic.items() if mv in positions}
        _, ends = self.kafka().ends(wanted)
        starts = {topic: positions[wanted[topic]] for topic in ends}
        counted = self.kafka().count(starts, ends)
        return {wanted[topic]: backlog for topic, backlog in counted.items()}

    # -- dead letters ----------------------------------------------------------------------------------------

    def dead_letters(self) -> StageStatus:
        problems: list[str] = []
        landing: dict[str, int] | None = None
        bridge: dict[str, Backlog] | None = None
        try:
            landing = landing_dead_letters(self.lake())
        except Exception as exc:
            problems.append(f"lake: {describe_error(exc)}")
        try:
            _, ends = self.kafka().ends(dead_letter_topic(topic) for topic in self.topics)
            bridge = self.kafka().count({}, ends)
        except Exception as exc:
            problems.append(f"Kafka: {describe_error(exc)}")
        return dead_letter_stage(landing, bridge, problems)

    # -- batch -----------------------------------------------------------------------------------------------

    def batch(self) -> StageStatus:
        from batch.query_engine import VERSIONED_ZONES, versioned_tables  # noqa: PLC0415
        from batch.staging_files import LANDING_FILES, bookmark_paths, pending_landing_files  # noqa: PLC0415
        from batch.table_store import TableStore  # noqa: PLC0415
        from common.landing_files import landing_state, landing_tables  # noqa: PLC0415

        lake = self.lake()
        landed = set(landing_tables(lake))
        tables: list[VersionedTable] = []
        for zone in VERSIONED_ZONES:
            for name in versioned_tables(lake, zone):
                version = TableStore(lake, zone, name).current()
                if version is None:
                    continue
                pending = None
                if zone == "staging" and name in landed:
                    consumed = bookmark_paths(version.bookmark, LANDING_FILES)
                    pending = len(pending_landing_files(landing_state(lake, name), consumed))
                tables.append(VersionedTable(zone, name, version.version, version.committed_at, pending))
        staged = {t.table for t in tables if t.zone == "staging"}
        catalog_tables = set(self.catalog.table_names)
        unstaged = {
            name: len(landing_state(lake, name).committed) for name in sorted(landed - staged) if name in catalog_tables
        }
        return batch_stage(tables, unstaged)

    # -- all of it -------------------------------------------------------------------------------------------

    def collect(self, timeout_s: float = STAGE_TIMEOUT_S) -> PipelineStatus:
        """Every stage, in parallel; a stage that fails or does not answer in time is unreachable, alone."""
        started = time.monotonic()
        checked_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._kafka = None  # fresh log ends and topic lists on every pass
        probes: dict[str, Callable[[], StageStatus]] = {
            "capture": self.capture,
            "stream": self.stream,
            "bridge": self.bridge,
            "warehouse": self.warehouse_status,
            "dead letters": self.dead_letters,
            "batch": self.batch,
        }
        self.kafka_or_none()
        pool = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="cdc-status")
        futures = {stage: pool.submit(probe) for stage, probe in probes.items()}
        wait(futures.values(), timeout=timeout_s)
        pool.shutdown(wait=False, cancel_futures=True)
        stages = []
        for stage in STAGE_ORDER:
            future = futures[stage]
            if not future.done():
                stages.append(StageStatus(stage, "unreachable", detail=f"no answer within {timeout_s:.0f}s"))
                continue
            error = future.exception()
            stages.append(unreachable(stage, error) if error is not None else future.result())
        return PipelineStatus(checked_at, time.monotonic() - started, stages)

    def kafka_or_none(self) -> KafkaView | None:
        """Build the shared Kafka view before the threads start (so they share it); None when not configured."""
        try:
            return self.kafka()
        except CdcError:
            return None


def landing_dead_letters(lake: LakeLocation) -> dict[str, int]:
    """Rows per table under ``dlq/`` (Parquet footers only; a replayed batch rewrites its file, never adds one)."""
    import pyarrow.fs as pafs  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    filesystem, _ = lake.filesystem()
    root = lake.fs_path("dlq")
    counts: dict[str, int] = {}
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True)):
        name = info.base_name
        if not info.is_file or not name.endswith(".parquet") or name.startswith((".", "_")):
            continue
        table = info.path[len(root) + 1 :].split("/", 1)[0]
        counts[table] = counts.get(table, 0) + pq.read_metadata(info.path, filesystem=filesystem).num_rows
    return counts


# --------------------------------------------------------------------------------------------------------------
# Rendering and the command


def _lag_text(stage: StageStatus) -> str:
    if stage.lag is None:
        return "-"
    if stage.lag_unit == "bytes":
        size = float(stage.lag)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if size < 1024 or unit == "GiB":
                return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
            size /= 1024
    return f"{stage.lag:,} {stage.lag_unit}"


def _figure_text(value: Figure) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return "-" if value is None else str(value)


def render_status(result: PipelineStatus) -> RichTable:
    """One row per stage: health, lag, figures, and what to look at."""
    table = RichTable(title=f"pipeline status at {result.checked_at} ({result.seconds:.1f}s)", title_justify="left")
    table.add_column("stage", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("figures", overflow="fold")
    table.add_column("detail", overflow="fold")
    for stage in result.stages:
        style = _STYLE[stage.status]
        status = f"[{style}]{stage.status}[/]"
        figures = "  ".join(f"{name}={_figure_text(value)}" for name, value in stage.figures.items())
        detail = stage.detail if stage.status != "unreachable" else f"unreachable: {stage.detail}"
        table.add_row(stage.stage, status, _lag_text(stage), escape(figures), escape(detail))
    return table


def status(
    home: Home = None,
    catalog: Catalog = None,
    bootstrap_servers: BootstrapServers = None,
    source_dsn: SourceDsn = None,
    warehouse_dsn: WarehouseDsn = None,
    lake_root: LakeRoot = None,
    aws_endpoint_url: AwsEndpoint = None,
    bridge_group: Annotated[
        str | None, typer.Option("--bridge-group", help="The bridge's consumer group [env: BRIDGE_GROUP; cdc-bridge]")
    ] = None,
    watch: Annotated[
        str | None, typer.Option("--watch", help="Refresh every interval (e.g. 2s) until Ctrl-C", show_default=False)
    ] = None,
    output: Annotated[
        Literal["table", "json"], typer.Option("--output", "-o", help="table for people, json for machines")
    ] = "table",
) -> PipelineStatus:
    """The whole pipeline in one table: capture, stream and bridge lag, warehouse backlog, dead letters, batch."""
    interval = None if watch is None else parse_duration(watch, what="--watch")
    endpoints = resolve_endpoints(
        home,
        bootstrap_servers=bootstrap_servers,
        source_dsn=source_dsn,
        warehouse_dsn=warehouse_dsn,
        lake_root=lake_root,
        aws_endpoint_url=aws_endpoint_url,
    )
    loaded = load_catalog(catalog)
    stream_settings = build(StreamSettings)

    def warehouse() -> tuple[Any, str]:
        return warehouse_status_runner(home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, loaded)

    probe = PipelineProbe(
        catalog=loaded,
        endpoints=endpoints,
        bridge_group=build(BridgeSettings, group=bridge_group).group,
        checkpoint_root=stream_settings.checkpoint_root,
        warehouse=warehouse,
    )
    if interval is None:
        result = probe.collect()
        show(result, output)
        return result
    with stop_on_signals() as stop:
        if output == "json":
            while True:
                result = probe.collect()
                show(result, output)
                if stop.wait(interval):
                    return result
        with Live(console=console, auto_refresh=False) as live:
            while True:
                result = probe.collect()
                live.update(render_status(result), refresh=True)
                if stop.wait(interval):
                    return result


def show(result: PipelineStatus, output: str) -> None:
    if output == "json":
        typer.echo(json.dumps(result.as_dict(), default=str))
    else:
        console.print(render_status(result))


def warehouse_status_runner(
    home: Any,
    warehouse_dsn: str | None,
    bootstrap_servers: str | None,
    aws_endpoint_url: str | None,
    catalog: TableCatalog,
) -> tuple[Any, str]:
    """The warehouse runner for `status` (one connection attempt, short timeout, on the local stand-in)."""
    from cli.warehouse_commands import warehouse_connection, warehouse_runner  # noqa: PLC0415
    from redshift.connections import PsycopgSession  # noqa: PLC0415

    _, connection = warehouse_connection(
        home, warehouse_dsn, bootstrap_servers, aws_endpoint_url, None, None, None, None, None, None, None, None, None
    )
    runner = warehouse_runner(connection, catalog, None, {})
    if connection.connector == "psycopg" and connection.warehouse.dsn is not None:
        dsn = connection.warehouse.dsn.get_secret_value()
        runner.connect = lambda: PsycopgSession.connect(dsn, attempts=1, connect_timeout=5)
    return runner, connection.describe()
