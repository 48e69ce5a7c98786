variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "kafka_version" {
  description = "Apache Kafka version of the cluster (IAM auth needs 2.7.1 or later)."
  type        = string
}

variable "broker_count" {
  description = "Number of brokers: a multiple of the number of subnets."
  type        = number
}

variable "broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
}

variable "broker_volume_gb" {
  description = "EBS volume per broker."
  type        = number
}

variable "retention_hours" {
  description = "Default topic retention; the streaming job and Redshift must never fall further behind."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets of the brokers, one per availability zone."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the brokers."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for data at rest."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the broker log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the broker log group."
  type        = number
}
