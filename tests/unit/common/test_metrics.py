"""Pipeline metrics: the EMF documents against the specification's required structure, the sinks and their
selection, and what each job emits where it reports progress (ADR 0013)."""

from __future__ import annotations

import io
import json
import logging
import math
import threading
from typing import Any

import pytest

from batch.dag import Step, run_dag
from common.metrics import (
    DIMENSION_KEYS,
    METRIC_UNITS,
    NAMESPACE,
    NULL_SINK,
    EmfSink,
    IntervalMeter,
    LogSink,
    MetricsSettings,
    MetricsSink,
    Stage,
    clean_values,
    emf_document,
    emf_problems,
    metrics_sink,
    resolve_format,
)
from producers.capture.postgres.capture import PostgresCapture, PostgresCaptureConfig
from redshift.bridge.loop import BridgeOptions, JsonBridge
from redshift.bridge.progress import PartitionState
from redshift.runner import CheckResult, RunReport, emit_run_metrics
from schemas.catalog import load_catalog
from streaming.job import LandingJob, _TableStream
from streaming.progress import TableProgress, fold, latency_of

pytestmark = pytest.mark.unit

NOW_MS = 1_765_000_000_000
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


class RecordingSink(MetricsSink):
    """Keeps every emission (after the sink's own cleaning) for assertions."""

    def __init__(self, interval_s: float = 0.0) -> None:
        self.interval_s = interval_s
        self.records: list[tuple[Stage, dict[str, float | int], dict[str, str]]] = []

    def _write(self, stage: Stage, values: dict[str, float | int], dimensions: dict[str, str]) -> None:
        self.records.append((stage, values, dimensions))


def check_schema(document: dict[str, Any]) -> None:
    """A JSON-schema-like check of the specification's required structure, independent of `emf_problems`."""
    assert set(document["_aws"]) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(document["_aws"]["Timestamp"], int) and document["_aws"]["Timestamp"] > 0
    directives = document["_aws"]["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        assert 1 <= len(directive["Metrics"]) <= 100
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and 1 <= len(dimension_set) <= 30
            for key in dimension_set:
                assert isinstance(document[key], str) and document[key], key
        for definition in directive["Metrics"]:
            assert set(definition) == {"Name", "Unit"}
            assert definition["Unit"] in CLOUDWATCH_UNITS
            value = document[definition["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    assert json.loads(json.dumps(document)) == document  # plain JSON: no NaN, no objects


# --------------------------------------------------------------------------------------------------------------
# The names are a contract with the CloudWatch alarms


def test_metric_and_dimension_names_are_the_alarm_contract() -> None:
    assert dict(METRIC_UNITS) == {
        "EventsPerSecond": "Count/Second",
        "RowsLanded": "Count",
        "ConsumerLag": "Count",
        "DeadLetterRecords": "Count",
        "EndToEndLatencySeconds": "Seconds",
        "BatchDurationSeconds": "Seconds",
        "CaptureSlotLagBytes": "Bytes",
        "RowCountVariancePercent": "Percent",
        "StepFailed": "Count",
    }
    assert DIMENSION_KEYS == ("Stage", "Table", "Topic", "Step")
    assert NAMESPACE == "RetailCdc"


# --------------------------------------------------------------------------------------------------------------
# EMF documents


def test_an_emf_document_follows_the_specification() -> None:
    document = emf_document(
        "stream",
        {"RowsLanded": 120, "ConsumerLag": 3, "EndToEndLatencySeconds": 1.25},
        {"Table": "orders"},
        timestamp_ms=NOW_MS,
    )

    check_schema(document)
    assert emf_problems(document) == []
    assert document == {
        "_aws": {
            "Timestamp": NOW_MS,
            "CloudWatchMetrics": [
                {
                    "Namespace": "RetailCdc",
                    "Dimensions": [["Stage"], ["Stage", "Table"]],
                    "Metrics": [
                        {"Name": "RowsLanded", "Unit": "Count"},
                        {"Name": "ConsumerLag", "Unit": "Count"},
                        {"Name": "EndToEndLatencySeconds", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "Stage": "stream",
        "Table": "orders",
        "RowsLanded": 120,
        "ConsumerLag": 3,
        "EndToEndLatencySeconds": 1.25,
    }


def test_without_extra_dimensions_only_the_stage_roll_up_is_published() -> None:
    document = emf_document("capture", {"CaptureSlotLagBytes": 4096}, timestamp_ms=NOW_MS, namespace="Dev/RetailCdc")

    check_schema(document)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage"]]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Dev/RetailCdc"


@pytest.mark.parametrize("stage", ["capture", "stream", "bridge", "warehouse", "batch"])
def test_every_metric_in_one_document_is_valid(stage: Stage) -> None:
    values = {name: float(number) for number, name in enumerate(METRIC_UNITS)}
    document = emf_document(stage, values, {"Table": "t", "Topic": "p", "Step": "s"}, timestamp_ms=NOW_MS)

    check_schema(document)
    assert emf_problems(document) == []
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1] == ["Stage", "Step", "Table", "Topic"]


def test_values_that_are_not_finite_numbers_are_left_out() -> None:
    assert clean_values({"RowsLanded": None, "ConsumerLag": math.nan, "EventsPerSecond": math.inf}) == {}
    document = emf_document("bridge", {"ConsumerLag": None, "DeadLetterRecords": 0}, timestamp_ms=NOW_MS)
    assert [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["DeadLetterRecords"]
    assert "ConsumerLag" not in document
    with pytest.raises(ValueError, match="at least one"):
        emf_document("bridge", {"ConsumerLag": None}, timestamp_ms=NOW_MS)


def test_unknown_names_and_bad_dimension_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric name"):
        emf_document("stream", {"RowsLandd": 1}, timestamp_ms=NOW_MS)
    with pytest.raises(ValueError, match="unknown dimension"):
        emf_document("stream", {"RowsLanded": 1}, {"Host": "x"}, timestamp_ms=NOW_MS)
    with pytest.raises(ValueError, match="non-empty string"):
        emf_document("stream", {"RowsLanded": 1}, {"Table": ""}, timestamp_ms=NOW_MS)


def valid() -> dict[str, Any]:
    return emf_document("stream", {"RowsLanded": 1}, {"Table": "orders"}, timestamp_ms=NOW_MS)


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (lambda d: d.pop("_aws"), "_aws is missing"),
        (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
        (lambda d: d["_aws"].update(Timestamp="now"), "Timestamp"),
        (lambda d: d["_aws"].update(CloudWatchMetrics=[]), "non-empty list"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Glue"), "Namespace"),
        (lambda d: d.pop("RowsLanded"), "metric RowsLanded has no numeric top-level value"),
        (lambda d: d.update(RowsLanded="12"), "metric RowsLanded has no numeric top-level value"),
        (lambda d: d.update(Table=7), "dimension 'Table' has no string value"),
        (lambda d: d.pop("Stage"), "dimension 'Stage' has no string value"),
        (
            lambda d: d["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append([f"D{i}" for i in range(31)]),
            "at most 30 keys",
        ),
        (
            lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Metrics=[{"Name": "RowsLanded", "Unit": "Count"}] * 101),
            "1-100 metric definitions",
        ),
    ],
)
def test_the_validator_names_what_breaks_the_specification(break_it: Any, problem: str) -> None:
    document = valid()
    break_it(document)

    problems = emf_problems(document)

    assert any(problem in text for text in problems), problems


def test_thirty_dimensions_and_a_hundred_metrics_are_still_valid() -> None:
    document = valid()
    keys = [f"D{i}" for i in range(30)]
    document.update({key: "x" for key in keys})
    directive = document["_aws"]["CloudWatchMetrics"][0]
    directive["Dimensions"].append(keys)
    directive["Metrics"] = [{"Name": f"M{i}", "Unit": "Count"} for i in range(100)]
    document.update({f"M{i}": i for i in range(100)})

    assert emf_problems(document) == []


# --------------------------------------------------------------------------------------------------------------
# Sinks and their selection


def test_the_emf_sink_writes_one_json_line_per_emission() -> None:
    stream = io.StringIO()
    sink = EmfSink(stream)

    sink.emit("bridge", {"ConsumerLag": 5, "EventsPerSecond": 2.5}, {"Topic": "retail.orders.cdc"})
    sink.emit("warehouse", {"StepFailed": 0})
    sink.emit("capture", {"CaptureSlotLagBytes": None})  # nothing numeric: no line

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    documents = [json.loads(line) for line in lines]
    for document in documents:
        check_schema(document)
        assert emf_problems(document) == []
    assert documents[0]["Topic"] == "retail.orders.cdc" and documents[0]["ConsumerLag"] == 5
    assert documents[1]["Stage"] == "warehouse" and documents[1]["StepFailed"] == 0


def test_the_emf_sink_keeps_lines_whole_across_threads() -> None:
    stream = io.StringIO()
    sink = EmfSink(stream)
    threads = [
        threading.Thread(target=lambda: [sink.emit("stream", {"RowsLanded": n}) for n in range(200)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 800
    assert all(emf_problems(json.loads(line)) == [] for line in lines)


def test_the_log_sink_is_a_readable_key_value_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cdc.metrics"):
        LogSink().emit("stream", {"RowsLanded": 120, "EventsPerSecond": 2345.6789, "ConsumerLag": None},
                       {"Table": "orders"})  # fmt: skip

    [record] = caplog.records
    assert record.getMessage() == "metrics"
    assert record.cdc_fields == {"stage": "stream", "table": "orders", "RowsLanded": 120, "EventsPerSecond": 2345.679}


def test_auto_is_emf_on_aws_and_the_readable_summary_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("METRICS_FORMAT", "AWS_EXECUTION_ENV", "METRICS_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    local = MetricsSettings()
    assert resolve_format(local) == "log"
    assert isinstance(metrics_sink(local), LogSink)
    assert isinstance(metrics_sink(local, on_aws=True), EmfSink)  # a Glue entry point

    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")
    assert isinstance(metrics_sink(MetricsSettings()), EmfSink)

    monkeypatch.setenv("METRICS_FORMAT", "off")
    monkeypatch.setenv("METRICS_INTERVAL_SECONDS", "30")
    assert metrics_sink(MetricsSettings()) is NULL_SINK
    monkeypatch.setenv("METRICS_FORMAT", "log")
    sink = metrics_sink(MetricsSettings(), on_aws=True)
    assert isinstance(sink, LogSink) and sink.interval_s == 30.0


def test_the_interval_meter_paces_emissions_and_counts_deltas() -> None:
    meter = IntervalMeter(10.0)
    assert meter.due(100.0) is None  # starts the clock
    assert meter.due(105.0) is None
    assert meter.due(110.5) == 10.5
    assert meter.due(111.0, force=True) == 0.5
    assert meter.delta("events", 40) == 40
    assert meter.delta("events", 55) == 15
    assert meter.delta("events", 55) == 0
    assert IntervalMeter(10.0).due(1.0, force=True) == 0.0


# --------------------------------------------------------------------------------------------------------------
# What each job emits where it reports progress


def test_the_capture_emits_throughput_and_slot_lag_per_interval() -> None:
    sink = RecordingSink(interval_s=0.0)
    capture = PostgresCapture(
        dsn="postgresql://unused", catalog=load_catalog(), tables=[], publisher=None,  # type: ignore[arg-type]
        state_file=None, config=PostgresCaptureConfig(), metrics=sink,  # type: ignore[arg-type]
    )  # fmt: skip
    capture._report()  # starts the clock
    capture.progress.events_by_table["retail.orders.cdc"] += 300
    capture.progress.slot_lag_bytes = 8192
    capture._report(force=True)

    [(stage, values, dimensions)] = sink.records
    assert (stage, dimensions) == ("capture", {})
    assert values["CaptureSlotLagBytes"] == 8192 and values["EventsPerSecond"] > 0


def test_the_landing_job_emits_per_batch_per_table() -> None:
    sink = RecordingSink()
    table = load_catalog().table("orders")
    job = LandingJob(None, None, None, None, [table], lambda t: None, metrics=sink)  # type: ignore[arg-type]
    stream = _TableStream(table, None, TableProgress("orders", table.topic, 1))  # type: ignore[arg-type]
    report = {
        "batchId": 0,
        "numInputRows": 10,
        "processedRowsPerSecond": 500.0,
        "timestamp": "2026-12-01T10:00:00.000Z",
        "durationMs": {"triggerExecution": 2000},
        "observedMetrics": {"landing_orders": {"rows": 8, "tombstones": 1, "dead_letters": 1,
                                               "newest_source_us": 1_796_119_197_000_000}},  # 10:00:02 - 5 s
        "sources": [{"latestOffset": {"t": {"0": 12}}, "endOffset": {"t": {"0": 10}}}],
    }  # fmt: skip
    fold(stream.progress, [report])
    job._emit_metrics(stream)
    job._emit_metrics(stream)  # no new batch: nothing more
    fold(stream.progress, [{**report, "batchId": 1, "observedMetrics": {"landing_orders": {"rows": 2}}}])
    job._emit_metrics(stream)

    assert [values for _, values, _ in sink.records] == [
        {"RowsLanded": 8, "DeadLetterRecords": 1, "EventsPerSecond": 500.0, "ConsumerLag": 2,
         "BatchDurationSeconds": 2.0, "EndToEndLatencySeconds": 5.0},
        {"RowsLanded": 2, "DeadLetterRecords": 0, "EventsPerSecond": 500.0, "ConsumerLag": 2,
         "BatchDurationSeconds": 2.0, "EndToEndLatencySeconds": 5.0},
    ]  # fmt: skip
    assert {(stage, dims["Table"]) for stage, _, dims in sink.records} == {("stream", "orders")}


def test_latency_needs_a_source_time_and_the_batch_start() -> None:
    assert latency_of({"timestamp": "2026-12-01T10:00:00Z"}, None) is None
    assert latency_of({}, 1) is None
    assert latency_of({"timestamp": "yesterday"}, 1) is None
    assert latency_of({"timestamp": "2026-12-01T10:00:00Z"}, 1_796_119_210_000_000) == 0.0  # clocks skewed: not < 0


def test_the_bridge_emits_per_topic_lag_dead_letters_and_rate() -> None:
    sink = RecordingSink(interval_s=0.0)
    bridge = JsonBridge({}, {}, BridgeOptions(topics=("a.cdc", "b.cdc")), None, metrics=sink)  # type: ignore[arg-type]
    bridge._emit_metrics(0.0)  # starts the clock
    topic = bridge.progress.topics["a.cdc"]
    topic.events, topic.dead_letters = 90, 10
    topic.partitions = {0: PartitionState(position=100, high_watermark=130), 1: PartitionState(at_end=True)}
    bridge._emit_metrics(2.0)

    by_topic = {dims["Topic"]: values for _, values, dims in sink.records}
    assert by_topic["a.cdc"] == {"EventsPerSecond": 50.0, "DeadLetterRecords": 10, "ConsumerLag": 30}
    assert by_topic["b.cdc"] == {"EventsPerSecond": 0.0, "DeadLetterRecords": 0}  # no partition known: no lag


def test_the_warehouse_cycle_emits_duration_outcome_and_row_count_variance() -> None:
    sink = RecordingSink()
    report = RunReport("run-1", counts={"analytics.dim_customer": 90, "analytics.fact_order_items": 50})
    emit_run_metrics(sink, report, {"analytics.dim_customer": 100}, 3.5)
    failed = RunReport("run-2", checks=[CheckResult("one current row per key", "analytics.dim_customer", 2)])
    emit_run_metrics(sink, failed, {}, 1.0)

    assert sink.records == [
        ("warehouse", {"BatchDurationSeconds": 3.5, "StepFailed": 0}, {}),
        ("warehouse", {"RowCountVariancePercent": -10.0}, {"Table": "analytics.dim_customer"}),
        ("warehouse", {"BatchDurationSeconds": 1.0, "StepFailed": 1}, {}),
    ]


def test_the_batch_dag_emits_per_step_and_nothing_for_skipped_steps() -> None:
    sink = RecordingSink()

    def broken() -> str:
        raise OSError("disk full")

    run_dag(
        [Step("staging:orders", lambda: "ok"), Step("dimensions", broken), Step("facts", lambda: "", ("dimensions",))],
        attempts=1,
        wait_seconds=0,
        metrics=sink,
    )

    assert [(stage, values["StepFailed"], dims) for stage, values, dims in sink.records] == [
        ("batch", 0, {"Step": "staging:orders"}),
        ("batch", 1, {"Step": "dimensions"}),
    ]
    assert all(values["BatchDurationSeconds"] >= 0 for _, values, _ in sink.records)
