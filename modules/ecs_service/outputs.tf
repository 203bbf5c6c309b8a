################################################################################
# Service
################################################################################

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

################################################################################
# Task definition
################################################################################

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "execution_role_arn" {
  description = "ARN of the execution role (image pull, logs, secret)."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role the app runs as."
  value       = aws_iam_role.task.arn
}

################################################################################
# Secrets
################################################################################

output "api_key_secret_arn" {
  description = "ARN of the API key secret (Terraform generates the value; read it with `aws secretsmanager get-secret-value`)."
  value       = aws_secretsmanager_secret.api_key.arn
}

################################################################################
# Load balancer
################################################################################

output "alb_dns_name" {
  description = "DNS name of the load balancer (point the service's domain at it)."
  value       = aws_lb.this.dns_name
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch LoadBalancer dimension)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch TargetGroup dimension)."
  value       = aws_lb_target_group.this.arn_suffix
}

################################################################################
# Security groups
################################################################################

output "alb_security_group_id" {
  description = "ID of the load balancer's security group."
  value       = aws_security_group.alb.id
}

output "tasks_security_group_id" {
  description = "ID of the tasks' security group."
  value       = aws_security_group.tasks.id
}
