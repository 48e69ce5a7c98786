"""Schema evolution in the decoder, on whatever Spark this venv has (3.5 as on Glue 5, or 4.x).

A column added at the source registers a new envelope version. Events written with the older schema id are
resolved against the newer reader schema (fetched by id from the registry on the executors) and land with NULL
for the new column. A writer newer than the query's reader fails the batch with ``ReaderSchemaOutdated`` (the
job's restart logic looks for that name in the query's exception); a query with the newer reader then replays
the batch from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from schemas.catalog import Column, load_catalog
from schemas.debezium import envelope_schema, key_schema, schema_for_columns, subject_names
from schemas.framing import frame
from streaming.plans import decode_plan
from tests.spark_compat.harness import Registry, land_available_now
from tests.spark_compat.kafka_files import (
    Record,
    TopicLog,
    by_kafka_position,
    committed_files,
    customer,
    data_files,
    epoch_value,
    read_landed,
    utc,
)

pytestmark = [
    pytest.mark.spark_compat,
    pytest.mark.filterwarnings("ignore:distutils Version classes are deprecated:DeprecationWarning"),
]

# Its own topic (so its own subjects) next to test_landing's customer schemas in the shared registry.
TABLE = load_catalog().table("customer").model_copy(update={"topic": "retail.customer_evolution.cdc"})
REFERRAL = Column(name="referral_code", type="varchar(16)", nullable=True)
LANGUAGE = Column(name="preferred_language", type="varchar(8)", nullable=True)
UNKNOWN_SCHEMA_ID = 999_999


def check_rows(lake: Path, expected: list[Record], row_columns: tuple[str, ...]) -> None:
    """Landed rows are the change events; a column the writer schema lacked is NULL."""
    landed = by_kafka_position(read_landed(lake / "landing" / TABLE.name))
    assert sorted(landed) == sorted((r.partition, r.offset) for r in expected)
    for record in expected:
        row, change = landed[(record.partition, record.offset)], record.expected
        assert change is not None
        wanted = {name: change.image.get(name) for name in row_columns}
        assert {name: epoch_value(row.get(name)) for name in row_columns} == wanted, (record.partition, record.offset)
        assert (row["_op"], row["_lsn"], row["_schema_id"]) == (change.op, change.lsn, change.schema_id)


def test_older_writer_lands_null_for_new_column_and_newer_writer_restarts_reader(
    spark: SparkSession, registry: Registry, tmp_path: Path
) -> None:
    key_subject, value_subject = subject_names(TABLE)
    v1 = envelope_schema(TABLE)
    v2 = schema_for_columns(TABLE, [*TABLE.columns, REFERRAL])
    v1_id = registry.register(value_subject, v1)
    v2_id = registry.register(value_subject, v2)
    assert v1_id != v2_id
    log = TopicLog(TABLE, registry.register(key_subject, key_schema(TABLE)))
    plan = decode_plan(TABLE, registry.endpoint)
    assert plan.reader_id == v2_id
    assert plan.landing.row_names[-1] == REFERRAL.name
    source, lake = tmp_path / "kafka", LakeLocation(str(tmp_path / "lake"))
    lake_root = Path(lake.root)

    def with_referral(row: dict[str, Any], code: str | None) -> dict[str, Any]:
        return {**row, REFERRAL.name: code}

    one, two, three = customer(1), customer(2), customer(3)
    first = [
        log.change(0, "c", schema=(v1_id, v1), after=one, lsn=100, tx_id=1, at=utc(2026, 3, 1, 8)),
        log.change(0, "c", schema=(v1_id, v1), after=two, lsn=200, tx_id=2, at=utc(2026, 3, 1, 8, 5)),
        log.change(
            0,
            "u",
            schema=(v1_id, v1),
            before=one,
            after=customer(1, city="Peoria"),
            lsn=300,
            tx_id=3,
            at=utc(2026, 3, 1, 8, 10),
        ),
        # ALTER TABLE customer ADD COLUMN referral_code: the capture now writes with v2.
        log.change(
            0,
            "c",
            schema=(v2_id, v2),
            after=with_referral(three, "FRIEND10"),
            lsn=400,
            tx_id=4,
            at=utc(2026, 3, 1, 9, 1),
        ),
        log.change(
            0,
            "u",
            schema=(v2_id, v2),
            before=with_referral(two, None),
            after=with_referral(customer(2, state="WI"), None),
            lsn=500,
            tx_id=5,
            at=utc(2026, 3, 1, 9, 2),
        ),
    ]
    # A record whose schema id the registry does not know: a dead letter, not a failed batch.
    _, body, _ = log.encode("c", schema=(v1_id, v1), after=customer(9), lsn=1, tx_id=1, at=utc(2026, 3, 1, 9, 3))
    unknown = log.raw(0, frame(UNKNOWN_SCHEMA_ID, body[5:]), at=utc(2026, 3, 1, 9, 3))
    log.write(source / "batch-0.parquet", [*first, unknown])

    progress = land_available_now(spark, source, plan, lake)

    assert (progress.rows, progress.tombstones, progress.dead_letters) == (len(first), 0, 1)
    check_rows(lake_root, first, plan.landing.row_names)
    landed = by_kafka_position(read_landed(lake_root / "landing" / TABLE.name))
    assert [landed[(0, r.offset)][REFERRAL.name] for r in first] == [None, None, None, "FRIEND10", None]
    dead = pq.read_table(lake_root / "dlq" / TABLE.name).to_pylist()
    assert [(d["offset"], d["schema_id"], d["error_class"]) for d in dead] == [
        (unknown.offset, UNKNOWN_SCHEMA_ID, "SchemaMismatch")
    ]

    # Another column arrives (v3) while the query still reads with v2: the batch fails, naming the cause.
    v3 = schema_for_columns(TABLE, [*TABLE.columns, REFERRAL, LANGUAGE])
    v3_id = registry.register(value_subject, v3)
    four = {**with_referral(customer(4), "SPRING"), LANGUAGE.name: "de"}
    second = [log.change(0, "c", schema=(v3_id, v3), after=four, lsn=600, tx_id=6, at=utc(2026, 3, 1, 10))]
    log.write(source / "batch-1.parquet", second)
    with pytest.raises(StreamingQueryException) as failure:
        land_available_now(spark, source, plan, lake)
    assert "ReaderSchemaOutdated" in str(failure.value)
    check_rows(lake_root, first, plan.landing.row_names)

    # The restarted query reads with the latest schema and replays the failed batch from the checkpoint.
    newer = decode_plan(TABLE, registry.endpoint)
    assert newer.reader_id == v3_id
    progress = land_available_now(spark, source, newer, lake)
    assert (progress.rows, progress.dead_letters) == (1, 0)
    check_rows(lake_root, first + second, newer.landing.row_names)
    folder = lake_root / "landing" / TABLE.name
    assert committed_files(folder) == data_files(folder)
