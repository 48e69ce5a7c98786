variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "deletion_window_days" {
  description = "Waiting period before a scheduled key deletion takes effect."
  type        = number
  default     = 30
}
