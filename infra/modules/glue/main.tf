# AWS Glue: a catalog database per data zone, the landing (streaming) job, one batch job per DAG step, a security
# configuration, and a network connection that puts the streaming job in the VPC next to MSK.
#
# The entry points and their arguments are the code's: streaming/glue_job.py (REQUIRED/OPTIONAL there) and
# batch/glue_jobs.py (REQUIRED/OPTIONAL/STEPS there); tests/infra checks every argument below against them.
# Glue passes --JOB_NAME itself. Job bookmarks are off: the streaming job keeps Spark checkpoints and the batch
# steps keep their own bookmarks in the versioned tables (ADR 0011).

locals {
  # Glue entry point -> path in the repository. `cdc deploy` uploads it to s3://<scripts>/glue/<path> (and the
  # project's wheel to glue/wheels/) and checks that these jobs point there (docs/adr/0012-deploy.md): code
  # reaches S3 by deploy, not by terraform apply.
  glue_scripts = {
    streaming = "streaming/glue_job.py"
    batch     = "batch/glue_jobs.py"
  }
  # The batch DAG, in order; one Glue job per step (the Step Functions state machine runs them in this order).
  batch_steps = ["staging", "dimensions", "facts", "aggregates"]
  # Catalog databases, one per zone holding tables (dlq/ and checkpoints/ hold no tables).
  catalog_zones  = ["landing", "staging", "curated", "quarantine"]
  database_stem  = replace(var.name_prefix, "-", "_")
  scripts_prefix = "s3://${var.scripts_bucket_id}"

  # Glue's own job parameters, the same for every job.
  glue_common_arguments = {
    "--job-language"                     = "python"
    "--job-bookmark-option"              = "job-bookmark-disable"
    "--enable-metrics"                   = "true"
    "--enable-observability-metrics"     = "true"
    "--enable-continuous-cloudwatch-log" = "true"
    "--continuous-log-logGroup"          = aws_cloudwatch_log_group.jobs.name
    "--TempDir"                          = "${local.scripts_prefix}/tmp/"
    # A zip of the runtime dependencies' wheels (Glue 5.0, built as infra/README.md describes), then the project's
    # wheel that `cdc deploy` uploads. --no-deps: pip must not resolve the project's pyspark 4 requirement on Glue.
    "--additional-python-modules"       = "${local.scripts_prefix}/${var.wheelhouse_key},${local.scripts_prefix}/glue/wheels/${var.project_wheel}"
    "--python-modules-installer-option" = "--no-deps"
  }
}

resource "aws_glue_catalog_database" "zone" {
  for_each     = toset(local.catalog_zones)
  name         = "${local.database_stem}_${each.key}"
  description  = "Tables of the ${each.key} zone of ${var.name_prefix}"
  location_uri = "${var.lake_root}/${each.key}/"
}

# Account-wide and one per region: only one environment per account/region may manage it.
resource "aws_glue_data_catalog_encryption_settings" "this" {
  count = var.manage_catalog_encryption ? 1 : 0
  data_catalog_encryption_settings {
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = var.kms_key_arn
    }
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = var.kms_key_arn
    }
  }
}

resource "aws_glue_security_configuration" "this" {
  name = "${var.name_prefix}-glue"
  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.kms_key_arn
    }
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.logs_kms_key_arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.kms_key_arn
    }
  }
}

resource "aws_glue_connection" "vpc" {
  name            = "${var.name_prefix}-vpc"
  description     = "Puts Glue workers in a private subnet next to the MSK brokers"
  connection_type = "NETWORK"
  physical_connection_requirements {
    availability_zone      = var.connection_availability_zone
    subnet_id              = var.connection_subnet_id
    security_group_id_list = [var.connection_security_group_id]
  }
}

resource "aws_cloudwatch_log_group" "jobs" {
  name              = "/aws-glue/jobs/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

# --- the landing job (Kafka -> landing/, continuously) ---------------------------------------------------------
resource "aws_glue_job" "streaming" {
  name                   = "${var.name_prefix}-landing"
  description            = "Kafka (MSK, IAM) -> landing zone Parquet, exactly once (streaming/glue_job.py)"
  role_arn               = aws_iam_role.streaming.arn
  glue_version           = "5.0"
  worker_type            = var.streaming_worker_type
  number_of_workers      = var.streaming_workers
  max_retries            = 3
  connections            = [aws_glue_connection.vpc.name]
  security_configuration = aws_glue_security_configuration.this.name
  maintenance_window     = var.streaming_maintenance_window

  command {
    name            = "gluestreaming"
    python_version  = "3"
    script_location = "${local.scripts_prefix}/glue/${local.glue_scripts["streaming"]}"
  }

  default_arguments = merge(local.glue_common_arguments, {
    "--lake_root"           = var.lake_root
    "--schema_registry_url" = var.schema_registry_url
    "--bootstrap_servers"   = var.bootstrap_servers
    "--trigger_seconds"     = tostring(var.streaming_trigger_seconds)
    "--starting_offsets"    = "earliest"
    "--source"              = "native"
    "--msk_iam"             = "true"
  })

  execution_property {
    max_concurrent_runs = 1
  }
}

# --- the batch DAG steps (landing -> staging -> curated) ------------------------------------------------------------
resource "aws_glue_job" "batch" {
  for_each               = toset(local.batch_steps)
  name                   = "${var.name_prefix}-batch-${each.key}"
  description            = "Batch step ${each.key} (batch/glue_jobs.py --step ${each.key})"
  role_arn               = aws_iam_role.batch.arn
  glue_version           = "5.0"
  worker_type            = var.batch_worker_type
  number_of_workers      = var.batch_workers
  timeout                = var.batch_timeout_minutes
  max_retries            = 0 # Step Functions retries with backoff; Glue's own retry would double them.
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "${local.scripts_prefix}/glue/${local.glue_scripts["batch"]}"
  }

  default_arguments = merge(local.glue_common_arguments, {
    "--lake_root" = var.lake_root
    "--step"      = each.key
  })

  execution_property {
    max_concurrent_runs = 1
  }
}
