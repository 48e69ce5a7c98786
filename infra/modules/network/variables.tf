variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; each private subnet is a /(n+4) slice of it."
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
  description = "Where the producers (change capture, JSON bridge) run; they reach MSK on 9098."
  type        = list(string)
}

variable "warehouse_client_cidr_blocks" {
  description = "Where SQL clients and the warehouse runner run; they reach Redshift on 5439."
  type        = list(string)
}

variable "logs_kms_key_arn" {
  description = "KMS key of the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the flow-log group."
  type        = number
}
