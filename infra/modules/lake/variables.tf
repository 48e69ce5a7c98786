variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the lake, scripts and Athena result buckets."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept, in every bucket."
  type        = number
}

variable "landing_infrequent_access_days" {
  description = "Age at which landing files move to STANDARD_IA."
  type        = number
}

variable "landing_glacier_ir_days" {
  description = "Age at which landing files move to GLACIER_IR (instant retrieval)."
  type        = number
}

variable "landing_expiration_days" {
  description = "Age at which landing files are deleted; null keeps them (needed by curated rebuilds and backfill)."
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
