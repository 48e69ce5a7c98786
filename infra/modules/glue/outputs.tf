output "streaming_job_name" {
  description = "The landing job (start it once after apply: aws glue start-job-run)."
  value       = aws_glue_job.streaming.name
}

output "batch_job_names" {
  description = "Batch job name per DAG step."
  value       = { for step, job in aws_glue_job.batch : step => job.name }
}

output "batch_job_arns" {
  description = "Batch job ARN per DAG step."
  value       = { for step, job in aws_glue_job.batch : step => job.arn }
}

output "database_names" {
  description = "Catalog database per zone."
  value       = { for zone, db in aws_glue_catalog_database.zone : zone => db.name }
}

output "catalog_database_arns" {
  description = "Catalog database ARN per zone."
  value       = { for zone, db in aws_glue_catalog_database.zone : zone => db.arn }
}
