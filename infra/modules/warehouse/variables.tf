variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "database_name" {
  description = "The warehouse database."
  type        = string
}

variable "admin_username" {
  description = "Admin user; its password is generated and kept in Secrets Manager by Redshift."
  type        = string
}

variable "base_capacity" {
  description = "Base RPUs of the workgroup."
  type        = number
}

variable "max_capacity" {
  description = "Maximum RPUs of the workgroup (cost cap)."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets of the workgroup."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the workgroup."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the namespace, its admin secret and the lake."
  type        = string
}

variable "lake_bucket_id" {
  description = "The lake bucket (COPY sources)."
  type        = string
}

variable "msk_cluster_arn" {
  description = "MSK cluster of the JSON bridge topics."
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
  description = "The catalog's topic_prefix: JSON bridge topics are <prefix>.<table>.cdc.json."
  type        = string
}
