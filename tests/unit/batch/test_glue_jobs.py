"""The batch jobs' Glue entry point: job arguments validated into one clear line (no Spark needed)."""

from __future__ import annotations

import pytest

from batch.glue_jobs import OPTIONAL, REQUIRED, glue_config
from common.errors import ConfigError
from common.glue import job_arguments


def arguments(*extra: str) -> dict[str, str]:
    argv = ["script.py", "--JOB_NAME", "cdc-batch-staging", "--lake_root", "s3://lake/retail", *extra]
    return job_arguments(argv, REQUIRED, OPTIONAL)


def test_a_staging_job_for_two_tables() -> None:
    config = glue_config(arguments("--step", "staging", "--tables", "customer, orders"))
    assert (config.job_name, config.lake.root, config.step, config.tables) == (
        "cdc-batch-staging",
        "s3://lake/retail",
        "staging",
        ("customer", "orders"),
    )


def test_defaults_and_errors() -> None:
    assert glue_config(arguments("--step", "all")).tables == ()
    with pytest.raises(ConfigError, match=r"missing Glue job argument.*--step"):
        arguments()
    with pytest.raises(ConfigError, match="--step must be one of"):
        glue_config(arguments("--step", "everything"))
    with pytest.raises(ConfigError, match="unknown table 'nosuch'"):
        glue_config(arguments("--step", "staging", "--tables", "nosuch"))
