output "alerts_topic_arn" {
  description = "SNS topic of every alert."
  value       = aws_sns_topic.alerts.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the platform."
  value       = aws_cloudwatch_dashboard.platform.dashboard_name
}

output "trail_arn" {
  description = "CloudTrail trail of the data buckets."
  value       = aws_cloudtrail.data_events.arn
}
