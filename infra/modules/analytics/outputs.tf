output "athena_workgroup" {
  description = "Athena workgroup for analysts."
  value       = aws_athena_workgroup.analysts.name
}

output "analyst_role_arn" {
  description = "Role analysts assume for Athena."
  value       = aws_iam_role.analyst.arn
}
