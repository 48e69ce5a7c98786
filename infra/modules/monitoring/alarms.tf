# Alarms, all to the alerts topic.
#
# The platform's own metrics follow the code's contract in common/metrics.py: namespace RetailCdc
# (var.metrics_namespace), every metric published under the dimension set {Stage} (capture, stream, bridge,
# warehouse, batch) and again with Table / Topic / Step. The alarms use the {Stage} roll-up; infra/README.md
# ("Metrics") lists the names, and tests/infra checks them against common/metrics.py.

locals {
  alarm_actions  = [aws_sns_topic.alerts.arn]
  msk_broker_ids = [for id in range(1, var.msk_broker_count + 1) : tostring(id)]
  # Stages whose jobs report StepFailed (1 failed, 0 succeeded) and DeadLetterRecords.
  failing_stages     = ["stream", "batch", "warehouse"]
  dead_letter_stages = ["stream", "bridge"]
}

# --- batch DAG (Step Functions) ---------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "batch_dag_failed" {
  alarm_name          = "${var.name_prefix}-batch-dag-failed"
  alarm_description   = "The batch DAG state machine failed."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "batch_dag_timed_out" {
  alarm_name          = "${var.name_prefix}-batch-dag-timed-out"
  alarm_description   = "The batch DAG state machine timed out."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "batch_dag_duration" {
  alarm_name          = "${var.name_prefix}-batch-dag-duration"
  alarm_description   = "A batch DAG run took longer than ${var.batch_duration_threshold_seconds} s."
  namespace           = "AWS/States"
  metric_name         = "ExecutionTime"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.batch_duration_threshold_seconds * 1000 # ExecutionTime is in milliseconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

# --- the jobs' own metrics ----------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "step_failed" {
  for_each            = toset(local.failing_stages)
  alarm_name          = "${var.name_prefix}-${each.key}-step-failed"
  alarm_description   = "A ${each.key} step failed (StepFailed: a landing query, a batch step or a warehouse load cycle)."
  namespace           = var.metrics_namespace
  metric_name         = "StepFailed"
  dimensions          = { Stage = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "batch_step_duration" {
  alarm_name          = "${var.name_prefix}-batch-step-duration"
  alarm_description   = "A batch step took longer than ${var.batch_step_duration_threshold_seconds} s."
  namespace           = var.metrics_namespace
  metric_name         = "BatchDurationSeconds"
  dimensions          = { Stage = "batch" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.batch_step_duration_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "streaming_lag" {
  alarm_name          = "${var.name_prefix}-streaming-lag"
  alarm_description   = "Landing lags the source commit by more than ${var.streaming_lag_threshold_seconds} s for 15 minutes."
  namespace           = var.metrics_namespace
  metric_name         = "EndToEndLatencySeconds"
  dimensions          = { Stage = "stream" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.streaming_lag_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = toset(local.dead_letter_stages)
  alarm_name          = "${var.name_prefix}-${each.key}-dead-letters"
  alarm_description   = "More than ${var.dead_letter_threshold} records went to the ${each.key} dead-letter sink in 15 minutes."
  namespace           = var.metrics_namespace
  metric_name         = "DeadLetterRecords"
  dimensions          = { Stage = each.key }
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  threshold           = var.dead_letter_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

# RowCountVariancePercent is signed (a drop is negative): alarm when any relation shrank by more than the threshold.
resource "aws_cloudwatch_metric_alarm" "row_count_variance" {
  alarm_name          = "${var.name_prefix}-row-count-variance"
  alarm_description   = "A warehouse relation's row count dropped by more than ${var.row_count_variance_threshold_percent} % since the previous load."
  namespace           = var.metrics_namespace
  metric_name         = "RowCountVariancePercent"
  dimensions          = { Stage = "warehouse" }
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = -var.row_count_variance_threshold_percent
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

# --- warehouse and brokers ------------------------------------------------------------------------------------------
# Redshift Serverless has no disk-percentage metric: storage is compared with the budget the environment sets.
resource "aws_cloudwatch_metric_alarm" "redshift_storage" {
  alarm_name          = "${var.name_prefix}-redshift-storage"
  alarm_description   = "Redshift managed storage above 80 % of the ${var.redshift_storage_budget_gb} GB budget."
  namespace           = "AWS/Redshift-Serverless"
  metric_name         = "DataStorage"
  dimensions          = { Namespace = var.redshift_namespace_name }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.redshift_storage_budget_gb * 1024 * 0.8 # DataStorage is in megabytes
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "msk_disk" {
  for_each            = toset(local.msk_broker_ids)
  alarm_name          = "${var.name_prefix}-msk-disk-broker-${each.key}"
  alarm_description   = "MSK broker ${each.key} data volume above 85 %."
  namespace           = "AWS/Kafka"
  metric_name         = "KafkaDataLogsDiskUsed"
  dimensions          = { "Cluster Name" = var.msk_cluster_name, "Broker ID" = each.key }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 85
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}
