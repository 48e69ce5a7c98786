locals {
  ns = var.metrics_namespace

  # The platform's own metrics (common/metrics.py): one graph per metric, one line per stage reporting it.
  custom_widgets = [
    { title = "Source commit -> landed (s)", metric = "EndToEndLatencySeconds", stat = "Maximum", stages = ["stream"] },
    { title = "Consumer lag (records)", metric = "ConsumerLag", stat = "Maximum", stages = ["stream", "bridge"] },
    { title = "Events per second", metric = "EventsPerSecond", stat = "Average", stages = ["capture", "stream", "bridge"] },
    { title = "Rows landed", metric = "RowsLanded", stat = "Sum", stages = ["stream"] },
    { title = "Dead letters", metric = "DeadLetterRecords", stat = "Sum", stages = ["stream", "bridge"] },
    { title = "Capture slot lag (bytes)", metric = "CaptureSlotLagBytes", stat = "Maximum", stages = ["capture"] },
    { title = "Step / batch duration (s)", metric = "BatchDurationSeconds", stat = "Maximum", stages = ["stream", "batch", "warehouse"] },
    { title = "Failed steps", metric = "StepFailed", stat = "Sum", stages = ["stream", "batch", "warehouse"] },
    { title = "Row-count change (%)", metric = "RowCountVariancePercent", stat = "Minimum", stages = ["warehouse"] },
  ]

  widgets = concat(
    [for index, widget in local.custom_widgets : {
      type   = "metric"
      x      = (index % 3) * 8
      y      = floor(index / 3) * 6
      width  = 8
      height = 6
      properties = {
        title   = widget.title
        region  = local.region
        stat    = widget.stat
        period  = 300
        view    = "timeSeries"
        metrics = [for stage in widget.stages : [local.ns, widget.metric, "Stage", stage]]
      }
    }],
    [
      {
        type   = "metric"
        x      = 0
        y      = 18
        width  = 12
        height = 6
        properties = {
          title  = "Batch DAG executions"
          region = local.region
          stat   = "Sum"
          period = 300
          view   = "timeSeries"
          metrics = [
            ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", var.state_machine_arn],
            ["AWS/States", "ExecutionsFailed", "StateMachineArn", var.state_machine_arn],
            ["AWS/States", "ExecutionsTimedOut", "StateMachineArn", var.state_machine_arn],
          ]
        }
      },
      {
        type   = "metric"
        x      = 12
        y      = 18
        width  = 12
        height = 6
        properties = {
          title   = "Redshift managed storage (MB)"
          region  = local.region
          stat    = "Maximum"
          period  = 3600
          view    = "timeSeries"
          metrics = [["AWS/Redshift-Serverless", "DataStorage", "Namespace", var.redshift_namespace_name]]
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 24
        width  = 24
        height = 6
        properties = {
          title   = "MSK broker disk used (%)"
          region  = local.region
          stat    = "Maximum"
          period  = 300
          view    = "timeSeries"
          metrics = [for id in local.msk_broker_ids : ["AWS/Kafka", "KafkaDataLogsDiskUsed", "Cluster Name", var.msk_cluster_name, "Broker ID", id]]
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "platform" {
  dashboard_name = "${var.name_prefix}-platform"
  dashboard_body = jsonencode({ widgets = local.widgets })
}
