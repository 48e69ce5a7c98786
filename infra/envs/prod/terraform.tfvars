# prod: three AZs, three brokers, more workers; its own account (so it manages its own account-wide settings).
environment        = "prod"
aws_region         = "eu-west-1"
vpc_cidr           = "10.50.0.0/16"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

msk_broker_count         = 3
msk_broker_instance_type = "kafka.m7g.large"
msk_broker_volume_gb     = 1000
msk_client_cidr_blocks   = ["10.50.0.0/16"]

schema_registry_url = "https://schema-registry.prod.retail.internal"

streaming_workers = 4
batch_workers     = 10

redshift_base_capacity     = 32
redshift_max_capacity      = 128
redshift_storage_budget_gb = 2048

warehouse_client_cidr_blocks = ["10.50.0.0/16"]
athena_bytes_scanned_cutoff  = 107374182400 # 100 GiB

manage_account_singletons = true
