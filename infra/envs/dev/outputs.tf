output "lake_root" {
  description = "LAKE_ROOT / --lake_root of every job."
  value       = module.platform.lake_root
}

output "scripts_bucket" {
  description = "Where the wheelhouse goes (see infra/README.md)."
  value       = module.platform.scripts_bucket
}

output "msk_bootstrap_brokers_iam" {
  description = "KAFKA_BOOTSTRAP_SERVERS (SASL/IAM, port 9098)."
  value       = module.platform.msk_bootstrap_brokers_iam
}

output "msk_cluster_arn" {
  description = "msk_cluster_arn of the warehouse migrations."
  value       = module.platform.msk_cluster_arn
}

output "streaming_job_name" {
  description = "The Glue landing job: start it once after the first apply."
  value       = module.platform.streaming_job_name
}

output "batch_job_names" {
  description = "Glue job per batch step."
  value       = module.platform.batch_job_names
}

output "catalog_databases" {
  description = "Glue catalog database per zone."
  value       = module.platform.catalog_databases
}

output "batch_state_machine_arn" {
  description = "The batch DAG (Step Functions)."
  value       = module.platform.batch_state_machine_arn
}

output "redshift_workgroup" {
  description = "Redshift Serverless workgroup."
  value       = module.platform.redshift_workgroup
}

output "redshift_endpoint" {
  description = "Host of the Redshift Serverless endpoint."
  value       = module.platform.redshift_endpoint
}

output "redshift_admin_secret_arn" {
  description = "Secrets Manager secret of the Redshift admin credentials."
  value       = module.platform.redshift_admin_secret_arn
}

output "redshift_iam_role_arn" {
  description = "iam_role_arn of the warehouse migrations and COPY."
  value       = module.platform.redshift_iam_role_arn
}

output "athena_workgroup" {
  description = "Athena workgroup of the analysts."
  value       = module.platform.athena_workgroup
}

output "analyst_role_arn" {
  description = "Role analysts assume."
  value       = module.platform.analyst_role_arn
}

output "alerts_topic_arn" {
  description = "SNS topic of every alert."
  value       = module.platform.alerts_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.platform.dashboard_name
}
