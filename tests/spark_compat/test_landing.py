"""The landing path after the Kafka source, on whatever Spark this venv has (3.5 as on Glue 5, or 4.x).

Kafka records (Confluent-framed Debezium Avro of ``customer``, a tombstone, poison records) come from Parquet
files with the Kafka source's columns; ``decode_to_landing`` + ``start_landing_query`` land them under
``landing/customer/year=/month=/day=/hour=`` with a checkpoint, dead letters under ``dlq/customer/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from schemas.catalog import load_catalog
from schemas.debezium import envelope_schema, key_schema, subject_names
from streaming.plans import decode_plan
from tests.spark_compat.harness import Registry, land_available_now
from tests.spark_compat.kafka_files import (
    Record,
    TopicLog,
    as_utc,
    by_kafka_position,
    committed_files,
    customer,
    data_files,
    epoch_value,
    micros,
    read_landed,
    utc,
)

pytestmark = [
    pytest.mark.spark_compat,
    # PySpark 3.5 checks the pandas/pyarrow versions with distutils' LooseVersion.
    pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated:DeprecationWarning"),
]

TABLE = load_catalog().table("customer")
PARTITION_FOLDER = re.compile(r"^year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})/hour=(\d{1,2})/part-[^/]+\.parquet$")
DEAD_LETTER_FILE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})/(.+)\+(\d+)\+(\d+)\+(\d+)\.parquet$")


def check_landed(lake: Path, expected: list[Record], row_columns: tuple[str, ...]) -> None:
    """Landed rows are exactly the valid change events, with their values, CDC metadata and partitions."""
    landed = by_kafka_position(read_landed(lake / "landing" / TABLE.name))
    wanted = {(r.partition, r.offset): r for r in expected}
    assert sorted(landed) == sorted(wanted)
    for position, record in wanted.items():
        row, change = landed[position], record.expected
        assert change is not None
        assert {name: epoch_value(row[name]) for name in row_columns} == change.image, position
        assert row["_op"] == change.op
        assert row["_lsn"] == change.lsn
        assert row["_tx_id"] == str(change.tx_id)
        assert row["_snapshot"] is change.snapshot
        assert row["_schema_id"] == change.schema_id
        assert as_utc(row["_source_ts"]) == change.source_ts
        assert row["_kafka_topic"] == TABLE.topic
        assert micros(as_utc(row["_kafka_timestamp"])) == record.timestamp_us
        assert row["_ingested_at"] is not None
        when = change.source_ts
        assert (row["year"], row["month"], row["day"], row["hour"]) == (when.year, when.month, when.day, when.hour)


def check_partition_folders(folder: Path, expected: list[Record]) -> None:
    """Every data file sits in ``year=/month=/day=/hour=`` of its rows' source time, and is committed."""
    files = data_files(folder)
    assert files, f"no data files under {folder}"
    assert committed_files(folder) == files, "files on disk differ from the file sink's committed log"
    folders = set()
    for name in files:
        match = PARTITION_FOLDER.match(name)
        assert match, f"not in a year=/month=/day=/hour= folder: {name}"
        folders.add(tuple(int(part) for part in match.groups()))
    times = {r.expected.source_ts for r in expected if r.expected is not None}
    assert folders == {(t.year, t.month, t.day, t.hour) for t in times}


def read_dead_letters(lake: Path) -> tuple[set[str], dict[tuple[int, int], dict[str, Any]]]:
    folder = lake / "dlq" / TABLE.name
    names = {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}
    rows = pads.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()
    return names, {(row["partition"], row["offset"]): row for row in rows}


def test_landing_decodes_lands_and_resumes_exactly_once(
    spark: SparkSession, registry: Registry, tmp_path: Path
) -> None:
    key_subject, value_subject = subject_names(TABLE)
    envelope = envelope_schema(TABLE)
    value_id = registry.register(value_subject, envelope)
    log = TopicLog(TABLE, registry.register(key_subject, key_schema(TABLE)))
    plan = decode_plan(TABLE, registry.endpoint)
    assert plan.reader_id == value_id
    schema = (value_id, envelope)
    source, lake = tmp_path / "kafka", LakeLocation(str(tmp_path / "lake"))
    lake_root = Path(lake.root)

    # Two Kafka partitions, one file each: snapshot reads, an insert, an update, a delete with its tombstone
    # (partition 0), and changes around a truncated body (partition 1); two source days, several hours.
    one, two, three, four = customer(1), customer(2), customer(3), customer(4)
    partition0 = [
        log.change(0, "r", schema=schema, after=one, lsn=1_000, tx_id=500, at=utc(2026, 1, 5, 23, 50)),
        log.change(0, "r", schema=schema, after=two, lsn=1_000, tx_id=500, at=utc(2026, 1, 5, 23, 50)),
        log.change(0, "c", schema=schema, after=three, lsn=2_048, tx_id=501, at=utc(2026, 1, 6, 0, 10)),
        log.change(
            0,
            "u",
            schema=schema,
            before=one,
            after=customer(1, segment="corporate", loyalty_tier="silver"),
            lsn=2_100,
            tx_id=502,
            at=utc(2026, 1, 6, 0, 20),
        ),
        log.change(0, "d", schema=schema, before=two, lsn=4_096, tx_id=503, at=utc(2026, 1, 6, 1, 5)),
        log.tombstone(0, two, at=utc(2026, 1, 6, 1, 5)),
        log.raw(0, b"\x01" + (value_id).to_bytes(4, "big") + b"not Confluent framing", at=utc(2026, 1, 6, 1, 6)),
    ]
    _, whole, _ = log.encode("c", schema=schema, after=customer(9), lsn=1, tx_id=1, at=utc(2026, 1, 6, 1, 7))
    partition1 = [
        log.change(1, "c", schema=schema, after=four, lsn=5_000, tx_id=504, at=utc(2026, 1, 6, 1, 30)),
        log.raw(1, whole[:60], at=utc(2026, 1, 6, 1, 31)),
        log.change(
            1,
            "u",
            schema=schema,
            before=four,
            after=customer(4, city="Chicago"),
            lsn=5_200,
            tx_id=505,
            at=utc(2026, 1, 6, 1, 40),
        ),
    ]
    log.write(source / "batch-0-p0.parquet", partition0)
    log.write(source / "batch-0-p1.parquet", partition1)
    valid = [r for r in partition0 + partition1 if r.expected is not None]

    progress = land_available_now(spark, source, plan, lake)

    assert (progress.rows, progress.tombstones, progress.dead_letters) == (len(valid), 1, 2)
    check_landed(lake_root, valid, plan.landing.row_names)
    check_partition_folders(lake_root / "landing" / TABLE.name, valid)
    landed_columns = pads.dataset(lake_root / "landing" / TABLE.name, partitioning="hive").schema.names
    assert sorted(landed_columns) == sorted(plan.landing.arrow_schema().names)

    dead_names, dead = read_dead_letters(lake_root)
    bad_magic, truncated = partition0[-1], partition1[1]
    assert sorted(dead) == [(0, bad_magic.offset), (1, truncated.offset)]
    assert dead[(0, bad_magic.offset)]["error_class"] == "BadFraming"
    assert dead[(1, truncated.offset)]["error_class"] == "TruncatedRecord"
    assert dead[(1, truncated.offset)]["schema_id"] == value_id
    for record in (bad_magic, truncated):
        letter = dead[(record.partition, record.offset)]
        assert (letter["table"], letter["topic"], letter["value"]) == (TABLE.name, TABLE.topic, record.value)
        assert letter["error_message"]
    for name in dead_names:
        match = DEAD_LETTER_FILE.match(name)
        assert match, f"unexpected dead-letter file name {name}"
        assert match.group(1) == "2026-01-06"
        assert match.group(2) == TABLE.topic

    # Restart on the same checkpoint with nothing new: nothing lands, no dead letter is written again.
    files_before = data_files(lake_root / "landing" / TABLE.name)
    dead_mtimes = {p: p.stat().st_mtime_ns for p in (lake_root / "dlq").rglob("*.parquet")}
    progress = land_available_now(spark, source, plan, lake)
    assert (progress.rows, progress.tombstones, progress.dead_letters, progress.input_records) == (0, 0, 0, 0)
    assert data_files(lake_root / "landing" / TABLE.name) == files_before
    assert {p: p.stat().st_mtime_ns for p in (lake_root / "dlq").rglob("*.parquet")} == dead_mtimes
    check_landed(lake_root, valid, plan.landing.row_names)

    # Restart after more records arrived: exactly the new ones land (the checkpoint knows the old files).
    more = [
        log.change(
            0,
            "u",
            schema=schema,
            before=three,
            after=customer(3, phone=None, city="Peoria"),
            lsn=6_000,
            tx_id=506,
            at=utc(2026, 1, 6, 2, 15),
        ),
        log.tombstone(0, three, at=utc(2026, 1, 6, 2, 16)),
    ]
    log.write(source / "batch-1-p0.parquet", more)
    progress = land_available_now(spark, source, plan, lake)
    assert (progress.rows, progress.tombstones, progress.dead_letters) == (1, 1, 0)
    check_landed(lake_root, valid + more[:1], plan.landing.row_names)
    check_partition_folders(lake_root / "landing" / TABLE.name, valid + more[:1])
    assert read_dead_letters(lake_root)[0] == dead_names
