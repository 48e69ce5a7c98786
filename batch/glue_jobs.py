"""AWS Glue entry point of the batch jobs (Glue 5.x: Spark 3.5, Python 3.11) — one script, one job per step.

Job arguments (``--name value``, read with ``awsglue.utils.getResolvedOptions`` when it is there):

  required  --JOB_NAME, --lake_root (s3://bucket/prefix), --step: staging | dimensions | facts | aggregates | all
  optional  --tables (comma-separated, staging only; default all catalog tables)

The Glue workflow runs staging → dimensions → facts → aggregates as separate jobs (infra/); ``--step all`` runs the
whole DAG in one job, as ``cdc batch run`` does locally. Every step is idempotent (ADR 0011), so Glue's own
retries and a re-run after a failure are safe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from common.errors import CdcError, ConfigError
from common.glue import glue_session, job_arguments
from common.lake import LakeLocation
from common.metrics import MetricsSettings, metrics_sink
from schemas.catalog import load_catalog

REQUIRED: Final = ("JOB_NAME", "lake_root", "step")
OPTIONAL: Final[dict[str, str]] = {"tables": ""}
STEPS: Final = ("staging", "dimensions", "facts", "aggregates", "all")


@dataclass(frozen=True)
class GlueBatchConfig:
    job_name: str
    lake: LakeLocation
    step: str
    tables: tuple[str, ...]


def glue_config(args: dict[str, str]) -> GlueBatchConfig:
    """Validate job arguments; one ConfigError line names a bad argument."""
    if args["step"] not in STEPS:
        raise ConfigError(f"--step must be one of {', '.join(STEPS)}, got {args['step']!r}")
    tables = tuple(name.strip() for name in args["tables"].split(",") if name.strip())
    catalog = load_catalog()
    for name in tables:
        catalog.table(name)
    return GlueBatchConfig(args["JOB_NAME"], LakeLocation(args["lake_root"]), args["step"], tables)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one step (or the DAG); a failed step ends the job with an error Glue shows and alarms on."""
    from batch.curated_job import CuratedJob  # noqa: PLC0415 - keeps argument errors fast and pyspark-free
    from batch.dag import Step, run_dag  # noqa: PLC0415
    from batch.staging_job import StagingJob  # noqa: PLC0415

    args = job_arguments(sys.argv if argv is None else argv, REQUIRED, OPTIONAL)
    config = glue_config(args)
    catalog = load_catalog()
    spark, job = glue_session(config.job_name, args)
    tables = list(config.tables) or None

    def staging() -> str:
        reports = StagingJob(spark, config.lake, catalog).run(tables)
        return ", ".join(f"{report.table}: {report.status}" for report in reports)

    def curated(step: str) -> Step:
        return Step(step, lambda: CuratedJob(spark, config.lake, catalog).run({step}).summary())

    chosen = {
        "staging": [Step("staging", staging)],
        "dimensions": [curated("dimensions")],
        "facts": [curated("facts")],
        "aggregates": [curated("aggregates")],
        "all": [
            Step("staging", staging),
            Step("dimensions", curated("dimensions").run, ("staging",)),
            Step("facts", curated("facts").run, ("dimensions",)),
            Step("aggregates", curated("aggregates").run, ("facts",)),
        ],
    }[config.step]
    results = run_dag(chosen, metrics=metrics_sink(MetricsSettings(), on_aws=True))  # EMF lines (ADR 0013)
    for result in results:
        print(
            f"{result.name}: {result.status} in {result.seconds:.1f}s ({result.attempts} attempt(s)): {result.summary}"
        )
    failed = [result for result in results if not result.ok]
    if job is not None and not failed:
        job.commit()
    if failed:
        raise CdcError(f"batch step(s) failed: {', '.join(result.name for result in failed)}")


if __name__ == "__main__":
    main()
