# One role per job kind, each allowed only what its job does:
#   streaming: read the CDC topics, write landing/, checkpoints/, dlq/, run inside the VPC;
#   batch:     read landing/, write staging/, curated/, quarantine/, register tables in the zone databases.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  lake_arn   = "arn:${local.partition}:s3:::${var.lake_bucket_id}"
  log_arn    = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/*"
}

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# What every job needs: its script and wheelhouse, Glue's temp dir, logs, metrics, the keys.
data "aws_iam_policy_document" "job_common" {
  statement {
    sid     = "ReadScriptsAndWheelhouse"
    actions = ["s3:GetObject"]
    resources = [
      "arn:${local.partition}:s3:::${var.scripts_bucket_id}/glue/*",
      "arn:${local.partition}:s3:::${var.scripts_bucket_id}/${var.wheelhouse_key}",
    ]
  }
  statement {
    sid       = "GlueTempDir"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["arn:${local.partition}:s3:::${var.scripts_bucket_id}/tmp/*"]
  }
  statement {
    sid       = "ListGlueTempDir"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.scripts_bucket_id}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["tmp/*"]
    }
  }
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "UseLogsKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.logs_kms_key_arn]
  }
  statement {
    sid       = "WriteGlueLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = [local.log_arn, "${local.log_arn}:*"]
  }
  statement {
    # PutMetricData has no resource-level permissions; the namespace condition is the scope.
    sid       = "PublishJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue", var.metrics_namespace]
    }
  }
}

# --- streaming ------------------------------------------------------------------------------------------------------
resource "aws_iam_role" "streaming" {
  name               = "${var.name_prefix}-glue-landing"
  description        = "Glue landing job: MSK -> landing/"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "streaming" {
  source_policy_documents = [data.aws_iam_policy_document.job_common.json]

  statement {
    sid     = "WriteLandingCheckpointsDeadLetters"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.lake_arn}/landing/*",
      "${local.lake_arn}/checkpoints/*",
      "${local.lake_arn}/dlq/*",
    ]
  }
  statement {
    sid       = "ListOwnZones"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["landing/*", "checkpoints/*", "dlq/*", "landing", "checkpoints", "dlq"]
    }
  }
  statement {
    sid       = "ConnectToCluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.msk_cluster_arn]
  }
  statement {
    sid       = "ReadCdcTopics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${var.msk_topic_arn_prefix}/${var.kafka_topic_prefix}.*.cdc"]
  }
  statement {
    # Spark's kafka source names its consumer groups spark-kafka-source-*; offsets live in the checkpoint.
    sid       = "SparkConsumerGroups"
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${var.msk_group_arn_prefix}/spark-kafka-source-*"]
  }
  statement {
    sid     = "ReadOwnConnection"
    actions = ["glue:GetConnection"]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:connection/${aws_glue_connection.vpc.name}",
    ]
  }
  statement {
    # Describe* calls have no resource-level permissions.
    sid = "DescribeNetworkForVpcConnection"
    actions = [
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeVpcs",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeRouteTables",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "DescribeOwnVpc"
    actions   = ["ec2:DescribeVpcAttribute"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/${var.vpc_id}"]
  }
  statement {
    sid     = "WorkerNetworkInterfaces"
    actions = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:CreateTags", "ec2:DeleteTags"]
    resources = [
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${var.connection_subnet_id}",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${var.connection_security_group_id}",
    ]
  }
}

resource "aws_iam_role_policy" "streaming" {
  name   = "landing-job"
  role   = aws_iam_role.streaming.id
  policy = data.aws_iam_policy_document.streaming.json
}

# --- batch ----------------------------------------------------------------------------------------------------------
resource "aws_iam_role" "batch" {
  name               = "${var.name_prefix}-glue-batch"
  description        = "Glue batch steps: landing/ -> staging/ -> curated/"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "batch" {
  source_policy_documents = [data.aws_iam_policy_document.job_common.json]

  statement {
    # The landing zone's committed files and the sink's commit log (ADR 0009) are read, never written.
    sid       = "ReadLanding"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_arn}/landing/*"]
  }
  statement {
    sid     = "WriteStagingCuratedQuarantine"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${local.lake_arn}/staging/*",
      "${local.lake_arn}/curated/*",
      "${local.lake_arn}/quarantine/*",
    ]
  }
  statement {
    sid       = "ListZones"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["landing/*", "staging/*", "curated/*", "quarantine/*", "landing", "staging", "curated", "quarantine"]
    }
  }
  statement {
    sid = "RegisterTablesInZoneDatabases"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:GetPartitions",
      "glue:BatchCreatePartition",
    ]
    resources = concat(
      ["arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"],
      [for db in aws_glue_catalog_database.zone : "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${db.name}"],
      [for db in aws_glue_catalog_database.zone : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${db.name}/*"],
    )
  }
}

resource "aws_iam_role_policy" "batch" {
  name   = "batch-steps"
  role   = aws_iam_role.batch.id
  policy = data.aws_iam_policy_document.batch.json
}
