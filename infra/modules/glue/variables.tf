variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "project_wheel" {
  description = "File name of the project's wheel that `cdc deploy` uploads to s3://<scripts>/glue/wheels/."
  type        = string
  default     = "retail_cdc-0.1.0-py3-none-any.whl"
}

variable "lake_root" {
  description = "The jobs' --lake_root: s3://<lake bucket>."
  type        = string
}

variable "lake_bucket_id" {
  description = "The lake bucket."
  type        = string
}

variable "scripts_bucket_id" {
  description = "Bucket of the scripts, the wheelhouse and Glue temp files."
  type        = string
}

variable "wheelhouse_key" {
  description = "Key in the scripts bucket of the zip of wheels (the project and its runtime dependencies)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key for the jobs' CloudWatch logs."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the jobs' continuous log group."
  type        = number
}

variable "manage_catalog_encryption" {
  description = "Manage the account-wide Data Catalog encryption settings (one environment per account/region)."
  type        = bool
}

variable "vpc_id" {
  description = "VPC of the Glue network connection."
  type        = string
}

variable "connection_subnet_id" {
  description = "Private subnet of the Glue network connection."
  type        = string
}

variable "connection_availability_zone" {
  description = "Availability zone of that subnet."
  type        = string
}

variable "connection_security_group_id" {
  description = "Security group of the Glue network connection."
  type        = string
}

variable "schema_registry_url" {
  description = "Confluent-compatible schema registry the landing job resolves writer schemas from."
  type        = string
}

variable "bootstrap_servers" {
  description = "MSK bootstrap servers of the IAM listener."
  type        = string
}

variable "msk_cluster_arn" {
  description = "MSK cluster the landing job reads."
  type        = string
}

variable "msk_topic_arn_prefix" {
  description = "ARN prefix of the cluster's topics."
  type        = string
}

variable "msk_group_arn_prefix" {
  description = "ARN prefix of the cluster's consumer groups."
  type        = string
}

variable "kafka_topic_prefix" {
  description = "The catalog's topic_prefix: CDC topics are <prefix>.<table>.cdc."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the platform's own metrics."
  type        = string
}

variable "streaming_worker_type" {
  description = "Worker type of the landing job."
  type        = string
}

variable "streaming_workers" {
  description = "Number of workers of the landing job."
  type        = number
}

variable "streaming_trigger_seconds" {
  description = "Micro-batch interval of the landing job (--trigger_seconds)."
  type        = number
}

variable "streaming_maintenance_window" {
  description = "Weekly window in which Glue may restart the streaming job, e.g. \"Sun:3\"."
  type        = string
}

variable "batch_worker_type" {
  description = "Worker type of the batch steps."
  type        = string
}

variable "batch_workers" {
  description = "Number of workers of each batch step."
  type        = number
}

variable "batch_timeout_minutes" {
  description = "Timeout of one batch step run."
  type        = number
}
