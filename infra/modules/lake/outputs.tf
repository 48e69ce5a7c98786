output "lake_bucket_id" {
  description = "The lake bucket (zones are its top-level prefixes)."
  value       = module.lake_bucket.id
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = module.lake_bucket.arn
}

output "lake_root" {
  description = "What the jobs take as --lake_root / LAKE_ROOT."
  value       = "s3://${module.lake_bucket.id}"
}

output "scripts_bucket_id" {
  description = "Bucket of the Glue scripts, the wheelhouse and Glue temp files."
  value       = module.scripts_bucket.id
}

output "scripts_bucket_arn" {
  description = "ARN of the scripts bucket."
  value       = module.scripts_bucket.arn
}

output "athena_results_bucket_id" {
  description = "Bucket of Athena query results."
  value       = module.athena_results_bucket.id
}

output "athena_results_bucket_arn" {
  description = "ARN of the Athena results bucket."
  value       = module.athena_results_bucket.arn
}

output "access_logs_bucket_id" {
  description = "Bucket receiving the S3 server access logs."
  value       = aws_s3_bucket.access_logs.id
}
