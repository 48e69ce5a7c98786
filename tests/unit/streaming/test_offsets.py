"""Kafka offset arithmetic of the Python Kafka source: JSON shape, startingOffsets, rate limiting, range planning."""

from __future__ import annotations

import json
import random

import pytest

from common.errors import ConfigError
from streaming.source.offsets import (
    EARLIEST,
    LATEST,
    OffsetRange,
    Offsets,
    cap,
    from_json,
    parse_starting_offsets,
    ranges,
    resolve_start,
    to_json,
    total,
    with_new_partitions,
)

TOPICS = ["orders", "payments"]


# ── JSON shape ──────────────────────────────────────────────────────────────────────────────────────────


def test_to_json_uses_string_partitions_sorted_numerically_and_topics_sorted() -> None:
    offsets: Offsets = {"payments": {10: 5, 2: 7}, "orders": {1: 3, 0: 4}}

    data = to_json(offsets)

    assert data == {"orders": {"0": 4, "1": 3}, "payments": {"2": 7, "10": 5}}
    assert list(data) == ["orders", "payments"]
    assert list(data["payments"]) == ["2", "10"]  # partition order, not string order
    assert json.dumps(data) == '{"orders": {"0": 4, "1": 3}, "payments": {"2": 7, "10": 5}}'


def test_from_json_round_trips_and_makes_partitions_ints() -> None:
    offsets: Offsets = {"orders": {0: 4, 1: 3}, "payments": {2: 7}}

    parsed = from_json(json.loads(json.dumps(to_json(offsets))))

    assert parsed == offsets
    assert all(isinstance(p, int) for parts in parsed.values() for p in parts)


def test_from_json_of_spark_checkpoint_text() -> None:
    assert from_json(json.loads('{"t":{"0":42,"1":-2}}')) == {"t": {0: 42, 1: -2}}


# ── startingOffsets ─────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("earliest", "earliest"),
        ("latest", "latest"),
        ("  latest\n", "latest"),
        ("Earliest", "earliest"),  # Spark's kafka source reads these case-insensitively
        ("LATEST", "latest"),
    ],
)
def test_parse_starting_offsets_keywords(text: str, expected: str) -> None:
    assert parse_starting_offsets(text, TOPICS) == expected


def test_parse_starting_offsets_json_with_sentinels() -> None:
    parsed = parse_starting_offsets('{"orders": {"0": 42, "1": -2, "2": -1}, "payments": {"0": 0}}', TOPICS)

    assert parsed == {"orders": {0: 42, 1: EARLIEST, 2: LATEST}, "payments": {0: 0}}


def test_parse_starting_offsets_json_may_name_a_subset_of_topics() -> None:
    assert parse_starting_offsets('{"payments": {"3": 9}}', TOPICS) == {"payments": {3: 9}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("beginning", "startingOffsets must be 'earliest', 'latest' or JSON"),
        ("", "startingOffsets must be 'earliest', 'latest' or JSON"),
        ('{"orders": {"0": 1}', "startingOffsets must be 'earliest', 'latest' or JSON"),
        ('[{"orders": 1}]', "startingOffsets JSON must map topic -> {partition: offset}"),
        ('{"orders": 5}', "startingOffsets JSON must map topic -> {partition: offset}"),
        ('{"orders": [0, 1]}', "startingOffsets JSON must map topic -> {partition: offset}"),
        ('"earliest"', "startingOffsets JSON must map topic -> {partition: offset}"),
        ('{"orders": {"zero": 1}}', "startingOffsets JSON partitions and offsets must be integers"),
        ('{"orders": {"0": "soon"}}', "startingOffsets JSON partitions and offsets must be integers"),
        ('{"orders": {"0": null}}', "startingOffsets JSON partitions and offsets must be integers"),
        ('{"orders": {"0": {"x": 1}}}', "startingOffsets JSON partitions and offsets must be integers"),
        ('{"orders": {"0": -3}}', "startingOffsets orders/0: offset -3 is not -2, -1 or >= 0"),
        ('{"orders": {"-1": 5}}', "startingOffsets orders/-1"),
    ],
)
def test_parse_starting_offsets_errors_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_starting_offsets(text, TOPICS)

    assert message in str(caught.value)


def test_parse_starting_offsets_bad_text_is_quoted_in_the_message() -> None:
    with pytest.raises(ConfigError, match="got 'oldest'"):
        parse_starting_offsets("oldest", TOPICS)


def test_parse_starting_offsets_names_every_unsubscribed_topic_sorted() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_starting_offsets('{"zeta": {"0": 1}, "orders": {"0": 1}, "alpha": {"0": 1}}', TOPICS)

    assert str(caught.value) == "startingOffsets names topic(s) not subscribed: alpha, zeta"


# ── resolving the start ─────────────────────────────────────────────────────────────────────────────────

EARLIEST_NOW: Offsets = {"orders": {0: 10, 1: 20, 2: 0}, "payments": {0: 5}}
LATEST_NOW: Offsets = {"orders": {0: 100, 1: 200, 2: 0}, "payments": {0: 50}}


def test_resolve_start_earliest_and_latest_are_copies() -> None:
    start = resolve_start("earliest", EARLIEST_NOW, LATEST_NOW)
    assert start == EARLIEST_NOW
    start["orders"][0] = 999
    assert EARLIEST_NOW["orders"][0] == 10

    latest = resolve_start("latest", EARLIEST_NOW, LATEST_NOW)
    assert latest == LATEST_NOW
    latest["payments"][0] = 999
    assert LATEST_NOW["payments"][0] == 50


def test_resolve_start_json_resolves_sentinels_and_defaults_unnamed_partitions_to_earliest() -> None:
    requested: Offsets = {"orders": {0: 42, 1: LATEST, 2: EARLIEST}}

    start = resolve_start(requested, EARLIEST_NOW, LATEST_NOW)

    # orders/0 explicit, orders/1 latest, orders/2 earliest; payments not named: earliest (like a new partition)
    assert start == {"orders": {0: 42, 1: 200, 2: 0}, "payments": {0: 5}}


def test_resolve_start_json_ignores_partitions_that_do_not_exist() -> None:
    start = resolve_start({"orders": {7: 3}}, EARLIEST_NOW, LATEST_NOW)

    assert start == EARLIEST_NOW


def test_resolve_start_of_parsed_text() -> None:
    requested = parse_starting_offsets('{"payments": {"0": -1}}', TOPICS)

    assert resolve_start(requested, EARLIEST_NOW, LATEST_NOW) == {"orders": {0: 10, 1: 20, 2: 0}, "payments": {0: 50}}


def test_with_new_partitions_adds_new_partitions_and_topics_at_earliest() -> None:
    start: Offsets = {"orders": {0: 70, 1: 80}}
    earliest: Offsets = {"orders": {0: 10, 1: 20, 2: 30}, "payments": {0: 5, 1: 6}}

    merged = with_new_partitions(start, earliest)

    assert merged == {"orders": {0: 70, 1: 80, 2: 30}, "payments": {0: 5, 1: 6}}
    assert start == {"orders": {0: 70, 1: 80}}  # not mutated


def test_with_new_partitions_keeps_partitions_that_vanished() -> None:
    assert with_new_partitions({"orders": {0: 7, 5: 9}}, {"orders": {0: 0}}) == {"orders": {0: 7, 5: 9}}


# ── rate limiting (maxOffsetsPerTrigger) ────────────────────────────────────────────────────────────────


def test_cap_without_limit_is_everything_available_as_a_copy() -> None:
    available: Offsets = {"t": {0: 100, 1: 7}}

    end = cap({"t": {0: 0, 1: 0}}, available, None)

    assert end == available
    end["t"][0] = 1
    assert available["t"][0] == 100


def test_cap_limit_at_or_above_backlog_takes_everything() -> None:
    start: Offsets = {"t": {0: 10, 1: 20}}
    available: Offsets = {"t": {0: 15, 1: 25}}

    assert cap(start, available, 10) == available  # backlog 10 == limit
    assert cap(start, available, 1_000) == available


def test_cap_splits_the_limit_in_proportion_to_backlogs() -> None:
    start: Offsets = {"a": {0: 0, 1: 100}, "b": {0: 1_000}}
    available: Offsets = {"a": {0: 600, 1: 400}, "b": {0: 1_100}}  # backlogs 600, 300, 100

    end = cap(start, available, 100)

    assert end == {"a": {0: 60, 1: 130}, "b": {0: 1_010}}
    assert total(end) - total(start) == 100


def test_cap_floors_shares_of_one_or_more() -> None:
    # backlogs 2 and 1, limit 2: shares 1.333 -> 1 and 0.667 -> rounds up to 1
    end = cap({"t": {0: 0, 1: 0}}, {"t": {0: 2, 1: 1}}, 2)

    assert end == {"t": {0: 1, 1: 1}}


def test_cap_rounds_a_share_below_one_up_so_small_partitions_progress() -> None:
    # backlogs 100 and 1, limit 10: 9.90 -> 9 (floor), 0.099 -> 1 (ceil), like KafkaMicroBatchStream.rateLimit
    end = cap({"t": {0: 0, 1: 0}}, {"t": {0: 100, 1: 1}}, 10)

    assert end == {"t": {0: 9, 1: 1}}


def test_cap_round_up_may_exceed_the_limit_slightly_as_spark_does() -> None:
    start: Offsets = {"t": {p: 0 for p in range(5)}}
    available: Offsets = {"t": {0: 1_000, 1: 1, 2: 1, 3: 1, 4: 1}}

    end = cap(start, available, 4)

    # 4 * 1000/1004 = 3.98 -> 3; each small share 0.004 -> 1
    assert end == {"t": {0: 3, 1: 1, 2: 1, 3: 1, 4: 1}}
    assert total(end) == 7


def test_cap_never_goes_past_what_is_available() -> None:
    # the checkpoint is past the log end (e.g. the log was truncated): no backlog, end stays at availability
    start: Offsets = {"t": {0: 50, 1: 0}}
    available: Offsets = {"t": {0: 40, 1: 100}}

    end = cap(start, available, 10)

    assert end == {"t": {0: 40, 1: 10}}


def test_cap_partitions_missing_from_start_get_no_share() -> None:
    # the caller merges new partitions first (with_new_partitions); unknown ones are not read by cap's budget
    end = cap({"t": {0: 0}}, {"t": {0: 100, 1: 100}}, 10)

    assert end == {"t": {0: 10, 1: 100}}
    assert ranges({"t": {0: 0}}, end) == [OffsetRange("t", 0, 0, 10)]


def test_cap_empty_partitions_keep_their_end() -> None:
    end = cap({"t": {0: 5, 1: 0}}, {"t": {0: 5, 1: 1_000}}, 100)

    assert end == {"t": {0: 5, 1: 100}}


def test_cap_does_not_mutate_its_inputs() -> None:
    start: Offsets = {"t": {0: 0, 1: 0}}
    available: Offsets = {"t": {0: 100, 1: 100}}

    cap(start, available, 10)

    assert start == {"t": {0: 0, 1: 0}}
    assert available == {"t": {0: 100, 1: 100}}


@pytest.mark.parametrize("seed", range(25))
def test_cap_invariants_on_random_backlogs(seed: int) -> None:
    rng = random.Random(seed)
    start: Offsets = {}
    available: Offsets = {}
    for topic in ("a", "b"):
        start[topic], available[topic] = {}, {}
        for partition in range(rng.randint(1, 6)):
            begin = rng.randint(0, 1_000)
            start[topic][partition] = begin
            available[topic][partition] = begin + rng.choice([0, 1, 2, rng.randint(0, 10_000)])
    limit = rng.randint(1, 5_000)

    end = cap(start, available, limit)

    backlog = total(available) - total(start)
    moved = 0
    for topic, parts in available.items():
        for partition, upper in parts.items():
            begin = start[topic][partition]
            assert begin <= end[topic][partition] <= upper
            if upper > begin:
                assert end[topic][partition] > begin  # every partition with a backlog progresses
            moved += end[topic][partition] - begin
    rounded_up = sum(1 for t, parts in available.items() for p, o in parts.items() if o > start[t][p])
    assert moved == backlog if backlog <= limit else limit - rounded_up <= moved <= limit + rounded_up


# ── range planning ──────────────────────────────────────────────────────────────────────────────────────


def test_ranges_one_per_partition_with_records_sorted_and_empty_ones_skipped() -> None:
    start: Offsets = {"b": {0: 5}, "a": {1: 10, 0: 0, 2: 7}}
    end: Offsets = {"b": {0: 8}, "a": {1: 10, 0: 3, 2: 9}}

    planned = ranges(start, end)

    assert planned == [OffsetRange("a", 0, 0, 3), OffsetRange("a", 2, 7, 9), OffsetRange("b", 0, 5, 8)]
    assert [r.size for r in planned] == [3, 2, 3]


def test_ranges_skip_partitions_whose_end_is_below_start() -> None:
    assert ranges({"t": {0: 10}}, {"t": {0: 4}}) == []


def test_ranges_of_partitions_unknown_to_start_are_skipped() -> None:
    assert ranges({}, {"t": {0: 4}}) == []


def test_ranges_ignore_partitions_only_in_start() -> None:
    assert ranges({"t": {0: 0, 1: 0}}, {"t": {0: 2}}) == [OffsetRange("t", 0, 0, 2)]


def test_offset_range_is_frozen_value() -> None:
    planned = OffsetRange("t", 1, 5, 9)

    assert planned == OffsetRange("t", 1, 5, 9)
    assert planned.size == 4
    with pytest.raises(AttributeError):
        planned.start = 6  # type: ignore[misc]


def test_total_sums_offsets_over_all_partitions() -> None:
    assert total({"a": {0: 3, 1: 4}, "b": {0: 10}}) == 17
    assert total({}) == 0
