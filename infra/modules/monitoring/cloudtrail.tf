# CloudTrail: management events plus S3 data events (object reads and writes) of the lake and scripts buckets,
# into its own bucket (SSE-KMS with the logs key, versioned, access-logged) and a CloudWatch log group.

locals {
  trail_name = "${var.name_prefix}-data-events"
  trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
}

module "cloudtrail_bucket" {
  source                             = "../s3_bucket"
  name                               = "${var.name_prefix}-cloudtrail-${local.account_id}"
  kms_key_arn                        = var.logs_kms_key_arn
  access_log_bucket                  = var.access_log_bucket
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lifecycle_rules = [
    {
      id              = "trail-retention"
      prefix          = "AWSLogs/"
      expiration_days = var.cloudtrail_retention_days
      transitions     = [{ days = 90, storage_class = "GLACIER_IR" }]
    },
  ]
  policy_statements = [
    {
      sid                = "CloudTrailAclCheck"
      service_principals = ["cloudtrail.amazonaws.com"]
      actions            = ["s3:GetBucketAcl"]
      resource_suffixes  = [""]
      conditions         = [{ test = "StringEquals", variable = "aws:SourceArn", values = [local.trail_arn] }]
    },
    {
      sid                = "CloudTrailWrite"
      service_principals = ["cloudtrail.amazonaws.com"]
      actions            = ["s3:PutObject"]
      resource_suffixes  = ["/AWSLogs/${local.account_id}/*"]
      conditions = [
        { test = "StringEquals", variable = "s3:x-amz-acl", values = ["bucket-owner-full-control"] },
        { test = "StringEquals", variable = "aws:SourceArn", values = [local.trail_arn] },
      ]
    },
  ]
}

resource "aws_cloudwatch_log_group" "cloudtrail" {
  name              = "/${var.name_prefix}/cloudtrail"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

data "aws_iam_policy_document" "cloudtrail_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "cloudtrail" {
  name               = "${var.name_prefix}-cloudtrail-logs"
  description        = "CloudTrail: delivers the trail to its CloudWatch log group"
  assume_role_policy = data.aws_iam_policy_document.cloudtrail_assume.json
}

data "aws_iam_policy_document" "cloudtrail" {
  statement {
    sid       = "DeliverToLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.cloudtrail.arn}:*"]
  }
}

resource "aws_iam_role_policy" "cloudtrail" {
  name   = "deliver-trail"
  role   = aws_iam_role.cloudtrail.id
  policy = data.aws_iam_policy_document.cloudtrail.json
}

resource "aws_cloudtrail" "data_events" {
  #checkov:skip=CKV_AWS_252:An SNS notification per delivered log file would flood the alerts topic; the trail is read from CloudWatch Logs instead.
  name                          = local.trail_name
  s3_bucket_name                = module.cloudtrail_bucket.id
  kms_key_id                    = var.logs_kms_key_arn
  enable_log_file_validation    = true
  include_global_service_events = true
  is_multi_region_trail         = true
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.cloudtrail.arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.cloudtrail.arn

  advanced_event_selector {
    name = "Management events"
    field_selector {
      field  = "eventCategory"
      equals = ["Management"]
    }
  }

  advanced_event_selector {
    name = "Object reads and writes in the data buckets"
    field_selector {
      field  = "eventCategory"
      equals = ["Data"]
    }
    field_selector {
      field  = "resources.type"
      equals = ["AWS::S3::Object"]
    }
    field_selector {
      field       = "resources.ARN"
      starts_with = [for arn in var.data_bucket_arns : "${arn}/"]
    }
  }

  depends_on = [module.cloudtrail_bucket, aws_iam_role_policy.cloudtrail]
}
