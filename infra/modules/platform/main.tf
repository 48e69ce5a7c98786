# The whole platform for one environment: every env root (envs/dev, envs/prod) is this module with its own
# variable values, so the environments differ in sizes and thresholds, never in shape.

locals {
  name_prefix = "${var.project}-${var.environment}"
  # The namespace of the platform's own CloudWatch metrics: the metrics code emits exactly this (infra/README.md).
  metrics_namespace = "RetailCdc"
}

module "kms" {
  source      = "../kms"
  name_prefix = local.name_prefix
}

module "network" {
  source                       = "../network"
  name_prefix                  = local.name_prefix
  vpc_cidr                     = var.vpc_cidr
  availability_zones           = var.availability_zones
  msk_client_cidr_blocks       = var.msk_client_cidr_blocks
  warehouse_client_cidr_blocks = var.warehouse_client_cidr_blocks
  logs_kms_key_arn             = module.kms.logs_key_arn
  log_retention_days           = var.log_retention_days
}

module "lake" {
  source                             = "../lake"
  name_prefix                        = local.name_prefix
  kms_key_arn                        = module.kms.data_key_arn
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  landing_infrequent_access_days     = var.landing_infrequent_access_days
  landing_glacier_ir_days            = var.landing_glacier_ir_days
  landing_expiration_days            = var.landing_expiration_days
  dlq_retention_days                 = var.dlq_retention_days
  athena_results_retention_days      = var.athena_results_retention_days
  access_log_retention_days          = var.access_log_retention_days
}

module "streaming" {
  source               = "../streaming"
  name_prefix          = local.name_prefix
  kafka_version        = var.kafka_version
  broker_count         = var.msk_broker_count
  broker_instance_type = var.msk_broker_instance_type
  broker_volume_gb     = var.msk_broker_volume_gb
  retention_hours      = var.msk_retention_hours
  subnet_ids           = module.network.private_subnet_ids
  security_group_id    = module.network.msk_security_group_id
  kms_key_arn          = module.kms.data_key_arn
  logs_kms_key_arn     = module.kms.logs_key_arn
  log_retention_days   = var.log_retention_days
}

module "glue" {
  source                       = "../glue"
  name_prefix                  = local.name_prefix
  lake_root                    = module.lake.lake_root
  lake_bucket_id               = module.lake.lake_bucket_id
  scripts_bucket_id            = module.lake.scripts_bucket_id
  wheelhouse_key               = var.glue_wheelhouse_key
  kms_key_arn                  = module.kms.data_key_arn
  logs_kms_key_arn             = module.kms.logs_key_arn
  log_retention_days           = var.log_retention_days
  manage_catalog_encryption    = var.manage_account_singletons
  vpc_id                       = module.network.vpc_id
  connection_subnet_id         = module.network.private_subnet_ids[0]
  connection_availability_zone = module.network.private_subnet_azs[0]
  connection_security_group_id = module.network.glue_security_group_id
  schema_registry_url          = var.schema_registry_url
  bootstrap_servers            = module.streaming.bootstrap_brokers_iam
  msk_cluster_arn              = module.streaming.cluster_arn
  msk_topic_arn_prefix         = module.streaming.topic_arn_prefix
  msk_group_arn_prefix         = module.streaming.group_arn_prefix
  kafka_topic_prefix           = var.kafka_topic_prefix
  metrics_namespace            = local.metrics_namespace
  streaming_worker_type        = var.streaming_worker_type
  streaming_workers            = var.streaming_workers
  streaming_trigger_seconds    = var.streaming_trigger_seconds
  streaming_maintenance_window = var.streaming_maintenance_window
  batch_worker_type            = var.batch_worker_type
  batch_workers                = var.batch_workers
  batch_timeout_minutes        = var.batch_timeout_minutes
}

module "orchestration" {
  source              = "../orchestration"
  name_prefix         = local.name_prefix
  batch_job_names     = module.glue.batch_job_names
  batch_job_arns      = module.glue.batch_job_arns
  alerts_topic_arn    = module.monitoring.alerts_topic_arn
  logs_kms_key_arn    = module.kms.logs_key_arn
  log_retention_days  = var.log_retention_days
  schedule_expression = var.batch_schedule_expression
}

module "warehouse" {
  source               = "../warehouse"
  name_prefix          = local.name_prefix
  database_name        = var.redshift_database_name
  admin_username       = var.redshift_admin_username
  base_capacity        = var.redshift_base_capacity
  max_capacity         = var.redshift_max_capacity
  subnet_ids           = module.network.private_subnet_ids
  security_group_id    = module.network.redshift_security_group_id
  kms_key_arn          = module.kms.data_key_arn
  lake_bucket_id       = module.lake.lake_bucket_id
  msk_cluster_arn      = module.streaming.cluster_arn
  msk_topic_arn_prefix = module.streaming.topic_arn_prefix
  msk_group_arn_prefix = module.streaming.group_arn_prefix
  kafka_topic_prefix   = var.kafka_topic_prefix
}

module "analytics" {
  source                         = "../analytics"
  name_prefix                    = local.name_prefix
  database_names                 = module.glue.database_names
  lake_bucket_id                 = module.lake.lake_bucket_id
  results_bucket_id              = module.lake.athena_results_bucket_id
  kms_key_arn                    = module.kms.data_key_arn
  bytes_scanned_cutoff_per_query = var.athena_bytes_scanned_cutoff
  analyst_principal_arns         = var.analyst_principal_arns
}

module "monitoring" {
  source                                = "../monitoring"
  name_prefix                           = local.name_prefix
  metrics_namespace                     = local.metrics_namespace
  logs_kms_key_arn                      = module.kms.logs_key_arn
  log_retention_days                    = var.log_retention_days
  alarm_email_addresses                 = var.alarm_email_addresses
  glue_job_names                        = concat([module.glue.streaming_job_name], values(module.glue.batch_job_names))
  state_machine_arn                     = module.orchestration.state_machine_arn
  redshift_namespace_name               = module.warehouse.namespace_name
  redshift_storage_budget_gb            = var.redshift_storage_budget_gb
  msk_cluster_name                      = module.streaming.cluster_name
  msk_broker_count                      = var.msk_broker_count
  batch_duration_threshold_seconds      = var.batch_duration_threshold_seconds
  batch_step_duration_threshold_seconds = var.batch_step_duration_threshold_seconds
  streaming_lag_threshold_seconds       = var.streaming_lag_threshold_seconds
  dead_letter_threshold                 = var.dead_letter_threshold
  row_count_variance_threshold_percent  = var.row_count_variance_threshold_percent
  data_bucket_arns                      = [module.lake.lake_bucket_arn, module.lake.scripts_bucket_arn]
  access_log_bucket                     = module.lake.access_logs_bucket_id
  noncurrent_version_expiration_days    = var.noncurrent_version_expiration_days
  cloudtrail_retention_days             = var.cloudtrail_retention_days
}
