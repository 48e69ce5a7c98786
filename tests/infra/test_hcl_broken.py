"""Each check of tests/infra/hcl_checks.py reports a deliberately broken copy of infra/ (one thing broken each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import hcl_checks
from tests.infra.conftest import BrokenInfra

pytestmark = pytest.mark.unit

S3_MODULE = "modules/s3_bucket/main.tf"
LAKE = "modules/lake/main.tf"
GLUE = "modules/glue/main.tf"
ASL = "modules/orchestration/batch_dag.asl.json"

ENCRYPTION_BLOCK = """resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}
"""


def remove_bucket_encryption(broken: BrokenInfra) -> None:
    """Shared with test_tools: the s3_bucket module (every bucket but the access-log one) loses its encryption."""
    broken.replace(S3_MODULE, ENCRYPTION_BLOCK, "")


def only(problems: list[str], *fragments: str) -> str:
    """The single problem mentioning every fragment (and the check found nothing else)."""
    matching = [problem for problem in problems if all(fragment in problem for fragment in fragments)]
    assert len(matching) == 1, problems
    assert len(problems) == 1, problems
    return matching[0]


# --- buckets --------------------------------------------------------------------------------------------------------
def test_bucket_without_encryption_is_reported(broken: BrokenInfra) -> None:
    remove_bucket_encryption(broken)
    only(hcl_checks.bucket_problems(broken.tree()), "aws_s3_bucket.this", "encryption")


def test_access_log_bucket_without_encryption_is_reported(broken: BrokenInfra) -> None:
    broken.replace(LAKE, 'sse_algorithm = "AES256"', 'sse_algorithm = "none"')
    only(hcl_checks.bucket_problems(broken.tree()), "aws_s3_bucket.access_logs", "encryption")


def test_bucket_with_suspended_versioning_is_reported(broken: BrokenInfra) -> None:
    broken.replace(S3_MODULE, 'status = "Enabled"\n  }\n}', 'status = "Suspended"\n  }\n}')
    only(hcl_checks.bucket_problems(broken.tree()), "aws_s3_bucket.this", "versioning")


def test_bucket_with_public_access_allowed_is_reported(broken: BrokenInfra) -> None:
    broken.replace(LAKE, "restrict_public_buckets = true", "restrict_public_buckets = false")
    only(hcl_checks.bucket_problems(broken.tree()), "aws_s3_bucket.access_logs", "public-access block")


def test_new_bucket_without_its_configuration_is_reported(broken: BrokenInfra) -> None:
    broken.append(LAKE, '\nresource "aws_s3_bucket" "forgotten" {\n  bucket = "forgotten"\n}\n')
    problems = hcl_checks.bucket_problems(broken.tree())
    assert len(problems) == 3 and all("aws_s3_bucket.forgotten" in problem for problem in problems), problems


# --- IAM ------------------------------------------------------------------------------------------------------------
def test_policy_document_granting_everything_is_reported(broken: BrokenInfra) -> None:
    broken.replace(
        "modules/orchestration/main.tf",
        '    sid = "ExecutionLogsAndTraces"\n    actions = [\n',
        '    sid = "ExecutionLogsAndTraces"\n    actions = [\n      "*",\n',
    )
    only(hcl_checks.iam_wildcard_problems(broken.tree()), "aws_iam_policy_document.state_machine", "ExecutionLogs")


def test_dynamic_policy_statement_granting_everything_is_reported(broken: BrokenInfra) -> None:
    broken.replace(S3_MODULE, "actions   = statement.value.actions", 'actions   = ["*"]')
    broken.replace(S3_MODULE, "resources = [for suffix", 'resources = ["*"]\n      not_used  = [for suffix')
    only(hcl_checks.iam_wildcard_problems(broken.tree()), "aws_iam_policy_document.this")


def test_jsonencode_policy_granting_everything_is_reported(broken: BrokenInfra) -> None:
    broken.replace("modules/kms/main.tf", 'Action    = "kms:*"', 'Action    = "*"')
    only(hcl_checks.iam_wildcard_problems(broken.tree()), "aws_kms_key.data", "jsonencode")


def test_json_string_policy_granting_everything_is_reported(broken: BrokenInfra) -> None:
    broken.append(
        "modules/glue/iam.tf",
        """
resource "aws_iam_role_policy" "sneaky" {
  name   = "sneaky"
  role   = aws_iam_role.batch.id
  policy = <<POLICY
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": "*"}]}
POLICY
}
""",
    )
    only(hcl_checks.iam_wildcard_problems(broken.tree()), "aws_iam_role_policy.sneaky", "JSON")


def test_administrator_access_attachment_is_reported(broken: BrokenInfra) -> None:
    broken.append(
        "modules/glue/iam.tf",
        """
resource "aws_iam_role_policy_attachment" "admin" {
  role       = aws_iam_role.batch.name
  policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
}
""",
    )
    only(hcl_checks.iam_wildcard_problems(broken.tree()), "aws_iam_role_policy_attachment.admin")


# --- Glue jobs ------------------------------------------------------------------------------------------------------
def test_misspelled_job_argument_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, '"--lake_root" = var.lake_root\n    "--step"', '"--lakeroot" = var.lake_root\n    "--step"')
    problems = hcl_checks.glue_job_problems(broken.tree(), repo_root)
    assert any("--lakeroot" in problem and "neither an argument" in problem for problem in problems), problems
    assert any("requires --lake_root" in problem for problem in problems), problems


def test_missing_required_streaming_argument_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, '    "--schema_registry_url" = var.schema_registry_url\n', "")
    only(hcl_checks.glue_job_problems(broken.tree(), repo_root), "aws_glue_job.streaming", "--schema_registry_url")


def test_unknown_step_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, '"facts", "aggregates"]', '"facts", "aggregates", "cleanup"]')
    only(hcl_checks.glue_job_problems(broken.tree(), repo_root), "--step 'cleanup'", "STEPS")


def test_dag_step_without_a_job_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, '["staging", "dimensions", "facts", "aggregates"]', '["staging", "dimensions", "aggregates"]')
    only(hcl_checks.glue_job_problems(broken.tree(), repo_root), "batch step 'facts'")


def test_script_that_does_not_exist_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, 'batch     = "batch/glue_jobs.py"', 'batch     = "batch/glue_job.py"')
    problems = hcl_checks.glue_job_problems(broken.tree(), repo_root)
    assert any("batch/glue_job.py does not exist" in problem for problem in problems), problems


def test_script_that_is_not_an_entry_point_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, 'batch     = "batch/glue_jobs.py"', 'batch     = "batch/dag.py"')
    problems = hcl_checks.glue_job_problems(broken.tree(), repo_root)
    assert any("batch/dag.py is not an entry point" in problem for problem in problems), problems


def test_job_bookmarks_on_are_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, '"job-bookmark-disable"', '"job-bookmark-enable"')
    problems = hcl_checks.glue_job_problems(broken.tree(), repo_root)
    assert len(problems) == 2 and all("bookmarks must be off" in problem for problem in problems), problems


def test_wrong_glue_version_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(GLUE, 'glue_version           = "5.0"', 'glue_version           = "4.0"')
    only(hcl_checks.glue_job_problems(broken.tree(), repo_root), "aws_glue_job.streaming", "glue_version")


def test_unresolvable_arguments_are_reported_not_passed(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(
        GLUE, "default_arguments = merge(local.glue_common_arguments, {", "default_arguments = merge(var.x, {"
    )
    only(hcl_checks.glue_job_problems(broken.tree(), repo_root), "aws_glue_job.streaming", "cannot resolve")


# --- the batch DAG --------------------------------------------------------------------------------------------------
def test_steps_out_of_order_are_reported(broken: BrokenInfra) -> None:
    broken.replace(ASL, '"JobName": "${job_dimensions}"', '"JobName": "${job_TMP}"')
    broken.replace(ASL, '"JobName": "${job_facts}"', '"JobName": "${job_dimensions}"')
    broken.replace(ASL, '"JobName": "${job_TMP}"', '"JobName": "${job_facts}"')
    only(hcl_checks.batch_dag_problems(broken.tree()), "'facts', 'dimensions'")


def test_step_without_retry_is_reported(broken: BrokenInfra) -> None:
    broken.replace(ASL, '"BackoffRate": 2.0', '"BackoffRate": 1.0')
    only(hcl_checks.batch_dag_problems(broken.tree()), "state staging", "backoff")


def test_failure_without_notification_is_reported(broken: BrokenInfra) -> None:
    broken.replace(
        ASL, '"Next": "notify_failure" }],\n      "Next": "facts"', '"Next": "failed" }],\n      "Next": "facts"'
    )
    only(hcl_checks.batch_dag_problems(broken.tree()), "state dimensions", "SNS notification")


def test_unscheduled_dag_is_reported(broken: BrokenInfra) -> None:
    broken.replace(
        "modules/orchestration/main.tf", "arn      = aws_sfn_state_machine.batch_dag.arn", 'arn      = "none"'
    )
    only(hcl_checks.batch_dag_problems(broken.tree()), "no EventBridge schedule")


# --- environments ---------------------------------------------------------------------------------------------------
def test_variable_only_in_one_env_is_reported(broken: BrokenInfra) -> None:
    broken.append(
        "envs/prod/variables.tf", '\nvariable "prod_only" {\n  description = "x"\n  type        = string\n}\n'
    )
    problems = hcl_checks.env_variable_problems(broken.tree())
    assert any("envs/prod: declares variable 'prod_only' that envs/dev lacks" in problem for problem in problems), (
        problems
    )
    assert any("envs/prod: variable 'prod_only' is never used" in problem for problem in problems), problems


def test_variable_type_differing_between_envs_is_reported(broken: BrokenInfra) -> None:
    broken.replace(
        "envs/dev/variables.tf", "type        = list(string)\n\n  validation", "type        = any\n\n  validation"
    )
    only(hcl_checks.env_variable_problems(broken.tree()), "'availability_zones'", "type")


def test_tfvars_setting_an_undeclared_variable_is_reported(broken: BrokenInfra) -> None:
    broken.append("envs/dev/terraform.tfvars", "typo_workers = 3\n")
    only(hcl_checks.env_variable_problems(broken.tree()), "envs/dev", "'typo_workers'")


# --- skips and metrics ----------------------------------------------------------------------------------------------
def test_skip_without_reason_is_reported(broken: BrokenInfra) -> None:
    broken.replace(LAKE, "#checkov:skip=CKV_AWS_18:This is the access-log target bucket;", "#checkov:skip=CKV_AWS_18")
    problems = hcl_checks.skip_comment_problems(broken.tree())
    assert len(problems) == 1 and "CKV_AWS_18" in problems[0], problems


def test_alarm_on_a_metric_the_code_does_not_emit_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(
        "modules/monitoring/alarms.tf",
        'metric_name         = "EndToEndLatencySeconds"',
        'metric_name         = "StreamingLagSeconds"',
    )
    problems = hcl_checks.metric_problems(broken.tree(), repo_root / "infra" / "README.md")
    assert any("'StreamingLagSeconds' is not one the code emits" in problem for problem in problems), problems
    assert any("'StreamingLagSeconds' is used by infra/ but not documented" in problem for problem in problems), (
        problems
    )


def test_alarm_on_an_unknown_stage_is_reported(broken: BrokenInfra, repo_root: Path) -> None:
    broken.replace(
        "modules/monitoring/alarms.tf",
        'dimensions          = { Stage = "batch" }',
        'dimensions          = { Stage = "glue" }',
    )
    only(hcl_checks.metric_problems(broken.tree(), repo_root / "infra" / "README.md"), "Stage 'glue'")
