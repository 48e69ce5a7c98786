# The S3 side of the platform.
#
# The lake is ONE bucket whose top-level prefixes are the zones (landing/, staging/, curated/, quarantine/, dlq/,
# checkpoints/, manifests/): the code takes a single lake root (`--lake_root s3://bucket`, common/lake.py ZONES),
# exactly like the local `CDC_HOME/lake/` folder. Zone-specific behaviour is per prefix: lifecycle rules here, IAM
# grants in the consumers' policies (Redshift reads only what it COPYs, analysts only curated/ and staging/).
# Besides the lake: the scripts bucket (Glue entry points, the wheelhouse, Glue temp files), Athena's results and
# the access-log bucket all other buckets log to.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # Bucket names are global: the account id keeps two accounts' dev environments apart.
  names = {
    lake           = "${var.name_prefix}-lake-${local.account_id}"
    scripts        = "${var.name_prefix}-scripts-${local.account_id}"
    athena_results = "${var.name_prefix}-athena-results-${local.account_id}"
    access_logs    = "${var.name_prefix}-access-logs-${local.account_id}"
  }
}

# --- access logs: the one bucket that cannot use SSE-KMS -----------------------------------------------------------
resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging it into itself would log its own log deliveries endlessly.
  #checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 on the target bucket, not SSE-KMS; it is encrypted with AES256.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DR decision per environment (README: not enabled); versioning keeps every object version in-region.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications for access logs.
  bucket        = local.names.access_logs
  force_destroy = false
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid     = "DenyRequestsWithoutTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- the lake and its zones ---------------------------------------------------------------------------------------
module "lake_bucket" {
  source                             = "../s3_bucket"
  name                               = local.names.lake
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lifecycle_rules = [
    # Landing files are never expired by default: the curated SCD2 dimensions are rebuilt from the landing change
    # history (ADR 0011), the warehouse backfill replays it, and the sink's commit log lists them. Older files move
    # to cheaper classes that still read instantly.
    {
      id              = "landing-tiering"
      prefix          = "landing/"
      expiration_days = var.landing_expiration_days
      transitions = [
        { days = var.landing_infrequent_access_days, storage_class = "STANDARD_IA" },
        { days = var.landing_glacier_ir_days, storage_class = "GLACIER_IR" },
      ]
    },
    # Dead letters are kept for inspection and replay, then expire.
    { id = "dlq-expiry", prefix = "dlq/", expiration_days = var.dlq_retention_days },
  ]
}

module "scripts_bucket" {
  source                             = "../s3_bucket"
  name                               = local.names.scripts
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lifecycle_rules = [
    { id = "glue-temp-expiry", prefix = "tmp/", expiration_days = 7 },
  ]
}

module "athena_results_bucket" {
  source                             = "../s3_bucket"
  name                               = local.names.athena_results
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  lifecycle_rules = [
    { id = "results-expiry", prefix = "", expiration_days = var.athena_results_retention_days },
  ]
}
