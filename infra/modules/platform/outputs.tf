output "lake_root" {
  description = "LAKE_ROOT / --lake_root of every job."
  value       = module.lake.lake_root
}

output "scripts_bucket" {
  description = "Where the wheelhouse goes (see infra/README.md)."
  value       = module.lake.scripts_bucket_id
}

output "msk_bootstrap_brokers_iam" {
  description = "KAFKA_BOOTSTRAP_SERVERS (SASL/IAM, port 9098)."
  value       = module.streaming.bootstrap_brokers_iam
}

output "msk_cluster_arn" {
  description = "msk_cluster_arn of the warehouse migrations (CREATE EXTERNAL SCHEMA ... CLUSTER_ARN)."
  value       = module.streaming.cluster_arn
}

output "streaming_job_name" {
  description = "The Glue landing job: start it once after the first apply."
  value       = module.glue.streaming_job_name
}

output "batch_job_names" {
  description = "Glue job per batch step."
  value       = module.glue.batch_job_names
}

output "catalog_databases" {
  description = "Glue catalog database per zone."
  value       = module.glue.database_names
}

output "batch_state_machine_arn" {
  description = "The batch DAG (Step Functions)."
  value       = module.orchestration.state_machine_arn
}

output "redshift_workgroup" {
  description = "REDSHIFT_* settings: the Serverless workgroup."
  value       = module.warehouse.workgroup_name
}

output "redshift_endpoint" {
  description = "Host of the Redshift Serverless endpoint."
  value       = module.warehouse.endpoint_address
}

output "redshift_admin_secret_arn" {
  description = "Secrets Manager secret of the Redshift admin credentials."
  value       = module.warehouse.admin_secret_arn
}

output "redshift_iam_role_arn" {
  description = "iam_role_arn of the warehouse migrations and COPY."
  value       = module.warehouse.iam_role_arn
}

output "athena_workgroup" {
  description = "Athena workgroup of the analysts."
  value       = module.analytics.athena_workgroup
}

output "analyst_role_arn" {
  description = "Role analysts assume."
  value       = module.analytics.analyst_role_arn
}

output "alerts_topic_arn" {
  description = "SNS topic of every alert."
  value       = module.monitoring.alerts_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}
