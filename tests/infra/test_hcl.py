"""The checks of tests/infra/hcl_checks.py pass on infra/ (and see what they should: no vacuous pass)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from batch import glue_jobs as batch_entry
from deploy.artefacts import project_info, wheel_key
from deploy.settings import ENVS_DIR
from streaming import glue_job as streaming_entry
from tests.infra import hcl_checks
from tests.infra.hcl_checks import InfraTree

pytestmark = pytest.mark.unit


def test_every_bucket_is_encrypted_versioned_and_private(infra_tree: InfraTree) -> None:
    buckets = {block.address for block in infra_tree.of("resource", "aws_s3_bucket")}
    assert buckets == {"aws_s3_bucket.this", "aws_s3_bucket.access_logs"}  # the s3_bucket module + the log target
    assert hcl_checks.bucket_problems(infra_tree) == []


def test_no_policy_grants_every_action_on_every_resource(infra_tree: InfraTree) -> None:
    statements = hcl_checks.iam_statements(infra_tree)
    forms = {statement.where.split(" ")[-3] for statement in statements}
    assert len(statements) > 40
    assert "jsonencode" in forms  # KMS key policies are read too, not only policy documents
    assert hcl_checks.iam_wildcard_problems(infra_tree) == []


def test_glue_jobs_run_real_entry_points_with_their_parsers_arguments(infra_tree: InfraTree, repo_root: Path) -> None:
    jobs, problems = hcl_checks.glue_jobs(infra_tree, repo_root)
    assert problems == []
    scripts = {job.script: job for job in jobs}
    assert scripts.keys() == {"streaming/glue_job.py", "batch/glue_jobs.py"}
    assert scripts["streaming/glue_job.py"].module is streaming_entry
    assert scripts["batch/glue_jobs.py"].module is batch_entry
    required = set(streaming_entry.REQUIRED) - hcl_checks.GLUE_SUPPLIED
    assert required <= set(scripts["streaming/glue_job.py"].arguments or {})
    assert hcl_checks.glue_job_problems(infra_tree, repo_root) == []


def test_one_batch_job_per_dag_step(infra_tree: InfraTree, repo_root: Path) -> None:
    jobs, _ = hcl_checks.glue_jobs(infra_tree, repo_root)
    steps = hcl_checks.batch_step_jobs(jobs)
    assert list(steps) == hcl_checks.dag_steps() == [step for step in batch_entry.STEPS if step != "all"]


def test_state_machine_runs_the_dag_in_order_with_retries_and_alerts(infra_tree: InfraTree) -> None:
    assert hcl_checks.batch_dag_problems(infra_tree) == []


def test_environments_declare_the_same_variables(infra_tree: InfraTree) -> None:
    envs = hcl_checks.env_dirs(infra_tree)
    assert [env.name for env in envs] == ["dev", "prod"]
    assert len(hcl_checks.env_variables(infra_tree, envs[0])) > 30
    assert hcl_checks.env_variable_problems(infra_tree) == []


def test_every_checkov_skip_has_a_reason(infra_tree: InfraTree) -> None:
    skips = hcl_checks.checkov_skips(infra_tree)
    assert skips, "expected the documented inline skips"
    assert hcl_checks.skip_comment_problems(infra_tree) == []


def test_skips_are_documented_in_the_readme(infra_tree: InfraTree, repo_root: Path) -> None:
    readme = (repo_root / "infra" / "README.md").read_text()
    missing = sorted({check for _, check, _ in hcl_checks.checkov_skips(infra_tree) if f"`{check}`" not in readme})
    assert missing == []


def test_alarms_and_dashboard_read_what_the_jobs_emit(infra_tree: InfraTree, repo_root: Path) -> None:
    namespace, uses = hcl_checks.platform_metric_uses(infra_tree)
    assert namespace == "RetailCdc"
    assert {use.name for use in uses} >= {"EndToEndLatencySeconds", "DeadLetterRecords", "StepFailed"}
    assert hcl_checks.metric_problems(infra_tree, repo_root / "infra" / "README.md") == []


def test_glue_jobs_run_what_cdc_deploy_uploads(infra_tree: InfraTree, repo_root: Path) -> None:
    """Terraform owns the job definitions, `cdc deploy` the code (ADR 0012): the jobs must point at the keys deploy
    writes for the dev environment, and install the wheel this checkout builds."""
    environment = tomllib.loads((ENVS_DIR / "dev.toml").read_text())
    prefix = environment["artefacts"]["prefix"]
    glue = repo_root / "infra" / "modules" / "glue"
    jobs = infra_tree.of("resource", "aws_glue_job", glue)
    assert len(jobs) == 2  # the landing job and the batch jobs (one per DAG step, for_each)
    for job in jobs:
        location = str(hcl_checks.first_block(job.body, "command")["script_location"])
        assert location.startswith("${local.scripts_prefix}/" + prefix + "/"), location
    (wheel,) = [block for block in infra_tree.of("variable", directory=glue) if block.name == "project_wheel"]
    assert wheel.body["default"] == project_info(repo_root).wheel_filename
    modules = str(infra_tree.locals(glue)["glue_common_arguments"]["--additional-python-modules"])
    assert modules.endswith("/" + wheel_key(prefix, "${var.project_wheel}")), modules
    assert set(environment["glue_jobs"].values()) == {"streaming/glue_job.py", "batch/glue_jobs.py"}
