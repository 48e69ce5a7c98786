"""The Glue entry point's argument handling (pure; Glue itself cannot run here)."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from streaming.glue_job import glue_config, job_arguments
from streaming.source import native_options

BASE = [
    "script.py", "--JOB_NAME", "landing-dev", "--lake_root", "s3://lake-dev/data",
    "--schema_registry_url", "http://registry.internal:8081", "--bootstrap_servers", "b-1.msk:9098",
]  # fmt: skip


def test_required_arguments_and_defaults() -> None:
    config = glue_config(job_arguments(BASE))

    assert config.job_name == "landing-dev"
    assert config.lake.path("landing", "customer") == "s3://lake-dev/data/landing/customer"
    assert config.sink.trigger == 60.0  # the seed documents' 60-second windows
    assert config.sink.checkpoint_root is None  # -> <lake>/checkpoints
    assert config.source.kind == "native" and config.source.msk_iam
    assert config.tables == ()
    options = native_options(config.source, ["retail.customer.cdc"])
    assert options["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert options["startingOffsets"] == "earliest" and options["includeHeaders"] == "true"


def test_optional_arguments_override_the_defaults() -> None:
    argv = [*BASE, "--tables", "customer, orders", "--trigger_seconds", "30", "--max_offsets_per_trigger", "50000",
            "--checkpoint_root", "s3://ckpt/landing", "--msk_iam", "false"]  # fmt: skip
    config = glue_config(job_arguments(argv))

    assert config.tables == ("customer", "orders")
    assert config.sink.trigger == 30.0
    assert config.source.max_offsets_per_trigger == 50_000
    assert config.sink.checkpoint_root == "s3://ckpt/landing"
    assert not config.source.msk_iam


def test_a_missing_required_argument_is_named() -> None:
    with pytest.raises(ConfigError, match="--bootstrap_servers"):
        job_arguments(BASE[:-2])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("trigger_seconds", "soon", "--trigger_seconds must be a number"),
        ("trigger_seconds", "0", "greater than zero"),
        ("max_offsets_per_trigger", "-5", "positive integer"),
        ("source", "kinesis", "--source must be native or python"),
        ("lake_root", "ftp://x", "LAKE_ROOT must be a folder or s3://"),
    ],
)
def test_bad_arguments_give_one_clear_error(name: str, value: str, message: str) -> None:
    args = job_arguments(BASE)
    args[name] = value
    with pytest.raises(ConfigError, match=message):
        glue_config(args)
