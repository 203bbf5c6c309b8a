################################################################################
# Encryption
################################################################################

output "kms_key_arn" {
  description = "ARN of the KMS key for log groups and the alerts topic (its policy admits CloudWatch Logs)."
  value       = aws_kms_key.this.arn
}

################################################################################
# Log groups
################################################################################

output "log_group_names" {
  description = "Log group names keyed by purpose."
  value       = { for purpose, group in aws_cloudwatch_log_group.this : purpose => group.name }
}

output "log_group_arns" {
  description = "Log group ARNs keyed by purpose."
  value       = { for purpose, group in aws_cloudwatch_log_group.this : purpose => group.arn }
}

################################################################################
# Alerts topic
################################################################################

output "alerts_topic_arn" {
  description = "ARN of the SNS topic alarms and failure events publish to."
  value       = aws_sns_topic.alerts.arn
}

################################################################################
# Alarms
################################################################################

output "alarm_arns" {
  description = "Alarm ARNs keyed by what they watch."
  value = merge(
    {
      latency_p95     = aws_cloudwatch_metric_alarm.latency_p95.arn
      error_rate_5xx  = aws_cloudwatch_metric_alarm.error_rate_5xx.arn
      unhealthy_hosts = aws_cloudwatch_metric_alarm.unhealthy_hosts.arn
      training_failed = aws_cloudwatch_metric_alarm.training_failed.arn
    },
    { for key, alarm in aws_cloudwatch_metric_alarm.utilization : key => alarm.arn },
    { for dataset, alarm in aws_cloudwatch_metric_alarm.drift : "drift/${dataset}" => alarm.arn },
    { for kb, alarm in aws_cloudwatch_metric_alarm.knowledge_cost : "knowledge_cost/${kb}" => alarm.arn },
  )
}

# Only these two: an alarm watching the service itself (CPU, memory) would make the module graph a cycle,
# and a slow or drifting model is not a reason to roll a deployment back.
output "deployment_alarm_names" {
  description = "Names of the alarms an ECS deployment rolls back on (5xx rate, unhealthy hosts): the ecs_service input deployment_alarm_names."
  value       = [aws_cloudwatch_metric_alarm.error_rate_5xx.alarm_name, aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name]
}

################################################################################
# Drift alarms
################################################################################

output "drift_alarm_arns" {
  description = "ARN of each dataset's drift alarm, keyed by dataset: modules/orchestration starts retraining on its change to ALARM."
  value       = { for dataset, alarm in aws_cloudwatch_metric_alarm.drift : dataset => alarm.arn }
}

output "drift_alarm_names" {
  description = "Name of each dataset's drift alarm, keyed by dataset."
  value       = { for dataset, alarm in aws_cloudwatch_metric_alarm.drift : dataset => alarm.alarm_name }
}

################################################################################
# Dashboard
################################################################################

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
