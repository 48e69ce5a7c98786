# A VPC with private subnets only (one per availability zone, two or more), no internet gateway and no NAT:
# every AWS API the jobs call is reached through a VPC endpoint, and Python dependencies come from the scripts
# bucket (see infra/README.md). Security groups per workload; clients reach MSK only on the IAM listener.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  # Interface endpoints the Glue jobs, Redshift and the metrics code need without internet access.
  interface_endpoints = toset(["glue", "secretsmanager", "logs", "sts", "monitoring", "kms"])
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name_prefix}-vpc" }
}

resource "aws_subnet" "private" {
  for_each                = { for index, zone in var.availability_zones : zone => index }
  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, each.value)
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-private-${each.key}", Tier = "private" }
}

resource "aws_route_table" "private" {
  for_each = aws_subnet.private
  vpc_id   = aws_vpc.this.id
  tags     = { Name = "${var.name_prefix}-private-${each.key}" }
}

resource "aws_route_table_association" "private" {
  for_each       = aws_subnet.private
  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# Nothing may use the default security group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.name_prefix}-default-unused" }
}

# --- flow logs ------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/${var.name_prefix}/vpc-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name_prefix}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogsToItsLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.flow_logs.arn, "${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

# --- VPC endpoints ----------------------------------------------------------------------------------------------
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for table in aws_route_table.private : table.id]
  tags              = { Name = "${var.name_prefix}-s3" }
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name_prefix}-vpc-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS to AWS APIs from the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for subnet in aws_subnet.private : subnet.id]
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = { Name = "${var.name_prefix}-${each.key}" }
}

# --- workload security groups ---------------------------------------------------------------------------------------
resource "aws_security_group" "glue" {
  #checkov:skip=CKV2_AWS_5:Attached to the Glue network connection (modules/glue aws_glue_connection.vpc) through this module's output; checkov does not follow attachments across modules.
  name        = "${var.name_prefix}-glue"
  description = "Glue job workers (the Glue network connection)"
  vpc_id      = aws_vpc.this.id
}

# Glue requires a self-referencing rule: its workers talk to each other on any TCP port.
resource "aws_vpc_security_group_ingress_rule" "glue_self" {
  #checkov:skip=CKV_AWS_24:False positive: the source is this security group itself (referenced_security_group_id), not 0.0.0.0/0.
  #checkov:skip=CKV_AWS_25:False positive: the source is this security group itself (referenced_security_group_id), not 0.0.0.0/0.
  #checkov:skip=CKV_AWS_260:False positive: the source is this security group itself (referenced_security_group_id), not 0.0.0.0/0.
  security_group_id            = aws_security_group.glue.id
  description                  = "Glue workers to each other (required by Glue)"
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.glue.id
}

resource "aws_vpc_security_group_egress_rule" "glue_vpc" {
  security_group_id = aws_security_group.glue.id
  description       = "Glue workers to each other, MSK, the schema registry and interface endpoints"
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "glue_s3" {
  security_group_id = aws_security_group.glue.id
  description       = "Glue workers to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_security_group" "msk" {
  #checkov:skip=CKV2_AWS_5:Attached to the MSK brokers (modules/streaming aws_msk_cluster.this) through this module's output; checkov does not follow attachments across modules.
  name        = "${var.name_prefix}-msk"
  description = "MSK brokers: the SASL/IAM listener only"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_glue" {
  security_group_id            = aws_security_group.msk.id
  description                  = "Glue streaming job to the IAM listener"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.glue.id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_redshift" {
  security_group_id            = aws_security_group.msk.id
  description                  = "Redshift streaming ingestion to the IAM listener"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.redshift.id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_clients" {
  for_each          = toset(var.msk_client_cidr_blocks)
  security_group_id = aws_security_group.msk.id
  description       = "Change capture and the JSON bridge to the IAM listener"
  ip_protocol       = "tcp"
  from_port         = 9098
  to_port           = 9098
  cidr_ipv4         = each.value
}

resource "aws_security_group" "redshift" {
  #checkov:skip=CKV2_AWS_5:Attached to the Redshift Serverless workgroup (modules/warehouse) through this module's output; checkov does not follow attachments across modules.
  name        = "${var.name_prefix}-redshift"
  description = "Redshift Serverless workgroup"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "redshift_clients" {
  for_each          = toset(var.warehouse_client_cidr_blocks)
  security_group_id = aws_security_group.redshift.id
  description       = "SQL clients and the warehouse runner"
  ip_protocol       = "tcp"
  from_port         = 5439
  to_port           = 5439
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "redshift_msk" {
  security_group_id            = aws_security_group.redshift.id
  description                  = "Streaming ingestion from MSK"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.msk.id
}

resource "aws_vpc_security_group_egress_rule" "redshift_https" {
  security_group_id = aws_security_group.redshift.id
  description       = "Interface endpoints (enhanced VPC routing)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "redshift_s3" {
  security_group_id = aws_security_group.redshift.id
  description       = "COPY from the lake through the S3 gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}
