################################################################################
# State machines
################################################################################

output "state_machine_arns" {
  description = "State machine ARNs keyed by dataset, then by kind (no retrain where retrain_enabled is false)."
  value = {
    for dataset in local.datasets : dataset => {
      for key, machine in aws_sfn_state_machine.this : local.state_machines[key].kind => machine.arn if local.state_machines[key].dataset == dataset
    }
  }
}

output "state_machine_role_arns" {
  description = "ARNs of the state machines' execution roles, keyed by dataset."
  value       = { for dataset, role in aws_iam_role.state_machine : dataset => role.arn }
}

output "log_group_name" {
  description = "Name of the log group of the state machines' executions."
  value       = aws_cloudwatch_log_group.state_machines.name
}

################################################################################
# Processing role
################################################################################

output "processing_role_arn" {
  description = "ARN of the processing jobs' execution role (the RoleArn of every processing job)."
  value       = aws_iam_role.processing.arn
}

output "processing_role_name" {
  description = "Name of the processing jobs' execution role."
  value       = aws_iam_role.processing.name
}

################################################################################
# Platform image parameter
################################################################################

output "image_parameter_name" {
  description = "Name of the SSM parameter the deploy workflow writes the platform image URI to."
  value       = aws_ssm_parameter.image.name
}

output "image_parameter_arn" {
  description = "ARN of the SSM parameter holding the platform image URI."
  value       = aws_ssm_parameter.image.arn
}

################################################################################
# Triggers
################################################################################

output "schedule_names" {
  description = "EventBridge Scheduler schedule names keyed by `<dataset>/<kind>`."
  value       = { for key, schedule in aws_scheduler_schedule.this : key => schedule.name }
}

output "drift_alarm_rule_names" {
  description = "EventBridge rules that start retraining on a drift alarm, keyed by dataset (empty where retrain_enabled is false)."
  value       = { for dataset, rule in aws_cloudwatch_event_rule.drift_alarm : dataset => rule.name }
}

output "triggers_role_arn" {
  description = "ARN of the role the schedules and drift alarm rules start executions with."
  value       = aws_iam_role.triggers.arn
}
