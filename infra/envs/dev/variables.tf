# The variables of an environment root. envs/dev and envs/prod declare exactly the same ones (tests/infra checks
# it); their values differ in terraform.tfvars. Everything is passed to modules/platform.

# --- identity --------------------------------------------------------------------------------------------------------
variable "project" {
  description = "Project name, first part of every resource name."
  type        = string
  default     = "retail-cdc"
}

variable "environment" {
  description = "Environment name (dev, prod); second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "Use a short lower-case name such as dev or prod."
  }
}

variable "aws_region" {
  description = "AWS region of the environment."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource, besides Project, Environment and ManagedBy."
  type        = map(string)
  default     = {}
}

variable "manage_account_singletons" {
  description = "Manage account-wide settings (Glue Data Catalog encryption); true in exactly one environment per account and region."
  type        = bool
  default     = true
}

# --- network ---------------------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones of the private subnets (two or more)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "msk_client_cidr_blocks" {
  description = "Networks of the producers (change capture, JSON bridge) allowed to reach MSK on 9098."
  type        = list(string)
  default     = []
}

variable "warehouse_client_cidr_blocks" {
  description = "Networks of SQL clients and the warehouse runner allowed to reach Redshift on 5439."
  type        = list(string)
  default     = []
}

# --- streaming -------------------------------------------------------------------------------------------------------
variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
  default     = "3.6.0"
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
  default     = 168
}

variable "kafka_topic_prefix" {
  description = "The catalog's topic_prefix (schemas/catalog.toml): topics are <prefix>.<table>.cdc and .cdc.json."
  type        = string
  default     = "retail"
}

variable "schema_registry_url" {
  description = "Confluent-compatible schema registry reachable from the VPC."
  type        = string
}

# --- Glue ----------------------------------------------------------------------------------------------------------------
variable "glue_wheelhouse_key" {
  description = "Key in the scripts bucket of the zip of wheels the Glue jobs install (infra/README.md)."
  type        = string
  default     = "glue/wheelhouse.zip"
}

variable "streaming_worker_type" {
  description = "Worker type of the Glue landing job."
  type        = string
  default     = "G.1X"
}

variable "streaming_workers" {
  description = "Number of workers of the Glue landing job."
  type        = number
}

variable "streaming_trigger_seconds" {
  description = "Micro-batch interval of the landing job."
  type        = number
  default     = 60
}

variable "streaming_maintenance_window" {
  description = "Weekly window in which Glue may restart the landing job (Day:Hour UTC)."
  type        = string
  default     = "Sun:3"
}

variable "batch_worker_type" {
  description = "Worker type of the Glue batch steps."
  type        = string
  default     = "G.1X"
}

variable "batch_workers" {
  description = "Number of workers of each Glue batch step."
  type        = number
}

variable "batch_timeout_minutes" {
  description = "Timeout of one batch step run (minutes)."
  type        = number
  default     = 120
}

variable "batch_schedule_expression" {
  description = "EventBridge schedule of the batch DAG."
  type        = string
  default     = "cron(0 3 * * ? *)"
}

# --- warehouse and analytics -----------------------------------------------------------------------------------------
variable "redshift_database_name" {
  description = "Warehouse database name."
  type        = string
  default     = "warehouse"
}

variable "redshift_admin_username" {
  description = "Redshift admin user (password generated into Secrets Manager)."
  type        = string
  default     = "cdc_admin"
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
  default     = []
}

# --- monitoring ----------------------------------------------------------------------------------------------------------
variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alerts topic."
  type        = list(string)
  default     = []
}

variable "streaming_lag_threshold_seconds" {
  description = "Alarm when landing lags the source by more (for 15 minutes)."
  type        = number
  default     = 900
}

variable "dead_letter_threshold" {
  description = "Alarm when more dead letters arrive within 15 minutes."
  type        = number
  default     = 100
}

variable "row_count_variance_threshold_percent" {
  description = "Alarm when a table's row count drops by more than this since the previous load."
  type        = number
  default     = 5
}

variable "batch_step_duration_threshold_seconds" {
  description = "Alarm when one batch step takes longer."
  type        = number
  default     = 3600
}

variable "batch_duration_threshold_seconds" {
  description = "Alarm when a whole batch DAG run takes longer."
  type        = number
  default     = 7200
}

# --- retention -------------------------------------------------------------------------------------------------------
variable "log_retention_days" {
  description = "Retention of every CloudWatch log group."
  type        = number
  default     = 365
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted S3 object version is kept."
  type        = number
  default     = 30
}

variable "landing_infrequent_access_days" {
  description = "Age at which landing files move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "landing_glacier_ir_days" {
  description = "Age at which landing files move to GLACIER_IR."
  type        = number
  default     = 90
}

variable "landing_expiration_days" {
  description = "Age at which landing files are deleted; null keeps them (curated rebuilds and backfill read them)."
  type        = number
  default     = null
}

variable "dlq_retention_days" {
  description = "Age at which dead-letter files are deleted."
  type        = number
  default     = 30
}

variable "athena_results_retention_days" {
  description = "Age at which Athena query results are deleted."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Age at which S3 server access logs are deleted."
  type        = number
  default     = 365
}

variable "cloudtrail_retention_days" {
  description = "Age at which CloudTrail files are deleted."
  type        = number
  default     = 2555
}
