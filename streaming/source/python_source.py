"""A PySpark Python Data Source (``format("cdc_kafka")``) that reads Kafka like Spark's own ``kafka`` source.

For local runs, where pip's PySpark has no Kafka connector jar. Same columns as the native source (with
``includeHeaders``), one input partition per Kafka partition and offset range, offsets kept only in Spark's
checkpoint, ``startingOffsets``, ``maxOffsetsPerTrigger``, ``failOnDataLoss`` and ``Trigger.AvailableNow``.
Needs PySpark >= 4.2 (admission control); everything downstream of the source also runs on Spark 3.5.

Options: ``subscribe`` (comma-separated topics), ``startingOffsets``, ``maxOffsetsPerTrigger``,
``failOnDataLoss`` (default true) and ``kafka.<librdkafka key>`` client settings (``kafka.bootstrap.servers``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow
from pyspark.sql.types import StructType

from common.errors import ConfigError
from streaming.source import offsets as offset_math
from streaming.source.kafka_log import KAFKA_SPARK_DDL, KafkaLog
from streaming.source.offsets import OffsetRange, Offsets

FORMAT_NAME: Final = "cdc_kafka"


@dataclass(frozen=True)
class KafkaPartition(InputPartition):
    """One task's work: a topic partition's offset range."""

    range: OffsetRange


class CdcKafkaDataSource(DataSource):
    """Registered once per session with ``spark.dataSource.register(CdcKafkaDataSource)``."""

    @classmethod
    def name(cls) -> str:
        return FORMAT_NAME

    def schema(self) -> str:
        return KAFKA_SPARK_DDL

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(dict(self.options))


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans offset ranges on the driver; ``read`` runs on executors and must stay stateless."""

    def __init__(self, given: dict[str, str]) -> None:
        # Spark hands data source options over case-insensitively (as lower-case keys); accept both spellings.
        options = {key.lower(): value for key, value in given.items()}
        self.topics = [t.strip() for t in options.get("subscribe", "").split(",") if t.strip()]
        if not self.topics:
            raise ConfigError("cdc_kafka source: option 'subscribe' (comma-separated topics) is required")
        self.client_config = {k.removeprefix("kafka."): v for k, v in options.items() if k.startswith("kafka.")}
        if "bootstrap.servers" not in self.client_config:
            raise ConfigError("cdc_kafka source: option 'kafka.bootstrap.servers' is required")
        self.starting = offset_math.parse_starting_offsets(options.get("startingoffsets", "earliest"), self.topics)
        self.max_per_trigger = _positive_int(options.get("maxoffsetspertrigger"), "maxOffsetsPerTrigger")
        self.fail_on_data_loss = options.get("failondataloss", "true").lower() != "false"
        self.batch_rows = _positive_int(options.get("arrowbatchrows", "20000"), "arrowBatchRows") or 20_000
        self._target: Offsets | None = None  # the AvailableNow end, fixed when the query starts
        self._latest: Offsets | None = None  # last seen log end, for progress reporting (lag)

    def _log(self) -> KafkaLog:
        return KafkaLog(self.client_config)

    def initialOffset(self) -> dict[str, Any]:
        earliest, ends = self._log().log_ends(self.topics)
        return offset_math.to_json(offset_math.resolve_start(self.starting, earliest, ends))

    def prepareForTriggerAvailableNow(self) -> None:
        _, self._target = self._log().log_ends(self.topics)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadAllAvailable() if self.max_per_trigger is None else ReadMaxRows(self.max_per_trigger)

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        begin = offset_math.from_json(start)
        earliest, ends = self._log().log_ends(self.topics, not_before=begin)
        self._latest = ends
        begin = self._checked_start(offset_math.with_new_partitions(begin, earliest), earliest, ends)
        available = ends if self._target is None else _at_most(ends, self._target)
        limit_rows = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        end = offset_math.cap(begin, available, limit_rows)
        # Never move backwards (a partition whose end is below start, e.g. an AvailableNow target).
        for topic, parts in end.items():
            for partition, offset in parts.items():
                parts[partition] = max(offset, begin.get(topic, {}).get(partition, offset))
        return offset_math.to_json(end)

    def _checked_start(self, begin: Offsets, earliest: Offsets, ends: Offsets) -> Offsets:
        for topic, parts in begin.items():
            for partition, offset in parts.items():
                low = earliest.get(topic, {}).get(partition, 0)
                end = ends.get(topic, {}).get(partition, offset)
                if offset > end:
                    # The log is shorter than what was already read: the topic was deleted and created again
                    # (or the in-memory broker restarted). Reading on from the old offset would skip new records.
                    if self.fail_on_data_loss:
                        raise ConfigError(
                            f"{topic}/{partition}: checkpoint is at offset {offset} but the log ends at {end}; the "
                            "topic was recreated. Delete this table's checkpoint (and landing data) to start over, "
                            "or set failOnDataLoss=false to read the new log from its start"
                        )
                    parts[partition] = low
                    continue
                if offset < low:
                    if self.fail_on_data_loss:
                        raise ConfigError(
                            f"{topic}/{partition}: checkpoint is at offset {offset} but the log starts at {low}; "
                            "records were deleted before they were read (set failOnDataLoss=false to skip them)"
                        )
                    parts[partition] = low
        return begin

    def reportLatestOffset(self) -> dict[str, Any] | None:
        return None if self._latest is None else offset_math.to_json(self._latest)

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        planned = offset_math.ranges(offset_math.from_json(start), offset_math.from_json(end))
        return [KafkaPartition(r) for r in planned]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, KafkaPartition)
        return self._log().read(partition.range, self.batch_rows)

    def commit(self, end: dict[str, Any]) -> None:
        """Nothing to do: the checkpoint is the only record of progress (no consumer-group commits)."""


def _at_most(ends: Offsets, target: Offsets) -> Offsets:
    return {t: {p: min(o, target.get(t, {}).get(p, o)) for p, o in parts.items()} for t, parts in ends.items()}


def _positive_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"cdc_kafka source: {name} must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"cdc_kafka source: {name} must be a positive integer, got {value!r}")
    return number
