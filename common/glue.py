"""What every AWS Glue entry point needs: job arguments (``getResolvedOptions`` on Glue, the same contract without
it) and the session (GlueContext's on Glue, a local one elsewhere, for trying a script locally)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.errors import ConfigError


def parse_arguments(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """getResolvedOptions' contract without awsglue: every name must be given as ``--name value``."""
    found: dict[str, str] = {}
    items = list(argv)
    for index, item in enumerate(items[:-1]):
        if item.startswith("--") and item[2:] in names:
            found[item[2:]] = items[index + 1]
    missing = [name for name in names if name not in found]
    if missing:
        raise ConfigError(f"missing Glue job argument(s): {', '.join('--' + name for name in missing)}")
    return found


def job_arguments(argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str]) -> dict[str, str]:
    """Required arguments plus the optional ones that were passed, over the optional ones' defaults."""
    present = [name for name in optional if f"--{name}" in argv]
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]  # noqa: PLC0415 - Glue only
    except ImportError:
        resolved = parse_arguments(argv, [*required, *present])
    else:
        resolved = getResolvedOptions(list(argv), [*required, *present])
    return {**optional, **resolved}


def glue_session(job_name: str, args: Mapping[str, str]) -> tuple[Any, Any]:
    """(SparkSession, Glue Job) on Glue; a local session and no job elsewhere."""
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]  # noqa: PLC0415
        from awsglue.job import Job  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        from common.spark import local_session  # noqa: PLC0415

        return local_session(job_name), None
    from pyspark.context import SparkContext  # noqa: PLC0415

    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(job_name, dict(args))
    return glue.spark_session, job
