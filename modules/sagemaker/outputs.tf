################################################################################
# Execution role
################################################################################

output "role_arn" {
  description = "ARN of the SageMaker execution role (pass as `role` to the training launcher)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the SageMaker execution role."
  value       = aws_iam_role.this.name
}

################################################################################
# Model registry
################################################################################

output "model_package_group_names" {
  description = "Model package group names keyed by dataset."
  value       = { for dataset, group in aws_sagemaker_model_package_group.this : dataset => group.model_package_group_name }
}

output "model_package_group_arns" {
  description = "Model package group ARNs keyed by dataset."
  value       = { for dataset, group in aws_sagemaker_model_package_group.this : dataset => group.arn }
}

################################################################################
# Failure events
################################################################################

output "training_failure_rule_name" {
  description = "Name of the EventBridge rule that matches failed training jobs."
  value       = aws_cloudwatch_event_rule.training_failed.name
}

output "training_failure_rule_arn" {
  description = "ARN of the EventBridge rule that matches failed training jobs."
  value       = aws_cloudwatch_event_rule.training_failed.arn
}

################################################################################
# Training dashboard
################################################################################

output "training_dashboard_name" {
  description = "Name of the CloudWatch dashboard of the training jobs' metrics (the training spec's metric definitions)."
  value       = aws_cloudwatch_dashboard.training.dashboard_name
}
