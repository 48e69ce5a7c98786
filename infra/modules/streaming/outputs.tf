output "cluster_arn" {
  description = "MSK cluster ARN (Redshift's CREATE EXTERNAL SCHEMA ... CLUSTER_ARN)."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "MSK cluster name."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_iam" {
  description = "Bootstrap servers of the SASL/IAM listener (port 9098): --bootstrap_servers, KAFKA_BOOTSTRAP_SERVERS."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "topic_arn_prefix" {
  description = "ARN prefix of this cluster's topics: <prefix>/<topic name>."
  value       = replace(aws_msk_cluster.this.arn, ":cluster/", ":topic/")
}

output "group_arn_prefix" {
  description = "ARN prefix of this cluster's consumer groups: <prefix>/<group id>."
  value       = replace(aws_msk_cluster.this.arn, ":cluster/", ":group/")
}
