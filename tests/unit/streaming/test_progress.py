"""Per-table progress folded from Spark streaming progress reports (dicts, JSON objects, Rows)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streaming.landing import metrics_name
from streaming.progress import TableProgress, as_dict, fold, lag_of


def progress() -> TableProgress:
    return TableProgress("orders", "retail.orders.cdc", reader_schema_id=7)


def report(
    batch_id: int,
    records: int = 0,
    *,
    rate: float | None = None,
    metrics: dict[str, Any] | None = None,
    latest: Any = None,
    end: Any = None,
    table: str = "orders",
) -> dict[str, Any]:
    """A progress report as PySpark 3.5 hands it over (``query.recentProgress`` items)."""
    data: dict[str, Any] = {"id": "q", "batchId": batch_id, "numInputRows": records}
    if rate is not None:
        data["processedRowsPerSecond"] = rate
    if metrics is not None:
        data["observedMetrics"] = {metrics_name(table): metrics}
    if latest is not None or end is not None:
        data["sources"] = [{"description": "kafka", "startOffset": None, "endOffset": end, "latestOffset": latest}]
    return data


def test_a_new_table_progress_starts_empty() -> None:
    fresh = progress()

    assert (fresh.state, fresh.batches, fresh.rows, fresh.lag, fresh.last_batch_id) == ("starting", 0, 0, None, -1)


def test_fold_adds_batches_records_and_observed_metrics() -> None:
    table = progress()

    fold(
        table,
        [
            report(0, 10, rate=100.0, metrics={"rows": 7, "tombstones": 2, "dead_letters": 1}),
            report(1, 5, rate=50.0, metrics={"rows": 5, "tombstones": 0, "dead_letters": 0}),
        ],
    )

    assert (table.batches, table.input_records, table.rows, table.tombstones, table.dead_letters) == (2, 15, 12, 2, 1)
    assert table.rows_per_second == 50.0
    assert table.last_batch_id == 1


def test_fold_skips_reports_already_seen() -> None:
    table = progress()
    reports = [report(0, 10, metrics={"rows": 10}), report(1, 4, metrics={"rows": 4})]

    fold(table, reports)
    fold(table, [*reports, report(2, 1, metrics={"rows": 1})])  # recentProgress repeats older batches
    fold(table, [report(1, 4, metrics={"rows": 4})])

    assert (table.batches, table.input_records, table.rows, table.last_batch_id) == (3, 15, 15, 2)


def test_empty_batches_are_not_counted_and_keep_the_last_rate() -> None:
    table = progress()

    fold(table, [report(0, 10, rate=80.0), report(1, 0, rate=0.0), report(2, 0)])

    assert (table.batches, table.input_records, table.rows_per_second, table.last_batch_id) == (1, 10, 80.0, 2)


def test_metrics_of_other_queries_and_missing_values_count_zero() -> None:
    table = progress()

    fold(
        table,
        [
            report(0, 3, metrics={"rows": 3}, table="payment"),
            report(1, 3, metrics={"rows": None, "tombstones": 1}),
            {"batchId": 2, "numInputRows": None, "observedMetrics": None},
        ],
    )

    assert (table.rows, table.tombstones, table.dead_letters, table.batches) == (0, 1, 0, 2)


def test_pyspark_4_row_metrics_are_read_through_as_dict() -> None:
    class Row:
        def __init__(self, **values: int) -> None:
            self.values = values

        def asDict(self) -> dict[str, int]:
            return dict(self.values)

    table = progress()

    fold(table, [{"batchId": 0, "numInputRows": 2, "observedMetrics": {"landing_orders": Row(rows=1, dead_letters=1)}}])

    assert (table.rows, table.dead_letters) == (1, 1)


def test_lag_is_latest_minus_end_over_all_partitions() -> None:
    table = progress()

    fold(table, [report(0, 5, latest={"t": {"0": 120, "1": 30}}, end={"t": {"0": 100, "1": 30}})])
    assert table.lag == 20

    fold(table, [report(1, 5, latest='{"t": {"0": 130, "1": 31}}', end='{"t": {"0": 130, "1": 31}}')])
    assert table.lag == 0


def test_lag_keeps_its_last_value_when_a_report_has_none() -> None:
    table = progress()
    fold(table, [report(0, 5, latest={"t": {"0": 9}}, end={"t": {"0": 4}})])

    fold(table, [report(1, 0), report(2, 0, latest=None, end={"t": {"0": 4}})])

    assert table.lag == 5


@pytest.mark.parametrize(
    ("latest", "end", "expected"),
    [
        ({"t": {"0": 10}}, {"t": {"0": 12}}, 0),  # never negative
        ('{"a": {"0": 5}, "b": {"0": 5}}', {"a": {"0": 1}, "b": {"0": 2}}, 7),
        ({"t": {"0": 10, "1": 5}}, {"t": {"0": 10}}, 5),  # a partition not read yet
        ("[1, 2]", {"t": {"0": 1}}, None),
        ({"t": {"0": 1}}, None, None),
    ],
)
def test_lag_of(latest: Any, end: Any, expected: int | None) -> None:
    assert lag_of(report(0, latest=latest, end=end)) == expected


def test_lag_of_without_sources_is_unknown() -> None:
    assert lag_of({"batchId": 0}) is None
    assert lag_of({"batchId": 0, "sources": []}) is None


def test_as_dict_accepts_dicts_and_progress_objects() -> None:
    data = report(3, 4, rate=2.0)

    class JsonProperty:
        json = json.dumps(data)

    class JsonMethod:
        def json(self) -> str:
            return json.dumps(data)

    assert as_dict(data) is data
    assert as_dict(JsonProperty()) == data
    assert as_dict(JsonMethod()) == data


def test_fold_reads_progress_objects() -> None:
    class Progress:
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        @property
        def json(self) -> str:
            return json.dumps(self.data)

    table = progress()

    fold(
        table,
        [Progress(report(0, 3, metrics={"rows": 2, "tombstones": 1}, latest={"t": {"0": 9}}, end={"t": {"0": 3}}))],
    )

    assert (table.batches, table.rows, table.tombstones, table.lag) == (1, 2, 1, 6)
