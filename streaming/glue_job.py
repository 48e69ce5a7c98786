"""AWS Glue entry point of the landing job (Glue 5.x: Spark 3.5, Python 3.11) — the script Glue runs.

Job arguments (``--name value``, read with ``awsglue.utils.getResolvedOptions`` when it is there):

  required  --JOB_NAME, --lake_root (s3://bucket/prefix), --schema_registry_url, --bootstrap_servers
  optional  --tables (comma-separated; default all catalog tables), --checkpoint_root (default
            <lake_root>/checkpoints), --trigger_seconds (60), --starting_offsets (earliest),
            --max_offsets_per_trigger, --max_records_per_file (250000), --source (native),
            --msk_iam (true: SASL/IAM options for MSK), --schema_registry_basic_auth (user:password)

Everything after the Kafka source is the code ``cdc stream`` runs locally.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from common.errors import ConfigError
from common.glue import glue_session
from common.glue import job_arguments as glue_arguments
from common.lake import LakeLocation
from common.metrics import MetricsSettings, metrics_sink
from schemas.catalog import Table, load_catalog
from streaming.decode import DecodePlan
from streaming.landing import SinkConfig
from streaming.plans import decode_plan, select_tables
from streaming.source import KafkaSourceConfig
from streaming.writer_schemas import RegistryEndpoint

REQUIRED: Final = ("JOB_NAME", "lake_root", "schema_registry_url", "bootstrap_servers")
OPTIONAL: Final[dict[str, str]] = {
    "tables": "",
    "checkpoint_root": "",
    "trigger_seconds": "60",
    "starting_offsets": "earliest",
    "max_offsets_per_trigger": "",
    "max_records_per_file": "250000",
    "source": "native",
    "msk_iam": "true",
    "schema_registry_basic_auth": "",
}


@dataclass(frozen=True)
class GlueLandingConfig:
    """The landing job's settings, resolved from Glue job arguments."""

    job_name: str
    source: KafkaSourceConfig
    lake: LakeLocation
    sink: SinkConfig
    registry: RegistryEndpoint
    tables: tuple[str, ...]


def job_arguments(argv: Sequence[str]) -> dict[str, str]:
    """Required arguments plus the optional ones that were passed, over the defaults."""
    return glue_arguments(argv, REQUIRED, OPTIONAL)


def _positive(args: dict[str, str], name: str) -> int | None:
    text = args[name].strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(f"--{name} must be a positive integer, got {text!r}")
    return int(text)


def glue_config(args: dict[str, str]) -> GlueLandingConfig:
    """Validate job arguments into the job's settings; one ConfigError line names a bad argument."""
    if args["source"] not in ("native", "python"):
        raise ConfigError(f"--source must be native or python, got {args['source']!r}")
    try:
        trigger = float(args["trigger_seconds"])
    except ValueError:
        raise ConfigError(f"--trigger_seconds must be a number, got {args['trigger_seconds']!r}") from None
    if trigger <= 0:
        raise ConfigError("--trigger_seconds must be greater than zero")
    lake = LakeLocation(args["lake_root"])
    source = KafkaSourceConfig(
        kind="native" if args["source"] == "native" else "python",
        bootstrap_servers=args["bootstrap_servers"],
        starting_offsets=args["starting_offsets"],
        max_offsets_per_trigger=_positive(args, "max_offsets_per_trigger"),
        msk_iam=args["msk_iam"].lower() in ("true", "1", "yes"),
    )
    sink = SinkConfig(
        trigger=trigger,
        max_records_per_file=_positive(args, "max_records_per_file") or 250_000,
        checkpoint_root=args["checkpoint_root"] or None,
    )
    registry = RegistryEndpoint(args["schema_registry_url"], args["schema_registry_basic_auth"] or None)
    tables = tuple(name.strip() for name in args["tables"].split(",") if name.strip())
    return GlueLandingConfig(args["JOB_NAME"], source, lake, sink, registry, tables)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the landing job until Glue stops it (SIGTERM) or, with a stopped stream, until it fails."""
    from streaming.job import LandingJob  # noqa: PLC0415 - keeps argument errors fast and pyspark-free

    args = job_arguments(sys.argv if argv is None else argv)
    config = glue_config(args)
    chosen = select_tables(load_catalog(), list(config.tables) or None)
    spark, job = glue_session(config.job_name, args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def plan_for(table: Table) -> DecodePlan:
        return decode_plan(table, config.registry)

    metrics = metrics_sink(MetricsSettings(), on_aws=True)  # EMF lines in the driver's CloudWatch log (ADR 0013)
    LandingJob(spark, config.source, config.lake, config.sink, chosen, plan_for, metrics=metrics).run(stop)
    if job is not None:
        job.commit()


if __name__ == "__main__":
    main()
