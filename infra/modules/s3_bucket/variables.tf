variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for default encryption (SSE-KMS)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's server access logs (under <name>/)."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
}

variable "lifecycle_rules" {
  description = "Extra lifecycle rules per key prefix: transitions and an optional expiry (null: never)."
  type = list(object({
    id              = string
    prefix          = string
    expiration_days = optional(number)
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
  }))
  default = []
}

variable "policy_statements" {
  description = "Extra Allow statements for AWS service principals (log delivery, CloudTrail); resources are suffixes of the bucket ARN."
  type = list(object({
    sid                = string
    service_principals = list(string)
    actions            = list(string)
    resource_suffixes  = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []
}
