variable "name_prefix" {
  description = "Prefix of every resource name, e.g. retail-cdc-dev."
  type        = string
}

variable "batch_job_names" {
  description = "Glue job name per DAG step (staging, dimensions, facts, aggregates)."
  type        = map(string)
}

variable "batch_job_arns" {
  description = "Glue job ARN per DAG step."
  type        = map(string)
}

variable "alerts_topic_arn" {
  description = "SNS topic the state machine notifies on failure."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the execution logs, the state machine's data and the alerts topic."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the execution log group."
  type        = number
}

variable "schedule_expression" {
  description = "EventBridge schedule of the batch DAG, e.g. cron(0 3 * * ? *)."
  type        = string
}
