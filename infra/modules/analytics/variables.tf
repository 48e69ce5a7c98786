variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "database_names" {
  description = "Catalog database per zone (from the glue module)."
  type        = map(string)
}

variable "lake_bucket_id" {
  description = "The lake bucket."
  type        = string
}

variable "results_bucket_id" {
  description = "Bucket of Athena query results."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the lake and of the query results."
  type        = string
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query that scans more than this many bytes (minimum 10 MB)."
  type        = number
}

variable "analyst_principal_arns" {
  description = "Principals allowed to assume the analyst role; empty: any IAM principal of this account allowed to."
  type        = list(string)
}
