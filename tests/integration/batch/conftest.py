"""Fixtures of the batch integration tests: one local Spark session for the package (starting one costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from common.spark import local_session


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = local_session("cdc-batch-tests")
    yield session
    session.stop()
