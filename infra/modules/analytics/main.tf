# Ad-hoc SQL over the lake: an Athena workgroup (results SSE-KMS in their own bucket, a bytes-scanned cutoff per
# query, settings enforced) and an analyst role with Lake Formation permissions on the curated and staging
# catalog databases (DuckDB's `cdc query` plays this part locally).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id        = data.aws_caller_identity.current.account_id
  partition         = data.aws_partition.current.partition
  region            = data.aws_region.current.name
  lake_arn          = "arn:${local.partition}:s3:::${var.lake_bucket_id}"
  results_arn       = "arn:${local.partition}:s3:::${var.results_bucket_id}"
  analyst_zones     = ["curated", "staging"]
  analyst_databases = [for zone in local.analyst_zones : var.database_names[zone]]
  analyst_principals = length(var.analyst_principal_arns) > 0 ? var.analyst_principal_arns : [
    "arn:${local.partition}:iam::${local.account_id}:root"
  ]
}

resource "aws_athena_workgroup" "analysts" {
  name          = "${var.name_prefix}-analysts"
  description   = "Analyst queries over the curated and staging zones"
  state         = "ENABLED"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${var.results_bucket_id}/results/"
      expected_bucket_owner = local.account_id
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}

# --- the analyst role ---------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "analyst_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = local.analyst_principals
    }
  }
}

resource "aws_iam_role" "analyst" {
  name                 = "${var.name_prefix}-analyst"
  description          = "Read-only SQL over the curated and staging zones through Athena"
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "analyst" {
  statement {
    sid = "QueryInOwnWorkgroup"
    actions = [
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetQueryResultsStream",
      "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions",
      "athena:GetWorkGroup",
    ]
    resources = [aws_athena_workgroup.analysts.arn]
  }
  statement {
    sid     = "ReadCatalog"
    actions = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = concat(
      ["arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"],
      [for db in local.analyst_databases : "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${db}"],
      [for db in local.analyst_databases : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${db}/*"],
    )
  }
  statement {
    # Lake Formation vends data access per grant below; GetDataAccess itself has no resource-level permissions.
    sid       = "LakeFormationDataAccess"
    actions   = ["lakeformation:GetDataAccess"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadAnalystZones"
    actions   = ["s3:GetObject"]
    resources = [for zone in local.analyst_zones : "${local.lake_arn}/${zone}/*"]
  }
  statement {
    sid       = "ListAnalystZones"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.lake_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for zone in local.analyst_zones : "${zone}/*"]
    }
  }
  statement {
    sid       = "WriteQueryResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.results_arn}/results/*"]
  }
  statement {
    sid       = "ListQueryResults"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.results_arn]
  }
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "analyst" {
  name   = "athena-read-only"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analyst.json
}

# --- Lake Formation grants ------------------------------------------------------------------------------------------
resource "aws_lakeformation_permissions" "analyst_database" {
  for_each    = toset(local.analyst_zones)
  principal   = aws_iam_role.analyst.arn
  permissions = ["DESCRIBE"]
  database {
    name = var.database_names[each.key]
  }
}

resource "aws_lakeformation_permissions" "analyst_tables" {
  for_each    = toset(local.analyst_zones)
  principal   = aws_iam_role.analyst.arn
  permissions = ["SELECT", "DESCRIBE"]
  table {
    database_name = var.database_names[each.key]
    wildcard      = true
  }
}
