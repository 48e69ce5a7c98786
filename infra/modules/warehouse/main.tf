# Redshift Serverless: a namespace (KMS-encrypted, admin password generated and kept in Secrets Manager by
# Redshift itself) and a workgroup in the private subnets with enhanced VPC routing, not publicly reachable.
# Its default IAM role may read the JSON bridge topics (streaming MVs: CREATE EXTERNAL SCHEMA ... FROM MSK
# ... AUTHENTICATION iam CLUSTER_ARN, redshift/sql/V001__schemas.sql) and the lake prefixes it COPYs from.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  lake_arn   = "arn:${local.partition}:s3:::${var.lake_bucket_id}"
}

data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "redshift" {
  name               = "${var.name_prefix}-redshift"
  description        = "Redshift: streaming ingestion from the JSON bridge topics, COPY from the lake"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
}

data "aws_iam_policy_document" "redshift" {
  # Streaming ingestion from MSK with IAM (aws-facts.md 1.1): Connect, DescribeTopic, ReadData, AlterGroup,
  # DescribeGroup, plus GetBootstrapBrokers for the CLUSTER_ARN form.
  statement {
    sid       = "ConnectToCluster"
    actions   = ["kafka-cluster:Connect", "kafka:GetBootstrapBrokers"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid       = "ReadJsonBridgeTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${var.msk_topic_arn_prefix}/${var.kafka_topic_prefix}.*.cdc.json"]
  }
  statement {
    sid       = "StreamingConsumerGroups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = ["${var.msk_group_arn_prefix}/*"]
  }
  # COPY: curated/ and staging/ (loads), landing/ and manifests/ (backfill: COPY ... MANIFEST of committed files).
  statement {
    sid     = "CopyFromLake"
    actions = ["s3:GetObject"]
    resources = [
      "${local.lake_arn}/curated/*",
      "${local.lake_arn}/staging/*",
      "${local.lake_arn}/landing/*",
      "${local.lake_arn}/manifests/*",
    ]
  }
  statement {
    sid       = "ListCopySources"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.lake_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["curated/*", "staging/*", "landing/*", "manifests/*"]
    }
  }
  statement {
    sid       = "DecryptLake"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "redshift" {
  name   = "streaming-ingestion-and-copy"
  role   = aws_iam_role.redshift.id
  policy = data.aws_iam_policy_document.redshift.json
}

resource "aws_redshiftserverless_namespace" "this" {
  namespace_name                   = "${var.name_prefix}-warehouse"
  db_name                          = var.database_name
  admin_username                   = var.admin_username
  manage_admin_password            = true
  admin_password_secret_kms_key_id = var.kms_key_arn
  kms_key_id                       = var.kms_key_arn
  iam_roles                        = [aws_iam_role.redshift.arn]
  default_iam_role_arn             = aws_iam_role.redshift.arn
  log_exports                      = ["userlog", "connectionlog", "useractivitylog"]
}

resource "aws_redshiftserverless_workgroup" "this" {
  workgroup_name       = "${var.name_prefix}-warehouse"
  namespace_name       = aws_redshiftserverless_namespace.this.namespace_name
  base_capacity        = var.base_capacity
  max_capacity         = var.max_capacity
  subnet_ids           = var.subnet_ids
  security_group_ids   = [var.security_group_id]
  enhanced_vpc_routing = true
  publicly_accessible  = false

  config_parameter {
    parameter_key   = "require_ssl"
    parameter_value = "true"
  }
  config_parameter {
    parameter_key   = "enable_user_activity_logging"
    parameter_value = "true"
  }
  config_parameter {
    parameter_key   = "enable_case_sensitive_identifier"
    parameter_value = "false"
  }
}
