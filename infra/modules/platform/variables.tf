# The platform's inputs: the env roots' variables (envs/*/variables.tf), passed through one to one.

variable "project" {
  description = "Project name, first part of every resource name."
  type        = string
}

variable "environment" {
  description = "Environment name (dev, prod); second part of every resource name."
  type        = string
}

variable "manage_account_singletons" {
  description = "Manage account-wide settings (Glue Data Catalog encryption); true in exactly one environment per account and region."
  type        = bool
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones of the private subnets (two or more)."
  type        = list(string)
}

variable "msk_client_cidr_blocks" {
  description = "Networks of the producers (change capture, JSON bridge) allowed to reach MSK on 9098."
  type        = list(string)
}

variable "warehouse_client_cidr_blocks" {
  description = "Networks of SQL clients and the warehouse runner allowed to reach Redshift on 5439."
  type        = list(string)
}

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
}

variable "msk_broker_count" {
  description = "Number of MSK brokers: a multiple of the number of availability zones."
  type        = number
}

variable "msk_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
}

variable "msk_broker_volume_gb" {
  description = "EBS volume per MSK broker."
  type        = number
}

variable "msk_retention_hours" {
  description = "Default topic retention (hours)."
  type        = number
}

variable "kafka_topic_prefix" {
  description = "The catalog's topic_prefix (schemas/catalog.toml): topics are <prefix>.<table>.cdc and .cdc.json."
  type        = string
}

variable "schema_registry_url" {
  description = "Confluent-compatible schema registry reachable from the VPC."
  type        = string
}

variable "glue_wheelhouse_key" {
  description = "Key in the scripts bucket of the zip of wheels the Glue jobs install (infra/README.md)."
  type        = string
}

variable "streaming_worker_type" {
  description = "Worker type of the Glue landing job."
  type        = string
}

variable "streaming_workers" {
  description = "Number of workers of the Glue landing job."
  type        = number
}

variable "streaming_trigger_seconds" {
  description = "Micro-batch interval of the landing job."
  type        = number
}

variable "streaming_maintenance_window" {
  description = "Weekly window in which Glue may restart the landing job (Day:Hour UTC)."
  type        = string
}

variable "batch_worker_type" {
  description = "Worker type of the Glue batch steps."
  type        = string
}

variable "batch_workers" {
  description = "Number of workers of each Glue batch step."
  type        = number
}

variable "batch_timeout_minutes" {
  description = "Timeout of one batch step run (minutes)."
  type        = number
}

variable "batch_schedule_expression" {
  description = "EventBridge schedule of the batch DAG."
  type        = string
}

variable "redshift_database_name" {
  description = "Warehouse database name."
  type        = string
}

variable "redshift_admin_username" {
  description = "Redshift admin user (password generated into Secrets Manager)."
  type        = string
}

variable "redshift_base_capacity" {
  description = "Base RPUs of the Redshift Serverless workgroup."
  type        = number
}

variable "redshift_max_capacity" {
  description = "Maximum RPUs of the Redshift Serverless workgroup."
  type        = number
}

variable "redshift_storage_budget_gb" {
  description = "Managed-storage budget of the warehouse; the storage alarm fires at 80 %."
  type        = number
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one Athena query may scan before it is cancelled."
  type        = number
}

variable "analyst_principal_arns" {
  description = "Principals allowed to assume the analyst role; empty: IAM principals of the account allowed to."
  type        = list(string)
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alerts topic."
  type        = list(string)
}

variable "streaming_lag_threshold_seconds" {
  description = "Alarm when landing lags the source by more (for 15 minutes)."
  type        = number
}

variable "dead_letter_threshold" {
  description = "Alarm when more dead letters arrive within 15 minutes."
  type        = number
}

variable "row_count_variance_threshold_percent" {
  description = "Alarm when a table's row count drops by more than this since the previous load."
  type        = number
}

variable "batch_step_duration_threshold_seconds" {
  description = "Alarm when one batch step takes longer."
  type        = number
}

variable "batch_duration_threshold_seconds" {
  description = "Alarm when a whole batch DAG run takes longer."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group."
  type        = number
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted S3 object version is kept."
  type        = number
}

variable "landing_infrequent_access_days" {
  description = "Age at which landing files move to STANDARD_IA."
  type        = number
}

variable "landing_glacier_ir_days" {
  description = "Age at which landing files move to GLACIER_IR."
  type        = number
}

variable "landing_expiration_days" {
  description = "Age at which landing files are deleted; null keeps them (curated rebuilds and backfill read them)."
  type        = number
  default     = null
}

variable "dlq_retention_days" {
  description = "Age at which dead-letter files are deleted."
  type        = number
}

variable "athena_results_retention_days" {
  description = "Age at which Athena query results are deleted."
  type        = number
}

variable "access_log_retention_days" {
  description = "Age at which S3 server access logs are deleted."
  type        = number
}

variable "cloudtrail_retention_days" {
  description = "Age at which CloudTrail files are deleted."
  type        = number
}
