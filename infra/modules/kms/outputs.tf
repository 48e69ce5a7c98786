output "data_key_arn" {
  description = "Key for data at rest: buckets, Glue, MSK, Redshift."
  value       = aws_kms_key.data.arn
}

output "logs_key_arn" {
  description = "Key for CloudWatch Logs, CloudTrail and the alerts topic."
  value       = aws_kms_key.logs.arn
}
