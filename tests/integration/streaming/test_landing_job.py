"""The landing job end to end on the stack: capture -> Kafka -> Spark -> Parquet, compared with Kafka exactly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest
from pyspark.sql import SparkSession

from common.lake import LakeLocation
from common.landing_files import register_landing_views
from schemas.catalog import Catalog
from tests.support.kafka import Record, read_topics
from tests.support.landing import expected_value, land, landed, populate, run_workload, wait_idle
from tests.support.running import native_capture
from tests.support.sourcedb import catalog_copy, create_source_tables, isolated_database

PARTITION_PATH = re.compile(r"^year=\d{4}/month=\d{1,2}/day=\d{1,2}/hour=\d{1,2}/part-[^/]+\.parquet$")


@pytest.fixture(scope="module")
def changes(
    stack_endpoints: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Catalog, list[Record]]]:
    """A populated source, snapshotted and changed by the workload, captured into Kafka: (catalog, records)."""
    folder = tmp_path_factory.mktemp("landing-e2e")
    catalog, catalog_path = catalog_copy(folder)
    with isolated_database(stack_endpoints["SOURCE_DSN"], "landing") as dsn:
        create_source_tables(dsn, catalog)
        populate(dsn, catalog_path, customers=150, products=40, orders=200)
        capture = native_capture(dsn, catalog, stack_endpoints, folder / "state.json", slot="cdc_landing", partitions=3)
        try:
            capture.wait_for(events=1)
            run_workload(dsn, catalog_path, changes=1500)
            wait_idle(capture)
        finally:
            capture.close()
        topics = [table.topic for table in catalog.tables]
        records = read_topics(
            stack_endpoints["KAFKA_BOOTSTRAP_SERVERS"], stack_endpoints["SCHEMA_REGISTRY_URL"], topics
        )
        yield catalog, records


def test_landing_holds_exactly_the_kafka_events(
    changes: tuple[Catalog, list[Record]], stack_endpoints: dict[str, str], spark: SparkSession, tmp_path: Path
) -> None:
    catalog, records = changes
    lake = LakeLocation(str(tmp_path / "lake"))
    # As after a SIGKILL while Spark wrote a table's first offsets entry: its temp file (Spark 4 refuses to start a
    # first batch next to it unless the job removes it).
    offsets = Path(lake.path("checkpoints", "landing", catalog.tables[0].name, "offsets"))
    offsets.mkdir(parents=True)
    (offsets / ".0.7790c2e4-dab5-4654-a03e-11a354480731.tmp").write_bytes(b"")
    progress = {p.table: p for p in land(spark, stack_endpoints, catalog, lake)}

    for table in catalog.tables:
        expected = [r for r in records if r.topic == table.topic and r.value is not None]
        tombstones = sum(1 for r in records if r.topic == table.topic and r.value is None)
        rows = landed(lake, table.name)
        assert rows.num_rows == len(expected) > 0, table.name
        assert progress[table.name].rows == len(expected)
        assert progress[table.name].tombstones == tombstones
        assert progress[table.name].dead_letters == 0
        by_position = {(row["_kafka_partition"], row["_kafka_offset"]): row for row in rows.to_pylist()}
        assert len(by_position) == rows.num_rows  # no record landed twice
        for record in expected:
            row = by_position[(record.partition, record.offset)]
            value = record.value
            assert value is not None
            image = value["before"] if value["op"] == "d" else value["after"]
            assert row["_op"] == value["op"]
            assert row["_lsn"] == value["source"]["lsn"]
            assert row["_tx_id"] == str(value["source"]["txId"])
            assert row["_kafka_topic"] == table.topic
            for column in table.columns:
                assert row[column.name] == expected_value(column, image[column.name]), (table.name, column.name)
        # Partition folders are the UTC hour of the change's source commit time.
        for column, part in (("year", pc.year), ("month", pc.month), ("day", pc.day), ("hour", pc.hour)):
            assert rows.column(column).to_pylist() == part(rows.column("_source_ts")).to_pylist()
        folder = Path(lake.path("landing", table.name))
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")]
        assert files and all(PARTITION_PATH.match(name) for name in files), files[:3]
        # DuckDB reads the same rows with hive partitioning, through the views over the committed files.
        connection = duckdb.connect()
        assert register_landing_views(connection, lake, [table.name]) == {table.name: len(files)}
        counted = connection.execute(
            f'SELECT count(*), count(DISTINCT (_kafka_partition, _kafka_offset)), min(year) FROM "{table.name}"'
        ).fetchall()[0]
        connection.close()
        assert counted[0] == counted[1] == len(expected) and counted[2] >= 2026

    # A second run over the same checkpoints lands nothing: the offsets are in the checkpoint.
    again = land(spark, stack_endpoints, catalog, lake)
    assert sum(p.rows for p in again) == 0
    assert sum(landed(lake, t.name).num_rows for t in catalog.tables) == sum(1 for r in records if r.value is not None)
