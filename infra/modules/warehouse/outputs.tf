output "namespace_name" {
  description = "Redshift Serverless namespace (dimension of the AWS/Redshift-Serverless metrics)."
  value       = aws_redshiftserverless_namespace.this.namespace_name
}

output "workgroup_name" {
  description = "Redshift Serverless workgroup (REDSHIFT_* settings, Data API)."
  value       = aws_redshiftserverless_workgroup.this.workgroup_name
}

output "endpoint_address" {
  description = "Host of the workgroup endpoint."
  value       = aws_redshiftserverless_workgroup.this.endpoint[0].address
}

output "admin_secret_arn" {
  description = "Secrets Manager secret holding the admin credentials."
  value       = aws_redshiftserverless_namespace.this.admin_password_secret_arn
}

output "iam_role_arn" {
  description = "Role for CREATE EXTERNAL SCHEMA ... IAM_ROLE and COPY ... IAM_ROLE."
  value       = aws_iam_role.redshift.arn
}
