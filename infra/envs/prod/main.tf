# The prod environment: modules/platform with this environment's values (terraform.tfvars).

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}

module "platform" {
  source = "../../modules/platform"

  project                               = var.project
  environment                           = var.environment
  manage_account_singletons             = var.manage_account_singletons
  vpc_cidr                              = var.vpc_cidr
  availability_zones                    = var.availability_zones
  msk_client_cidr_blocks                = var.msk_client_cidr_blocks
  warehouse_client_cidr_blocks          = var.warehouse_client_cidr_blocks
  kafka_version                         = var.kafka_version
  msk_broker_count                      = var.msk_broker_count
  msk_broker_instance_type              = var.msk_broker_instance_type
  msk_broker_volume_gb                  = var.msk_broker_volume_gb
  msk_retention_hours                   = var.msk_retention_hours
  kafka_topic_prefix                    = var.kafka_topic_prefix
  schema_registry_url                   = var.schema_registry_url
  glue_wheelhouse_key                   = var.glue_wheelhouse_key
  streaming_worker_type                 = var.streaming_worker_type
  streaming_workers                     = var.streaming_workers
  streaming_trigger_seconds             = var.streaming_trigger_seconds
  streaming_maintenance_window          = var.streaming_maintenance_window
  batch_worker_type                     = var.batch_worker_type
  batch_workers                         = var.batch_workers
  batch_timeout_minutes                 = var.batch_timeout_minutes
  batch_schedule_expression             = var.batch_schedule_expression
  redshift_database_name                = var.redshift_database_name
  redshift_admin_username               = var.redshift_admin_username
  redshift_base_capacity                = var.redshift_base_capacity
  redshift_max_capacity                 = var.redshift_max_capacity
  redshift_storage_budget_gb            = var.redshift_storage_budget_gb
  athena_bytes_scanned_cutoff           = var.athena_bytes_scanned_cutoff
  analyst_principal_arns                = var.analyst_principal_arns
  alarm_email_addresses                 = var.alarm_email_addresses
  streaming_lag_threshold_seconds       = var.streaming_lag_threshold_seconds
  dead_letter_threshold                 = var.dead_letter_threshold
  row_count_variance_threshold_percent  = var.row_count_variance_threshold_percent
  batch_step_duration_threshold_seconds = var.batch_step_duration_threshold_seconds
  batch_duration_threshold_seconds      = var.batch_duration_threshold_seconds
  log_retention_days                    = var.log_retention_days
  noncurrent_version_expiration_days    = var.noncurrent_version_expiration_days
  landing_infrequent_access_days        = var.landing_infrequent_access_days
  landing_glacier_ir_days               = var.landing_glacier_ir_days
  landing_expiration_days               = var.landing_expiration_days
  dlq_retention_days                    = var.dlq_retention_days
  athena_results_retention_days         = var.athena_results_retention_days
  access_log_retention_days             = var.access_log_retention_days
  cloudtrail_retention_days             = var.cloudtrail_retention_days
}
