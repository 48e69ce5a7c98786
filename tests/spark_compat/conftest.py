"""Fixtures of the Spark-compatibility suite: one local Spark session and one schema registry per test run.

The suite runs under the main venv (PySpark 4.x) and under ``.venv-spark35`` (PySpark 3.5, as on AWS Glue 5;
``make test-spark35``). It needs neither Kafka nor the stack fixtures of ``tests/conftest.py`` (which
``scripts/spark35.sh`` does not load): only Spark, a folder and the project's own registry server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pyspark
import pytest
from pyspark.sql import SparkSession

from common.spark import local_session
from tests.spark_compat.harness import Registry

MIN_SPARK = (3, 5)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The local session of ``common.spark`` (whatever PySpark this venv has: 3.5 on Glue, 4.x locally)."""
    session = local_session("cdc-spark-compat")
    print(f"spark_compat: pyspark {pyspark.__version__}, Spark {session.version}, Python {sys.version.split()[0]}")
    assert _version(pyspark.__version__) >= MIN_SPARK, f"pyspark {pyspark.__version__} is older than Glue 5's 3.5"
    assert _version(session.version) == _version(pyspark.__version__), "the JVM is not the one of this pyspark"
    yield session
    session.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A fresh registry for the run; tests register their schemas under subjects of their own."""
    server = Registry(tmp_path_factory.mktemp("registry"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
