# The batch DAG as a Step Functions state machine (batch_dag.asl.json: staging -> dimensions -> facts ->
# aggregates, glue:startJobRun.sync, retries with backoff, an SNS notification on failure), started daily by an
# EventBridge schedule.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  definition = templatefile("${path.module}/batch_dag.asl.json", {
    job_staging      = var.batch_job_names["staging"]
    job_dimensions   = var.batch_job_names["dimensions"]
    job_facts        = var.batch_job_names["facts"]
    job_aggregates   = var.batch_job_names["aggregates"]
    alerts_topic_arn = var.alerts_topic_arn
  })
}

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${var.name_prefix}-batch-dag"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name_prefix}-batch-dag"
  description        = "Step Functions: runs the batch Glue jobs and notifies on failure"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "RunBatchJobs"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]
    resources = values(var.batch_job_arns)
  }
  statement {
    sid       = "NotifyFailure"
    actions   = ["sns:Publish"]
    resources = [var.alerts_topic_arn]
  }
  statement {
    sid       = "EncryptedTopicAndLogs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = [var.logs_kms_key_arn]
  }
  statement {
    # CloudWatch Logs delivery and X-Ray APIs have no resource-level permissions (Step Functions documentation).
    sid = "ExecutionLogsAndTraces"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "run-batch-dag"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_sfn_state_machine" "batch_dag" {
  name       = "${var.name_prefix}-batch-dag"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.definition
  type       = "STANDARD"

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = var.logs_kms_key_arn
    kms_data_key_reuse_period_seconds = 300
  }

  depends_on = [aws_iam_role_policy.state_machine]
}

# --- the daily schedule -------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "schedule" {
  name               = "${var.name_prefix}-batch-dag-schedule"
  description        = "EventBridge: starts the batch DAG on its schedule"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

data "aws_iam_policy_document" "schedule" {
  statement {
    sid       = "StartBatchDag"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.batch_dag.arn]
  }
}

resource "aws_iam_role_policy" "schedule" {
  name   = "start-batch-dag"
  role   = aws_iam_role.schedule.id
  policy = data.aws_iam_policy_document.schedule.json
}

resource "aws_cloudwatch_event_rule" "batch_schedule" {
  name                = "${var.name_prefix}-batch-dag-daily"
  description         = "Runs the batch DAG (staging -> dimensions -> facts -> aggregates)"
  schedule_expression = var.schedule_expression
}

resource "aws_cloudwatch_event_target" "batch_schedule" {
  rule     = aws_cloudwatch_event_rule.batch_schedule.name
  arn      = aws_sfn_state_machine.batch_dag.arn
  role_arn = aws_iam_role.schedule.arn
}
