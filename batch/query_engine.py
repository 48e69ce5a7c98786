"""DuckDB over the lake, in Athena's role locally (ADR 0011 decision 6): one view per table of each zone.

Views are named like the Glue catalog's tables: ``staging.<table>`` and ``curated.<table>`` over the current
version of each versioned table (``batch.table_store``), ``landing.<table>`` over the landing zone's committed files
(ADR 0009), with the hour folders as columns. The files are scanned through pyarrow datasets, so a local folder
and an ``s3://`` lake work the same way without DuckDB's network extensions (which this machine cannot download).
Each view fixes the file list of the moment it was created: a new engine sees newer versions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from batch.table_store import VERSIONS_FOLDER, TableStore
from common.errors import CdcError
from common.lake import LakeLocation
from common.landing_files import committed_files, landing_tables, tables_with

VERSIONED_ZONES: Final = ("staging", "curated")
_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class QueryError(CdcError):
    """DuckDB refused the query; the message is DuckDB's own first line."""


@dataclass(frozen=True)
class LakeView:
    """One view the engine created: its qualified name, how many files it reads, what it reads."""

    zone: str
    table: str
    files: int
    version: int | None = None

    @property
    def name(self) -> str:
        return f"{self.zone}.{self.table}"


def versioned_tables(location: LakeLocation, zone: str) -> list[str]:
    """Tables of a zone that have a version log (sorted; empty when the zone does not exist yet)."""
    return [name for name in tables_with(location, zone, VERSIONS_FOLDER) if _NAME.match(name)]


class LakeQueryEngine:
    """An in-memory DuckDB database with the lake's views; ``query`` returns an Arrow table."""

    def __init__(self, location: LakeLocation, zones: Sequence[str] = (*VERSIONED_ZONES, "landing")) -> None:
        self.location = location
        self.connection = duckdb.connect()
        self.connection.execute("SET TimeZone = 'UTC'")
        self.views: list[LakeView] = []
        self._filesystem, _ = location.filesystem()
        for zone in zones:
            self._register_zone(zone)

    def _register_zone(self, zone: str) -> None:
        self.connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{zone}"')
        if zone == "landing":
            for table in landing_tables(self.location):
                paths = committed_files(self.location, table)
                if paths:
                    dataset = ds.dataset(
                        paths, filesystem=self._filesystem, format="parquet", partitioning="hive",
                        partition_base_dir=self.location.fs_path("landing", table),
                    )  # fmt: skip
                    self._view(zone, table, dataset, len(paths), None)
            return
        for table in versioned_tables(self.location, zone):
            store = TableStore(self.location, zone, table)
            version = store.current()
            if version is None or not version.files:
                continue
            paths = [f"{store.folder()}/{path}" for path in version.files]
            dataset = ds.dataset(paths, filesystem=self._filesystem, format="parquet")
            self._view(zone, table, dataset, len(paths), version.version)

    def _view(self, zone: str, table: str, dataset: ds.Dataset, files: int, version: int | None) -> None:
        relation = f"__{zone}__{table}"
        self.connection.register(relation, dataset)
        self.connection.execute(f'CREATE OR REPLACE VIEW "{zone}"."{table}" AS SELECT * FROM "{relation}"')  # noqa: S608 - names checked by _NAME / the readers' contract
        self.views.append(LakeView(zone, table, files, version))

    def query(self, sql: str) -> pa.Table:
        """Run one SQL statement over the views; a DuckDB error becomes one QueryError line."""
        try:
            relation = self.connection.sql(sql)  # None for a statement without a result (DDL, SET)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from None

    def columns(self, view: LakeView) -> list[tuple[str, str]]:
        rows: list[Any] = self.connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [view.zone, view.table],
        ).fetchall()
        return [(str(name), str(kind)) for name, kind in rows]

    def close(self) -> None:
        self.connection.close()
