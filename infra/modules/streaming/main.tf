# Amazon MSK (provisioned): IAM authentication only, TLS between clients and brokers and inside the cluster,
# encryption at rest with the platform's KMS key, broker logs to CloudWatch. Topics are data, not Terraform: the
# capture creates `retail.<table>.cdc`, the bridge `<topic>.json` and `<topic>.json.dlq` (kafka-cluster:CreateTopic
# on their own roles, outside this module).

locals {
  # Replication never exceeds the broker count (dev runs two brokers, prod three or more).
  replication_factor = min(3, var.broker_count)
  min_insync         = max(1, local.replication_factor - 1)
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = "/${var.name_prefix}/msk/brokers"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name_prefix}-msk"
  kafka_versions = [var.kafka_version]
  server_properties = join("\n", [
    "auto.create.topics.enable=false",
    "default.replication.factor=${local.replication_factor}",
    "min.insync.replicas=${local.min_insync}",
    "offsets.topic.replication.factor=${local.replication_factor}",
    "transaction.state.log.replication.factor=${local.replication_factor}",
    "transaction.state.log.min.isr=${local.min_insync}",
    "unclean.leader.election.enable=false",
    "log.retention.hours=${var.retention_hours}",
  ])
}

resource "aws_msk_cluster" "this" {
  cluster_name           = "${var.name_prefix}-msk"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "PER_TOPIC_PER_BROKER"

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [var.security_group_id]
    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_gb
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.broker_count % length(var.subnet_ids) == 0
      error_message = "MSK needs a broker count that is a multiple of the number of client subnets."
    }
  }
}
