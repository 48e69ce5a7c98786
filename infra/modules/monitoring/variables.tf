variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the platform's own metrics."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the topic, the trail, its bucket and log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the CloudTrail log group."
  type        = number
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alerts topic (each confirms once)."
  type        = list(string)
}

variable "glue_job_names" {
  description = "Every Glue job of the platform (failure notifications)."
  type        = list(string)
}

variable "state_machine_arn" {
  description = "The batch DAG state machine."
  type        = string
}

variable "redshift_namespace_name" {
  description = "Redshift Serverless namespace."
  type        = string
}

variable "redshift_storage_budget_gb" {
  description = "Managed-storage budget of the warehouse; the alarm fires at 80 % of it."
  type        = number
}

variable "msk_cluster_name" {
  description = "MSK cluster name."
  type        = string
}

variable "msk_broker_count" {
  description = "Number of MSK brokers (one disk alarm each)."
  type        = number
}

variable "batch_duration_threshold_seconds" {
  description = "Alarm when a whole batch DAG run takes longer."
  type        = number
}

variable "batch_step_duration_threshold_seconds" {
  description = "Alarm when one batch step takes longer."
  type        = number
}

variable "streaming_lag_threshold_seconds" {
  description = "Alarm when landing lags the source commit by more, for 15 minutes."
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

variable "data_bucket_arns" {
  description = "Buckets whose object-level reads and writes CloudTrail records."
  type        = list(string)
}

variable "access_log_bucket" {
  description = "Bucket receiving the trail bucket's server access logs."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced object version of the trail bucket is kept."
  type        = number
}

variable "cloudtrail_retention_days" {
  description = "Age at which trail files are deleted."
  type        = number
}
