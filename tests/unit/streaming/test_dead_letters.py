"""Dead letters grouped into deterministic Parquet files: one per day, topic partition and task."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow.parquet as pq

from common.lake import LakeLocation
from streaming.dead_letters import DEAD_LETTER_SCHEMA, DeadLetter, DeadLetterSink, dead_letter_files
from tests.unit.streaming.records import micros

UTC = dt.UTC
FAILED_AT = micros(dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
MAR_5 = micros(dt.datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC))
MAR_6 = micros(dt.datetime(2024, 3, 6, 0, 0, tzinfo=UTC))


def letter(
    offset: int,
    *,
    topic: str = "retail.orders.cdc",
    partition: int = 0,
    timestamp_us: int | None = MAR_5,
    error_class: str = "BadFraming",
    message: str = "not Confluent-framed Avro",
    schema_id: int | None = None,
    key: bytes | None = b"k",
) -> DeadLetter:
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        kafka_timestamp_us=timestamp_us,
        key=key,
        value=b"\x01raw" + bytes([offset % 256]),
        schema_id=schema_id,
        error_class=error_class,
        error_message=message,
    )


def test_no_letters_no_files() -> None:
    assert dead_letter_files("orders", [], FAILED_AT) == {}


def test_one_file_per_day_topic_and_partition_named_by_first_and_last_offset() -> None:
    letters = [
        letter(17, partition=1),
        letter(12, partition=1),
        letter(30, partition=1, timestamp_us=MAR_6),
        letter(5, partition=2),
        letter(8, topic="retail.other.cdc", partition=1),
    ]

    files = dead_letter_files("orders", letters, FAILED_AT)

    assert sorted(files) == [
        "dlq/orders/date=2024-03-05/retail.orders.cdc+1+12+17.parquet",
        "dlq/orders/date=2024-03-05/retail.orders.cdc+2+5+5.parquet",
        "dlq/orders/date=2024-03-05/retail.other.cdc+1+8+8.parquet",
        "dlq/orders/date=2024-03-06/retail.orders.cdc+1+30+30.parquet",
    ]
    assert sum(table.num_rows for table in files.values()) == len(letters)


def test_rows_are_sorted_by_offset_and_carry_every_field() -> None:
    letters = [
        letter(9, error_class="TrailingBytes", message="1 byte(s) left", schema_id=7, key=None),
        letter(3, error_class="ValueOutOfRange", message="column 'x'", schema_id=7),
    ]

    (table,) = dead_letter_files("orders", letters, FAILED_AT).values()

    assert table.schema == DEAD_LETTER_SCHEMA
    assert table.to_pylist() == [
        {
            "table": "orders",
            "topic": "retail.orders.cdc",
            "partition": 0,
            "offset": 3,
            "kafka_timestamp": dt.datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC),
            "key": b"k",
            "value": b"\x01raw\x03",
            "schema_id": 7,
            "error_class": "ValueOutOfRange",
            "error_message": "column 'x'",
            "failed_at": dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
        },
        {
            "table": "orders",
            "topic": "retail.orders.cdc",
            "partition": 0,
            "offset": 9,
            "kafka_timestamp": dt.datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=UTC),
            "key": None,
            "value": b"\x01raw\x09",
            "schema_id": 7,
            "error_class": "TrailingBytes",
            "error_message": "1 byte(s) left",
            "failed_at": dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
        },
    ]


def test_letters_without_kafka_timestamp_are_filed_under_the_failure_date() -> None:
    files = dead_letter_files("orders", [letter(4, timestamp_us=None)], FAILED_AT)

    ((name, table),) = files.items()
    assert name == "dlq/orders/date=2024-06-01/retail.orders.cdc+0+4+4.parquet"
    assert table.column("kafka_timestamp").to_pylist() == [None]
    assert table.column("schema_id").to_pylist() == [None]


def test_long_error_messages_are_cut_to_2000_characters() -> None:
    (table,) = dead_letter_files("orders", [letter(1, message="é" * 5_000)], FAILED_AT).values()

    assert table.column("error_message").to_pylist() == ["é" * 2_000]


def test_file_names_and_contents_do_not_depend_on_letter_order() -> None:
    letters = [letter(o, partition=o % 3, timestamp_us=MAR_6 + o) for o in range(40)]
    shuffled = letters[:]
    random.Random(4).shuffle(shuffled)

    first = dead_letter_files("orders", letters, FAILED_AT)
    second = dead_letter_files("orders", shuffled, FAILED_AT)

    assert sorted(first) == sorted(second)
    assert all(first[name].equals(second[name]) for name in first)
    assert sorted(first) == [
        "dlq/orders/date=2024-03-06/retail.orders.cdc+0+0+39.parquet",
        "dlq/orders/date=2024-03-06/retail.orders.cdc+1+1+37.parquet",
        "dlq/orders/date=2024-03-06/retail.orders.cdc+2+2+38.parquet",
    ]


def test_sink_writes_the_files_under_the_lake_and_rewrites_them_on_replay(tmp_path: Path) -> None:
    sink = DeadLetterSink(LakeLocation(str(tmp_path)), "orders")
    letters = [letter(2), letter(1)]

    written = sink.write(letters, FAILED_AT)
    again = sink.write(letters, FAILED_AT)

    expected = tmp_path / "dlq/orders/date=2024-03-05/retail.orders.cdc+0+1+2.parquet"
    assert written == again == [str(expected)]
    assert [p.name for p in expected.parent.iterdir()] == [expected.name]  # no temporary leftovers, no duplicate
    assert pq.read_table(expected).column("offset").to_pylist() == [1, 2]
