output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets, in availability-zone order."
  value       = [for zone in var.availability_zones : aws_subnet.private[zone].id]
}

output "private_subnet_azs" {
  description = "Availability zone of each private subnet, same order as private_subnet_ids."
  value       = var.availability_zones
}

output "glue_security_group_id" {
  description = "Security group of the Glue network connection."
  value       = aws_security_group.glue.id
}

output "msk_security_group_id" {
  description = "Security group of the MSK brokers."
  value       = aws_security_group.msk.id
}

output "redshift_security_group_id" {
  description = "Security group of the Redshift Serverless workgroup."
  value       = aws_security_group.redshift.id
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}
