"""The local Spark session of the streaming and batch jobs (on Glue, the session comes from ``GlueContext``).

Shared by both stages, so it lives in ``common`` (batch may not import ``streaming``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

from pyspark.sql import SparkSession

LOG_CONFIG: Final = Path(__file__).with_name("log4j2.properties")

# Settings shared by every session the project starts (Glue applies the same through job parameters).
SESSION_CONF: Final[dict[str, str]] = {
    "spark.sql.session.timeZone": "UTC",
    # Parquet timestamps as INT64 micros with UTC adjustment, not Spark's legacy INT96, so pyarrow, DuckDB and
    # Athena read `_source_ts` & co. as UTC instants.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
    "spark.sql.streaming.minBatchesToRetain": "100",
    "spark.python.worker.reuse": "true",
    "spark.ui.showConsoleProgress": "false",
}


def local_session(app_name: str, *, master: str = "local[2]", log_level: str = "ERROR") -> SparkSession:
    """A quiet local session: UTC, two shuffle partitions, no UI, Spark's log at ``log_level`` on stderr."""
    # Python workers must run this interpreter (the venv with pyarrow, fastavro and the project).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to a loopback address" warning
    java_options = f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()} -Dcdc.spark.log.level={log_level.lower()}"
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
    )
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(log_level.upper())
    return session
