"""Pipeline metrics: CloudWatch Embedded Metric Format lines on AWS, a readable key=value summary locally.

The jobs (capture, landing, bridge, warehouse runner, batch DAG) emit at the point where they already compute
their progress, through a :class:`MetricsSink` their entry point builds from :class:`MetricsSettings` and passes
down (ADR 0013). Metric and dimension names are a contract with the CloudWatch alarms in ``infra/``: they are
declared once here, and :func:`emf_document` refuses any other name.

EMF (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
one JSON object per log line, ``_aws`` holding ``Timestamp`` (ms since the epoch) and ``CloudWatchMetrics`` (a list
of directives: ``Namespace``, ``Dimensions`` as a list of dimension-key lists, ``Metrics`` as ``{Name, Unit}``),
and every dimension value (a string) and metric value (a number) as a top-level member. CloudWatch Logs extracts
the metrics from any log group the line reaches (Glue's driver output, ECS/Lambda stdout); no agent is needed.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TextIO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.logging import get_logger

NAMESPACE: Final = "RetailCdc"
Stage = Literal["capture", "stream", "bridge", "warehouse", "batch"]
STAGES: Final[tuple[Stage, ...]] = ("capture", "stream", "bridge", "warehouse", "batch")

# Metric name -> CloudWatch unit. The names are what the alarms match: change them only together with infra/.
METRIC_UNITS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "EventsPerSecond": "Count/Second",  # throughput of the stage over the last interval / batch
        "RowsLanded": "Count",  # rows written by the stage since its previous emission
        "ConsumerLag": "Count",  # records the stage has still to read (Kafka offsets, or MV rows)
        "DeadLetterRecords": "Count",  # records sent to a dead-letter sink since the previous emission
        "EndToEndLatencySeconds": "Seconds",  # source commit -> written by this stage (newest record of a batch)
        "BatchDurationSeconds": "Seconds",  # one micro-batch, load cycle or DAG step
        "CaptureSlotLagBytes": "Bytes",  # WAL between the source's current position and the slot's confirmed one
        "RowCountVariancePercent": "Percent",  # a relation's row count against the previous run, signed
        "StepFailed": "Count",  # 1 when a cycle / step failed, 0 when it succeeded (alarm on Sum or Maximum)
    }
)
# Dimension keys besides `Stage`; every metric is also published under `Stage` alone (the alarms' roll-up).
DIMENSION_KEYS: Final = ("Stage", "Table", "Topic", "Step")
MAX_DIMENSIONS_PER_SET: Final = 30
MAX_METRICS_PER_DIRECTIVE: Final = 100
MAX_DIMENSION_VALUE: Final = 1024

Format = Literal["auto", "emf", "log", "off"]


class MetricsSettings(BaseSettings):
    """How the jobs report metrics (`METRICS_*`); `auto` is EMF on AWS, the readable summary elsewhere."""

    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore", populate_by_name=True)

    format: Format = "auto"
    namespace: str = Field(default=NAMESPACE, min_length=1, max_length=255)
    # Jobs that report continuously (capture, bridge) emit at most this often; per-batch jobs emit per batch.
    interval_seconds: float = Field(default=10.0, ge=0)
    # Set by AWS in Lambda, ECS/Fargate and friends; Glue entry points say `on_aws=True` themselves.
    aws_execution_env: str | None = Field(default=None, validation_alias="AWS_EXECUTION_ENV")


def clean_values(values: Mapping[str, float | int | None]) -> dict[str, float | int]:
    """The finite numeric values (None, NaN and infinities dropped: EMF needs numbers); unknown names refused."""
    unknown = sorted(set(values) - set(METRIC_UNITS))
    if unknown:
        raise ValueError(f"unknown metric name(s) {unknown}; declare them in common.metrics.METRIC_UNITS")
    cleaned: dict[str, float | int] = {}
    for name, value in values.items():
        if value is None or isinstance(value, bool) or not math.isfinite(value):
            continue
        cleaned[name] = value
    return cleaned


def emf_document(
    stage: Stage,
    values: Mapping[str, float | int | None],
    dimensions: Mapping[str, str] | None = None,
    *,
    timestamp_ms: int,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """One EMF document (pure): the metrics under ``{Stage}`` and, with more dimensions, under all of them too."""
    metrics = clean_values(values)
    if not metrics:
        raise ValueError("an EMF document needs at least one numeric metric value")
    if len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        raise ValueError(f"at most {MAX_METRICS_PER_DIRECTIVE} metrics per document, got {len(metrics)}")
    extra = dict(dimensions or {})
    unknown = sorted(set(extra) - set(DIMENSION_KEYS[1:]))
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; known: {', '.join(DIMENSION_KEYS[1:])}")
    keys = ["Stage", *sorted(extra)]
    values_by_key = {"Stage": stage, **extra}
    for key in keys:
        if not isinstance(values_by_key[key], str) or not values_by_key[key]:
            raise ValueError(f"dimension {key} needs a non-empty string value")
    dimension_sets = [["Stage"]] + ([keys] if len(keys) > 1 else [])
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(timestamp_ms),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": dimension_sets,
                    "Metrics": [{"Name": name, "Unit": METRIC_UNITS[name]} for name in metrics],
                }
            ],
        },
    }
    document.update({key: values_by_key[key][:MAX_DIMENSION_VALUE] for key in keys})
    document.update(metrics)
    return document


def emf_problems(document: Mapping[str, Any]) -> list[str]:
    """What makes ``document`` break the EMF specification's required structure (empty when it is valid)."""
    problems: list[str] = []
    meta = document.get("_aws")
    if not isinstance(meta, Mapping):
        return ["_aws is missing or not an object"]
    timestamp = meta.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
        problems.append("_aws.Timestamp must be a positive integer (milliseconds since the epoch)")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics must be a non-empty list of metric directives"]
    for number, directive in enumerate(directives):
        where = f"CloudWatchMetrics[{number}]"
        if not isinstance(directive, Mapping):
            problems.append(f"{where} is not an object")
            continue
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or namespace.startswith("AWS/"):
            problems.append(f"{where}.Namespace must be a string of 1-255 characters not starting with AWS/")
        problems.extend(_dimension_problems(document, directive.get("Dimensions"), where))
        problems.extend(_metric_problems(document, directive.get("Metrics"), where))
    return problems


def _dimension_problems(document: Mapping[str, Any], sets: Any, where: str) -> list[str]:
    """Every dimension set a list of at most 30 keys, each naming a top-level string member."""
    if not isinstance(sets, list):
        return [f"{where}.Dimensions must be a list of dimension sets"]
    problems = []
    for dimension_set in sets:
        if not isinstance(dimension_set, list) or len(dimension_set) > MAX_DIMENSIONS_PER_SET:
            problems.append(f"{where}: a dimension set must be a list of at most {MAX_DIMENSIONS_PER_SET} keys")
            continue
        for key in dimension_set:
            value = document.get(key) if isinstance(key, str) else None
            if not isinstance(value, str) or not value or len(value) > MAX_DIMENSION_VALUE:
                problems.append(f"{where}: dimension {key!r} has no string value of 1-1024 characters")
    return problems


def _metric_problems(document: Mapping[str, Any], metrics: Any, where: str) -> list[str]:
    """1-100 metric definitions, each with a Name whose top-level member is a number (or up to 100 numbers)."""
    if not isinstance(metrics, list) or not metrics or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        return [f"{where}.Metrics must list 1-{MAX_METRICS_PER_DIRECTIVE} metric definitions"]
    problems = []
    for definition in metrics:
        name = definition.get("Name") if isinstance(definition, Mapping) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: a metric definition has no Name")
            continue
        value = document.get(name)
        numbers = value if isinstance(value, list) else [value]
        if not numbers or len(numbers) > 100 or not all(_is_number(item) for item in numbers):
            problems.append(f"{where}: metric {name} has no numeric top-level value")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------------------------
# Sinks


class MetricsSink(ABC):
    """Where jobs send metrics: ``emit(stage, {name: value}, {dimension: value})``; never raises for a bad value."""

    interval_s: float = 10.0

    def emit(
        self, stage: Stage, values: Mapping[str, float | int | None], dimensions: Mapping[str, str] | None = None
    ) -> None:
        cleaned = clean_values(values)
        if cleaned:
            self._write(stage, cleaned, dict(dimensions or {}))

    @abstractmethod
    def _write(self, stage: Stage, values: dict[str, float | int], dimensions: dict[str, str]) -> None: ...


class NullSink(MetricsSink):
    """Metrics off."""

    def _write(self, stage: Stage, values: dict[str, float | int], dimensions: dict[str, str]) -> None:
        return None


NULL_SINK: Final = NullSink()


class EmfSink(MetricsSink):
    """One EMF JSON line per emission on ``stream`` (stdout by default: what CloudWatch Logs receives on AWS)."""

    def __init__(self, stream: TextIO | None = None, namespace: str = NAMESPACE, interval_s: float = 10.0) -> None:
        self._stream = stream
        self.namespace = namespace
        self.interval_s = interval_s
        self._lock = threading.Lock()  # the landing job and the bridge emit from more than one thread

    def _write(self, stage: Stage, values: dict[str, float | int], dimensions: dict[str, str]) -> None:
        now_ms = time.time_ns() // 1_000_000
        document = emf_document(stage, values, dimensions, timestamp_ms=now_ms, namespace=self.namespace)
        line = json.dumps(document, separators=(",", ":")) + "\n"
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()


class LogSink(MetricsSink):
    """The readable local form: one ``metrics`` key=value log line per emission (``CDC_LOG_LEVEL=INFO`` shows it)."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._log = get_logger("cdc.metrics")

    def _write(self, stage: Stage, values: dict[str, float | int], dimensions: dict[str, str]) -> None:
        fields: dict[str, Any] = {"stage": stage, **{key.lower(): value for key, value in dimensions.items()}}
        fields.update({name: _readable(value) for name, value in values.items()})
        self._log.info("metrics", **fields)


def _readable(value: float | int) -> float | int:
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() and abs(value) < 1e15 else round(value, 3)


def resolve_format(settings: MetricsSettings, *, on_aws: bool = False) -> Literal["emf", "log", "off"]:
    """``auto`` becomes ``emf`` on AWS (a Glue entry point, or AWS_EXECUTION_ENV set) and ``log`` elsewhere."""
    if settings.format != "auto":
        return settings.format
    return "emf" if on_aws or bool(settings.aws_execution_env) else "log"


def metrics_sink(settings: MetricsSettings, *, on_aws: bool = False, stream: TextIO | None = None) -> MetricsSink:
    """The sink the settings select (entry points only: jobs get the sink, never the settings)."""
    chosen = resolve_format(settings, on_aws=on_aws)
    if chosen == "emf":
        return EmfSink(stream, settings.namespace, settings.interval_seconds)
    if chosen == "log":
        return LogSink(settings.interval_seconds)
    return NULL_SINK


# --------------------------------------------------------------------------------------------------------------
# Per-interval emission for jobs that report continuously


@dataclass
class IntervalMeter:
    """When a per-interval emission is due, and what cumulative counters did since the previous one."""

    every_s: float
    _last_at: float | None = None
    _totals: dict[str, float] = field(default_factory=dict)

    def due(self, now: float, *, force: bool = False) -> float | None:
        """Seconds since the previous emission when one is due (the first call starts the clock), else None."""
        if self._last_at is None:
            self._last_at = now
            return 0.0 if force else None
        elapsed = now - self._last_at
        if not force and elapsed < self.every_s:
            return None
        self._last_at = now
        return elapsed

    def delta(self, name: str, total: float) -> float:
        """How much the cumulative counter ``name`` grew since the previous call for it (its first call: all)."""
        previous = self._totals.get(name, 0)
        self._totals[name] = total
        return max(total - previous, 0)  # an int for int counters: the readable summary shows 8, not 8.0
