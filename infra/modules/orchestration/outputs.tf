output "state_machine_arn" {
  description = "The batch DAG state machine."
  value       = aws_sfn_state_machine.batch_dag.arn
}

output "state_machine_name" {
  description = "Name of the batch DAG state machine."
  value       = aws_sfn_state_machine.batch_dag.name
}
