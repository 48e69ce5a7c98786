# dev: small and cheap; shares nothing with prod.
environment        = "dev"
aws_region         = "eu-west-1"
vpc_cidr           = "10.40.0.0/16"
availability_zones = ["eu-west-1a", "eu-west-1b"]

msk_broker_count         = 2
msk_broker_instance_type = "kafka.t3.small"
msk_broker_volume_gb     = 100
msk_client_cidr_blocks   = ["10.40.0.0/16"]

schema_registry_url = "https://schema-registry.dev.retail.internal"

streaming_workers = 2
batch_workers     = 2

redshift_base_capacity     = 8
redshift_max_capacity      = 32
redshift_storage_budget_gb = 256

warehouse_client_cidr_blocks = ["10.40.0.0/16"]
athena_bytes_scanned_cutoff  = 10737418240 # 10 GiB

manage_account_singletons = true
