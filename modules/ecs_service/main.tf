# The inference API on ECS Fargate behind an HTTPS ALB. Tasks run in private subnets, as a non-root user,
# on a read-only root filesystem; the API key reaches them only as a Secrets Manager secret.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region

  container_name = "inference"
}

################################################################################
# Cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

################################################################################
# Secrets
################################################################################

resource "aws_secretsmanager_secret" "api_key" {
  #checkov:skip=CKV2_AWS_57:The API key is shared with clients out of band; operators rotate it with the clients, so no rotation Lambda.
  name        = "${var.name}/api-key"
  description = "API key the ${var.name} service accepts; the value is set outside Terraform."
  kms_key_id  = var.secrets_kms_key_arn

  tags = var.tags
}

################################################################################
# Task definition
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The only writable path: gunicorn's worker heartbeat files and temp uploads.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = var.container_image
      essential              = true
      user                   = var.container_user
      readonlyRootFilesystem = true
      privileged             = false
      portMappings = [{
        containerPort = var.container_port
        protocol      = "tcp"
      }]
      environment = [for key in sort(keys(var.container_environment)) : { name = key, value = var.container_environment[key] }]
      secrets = [{
        name      = var.api_key_secret_env_name
        valueFrom = aws_secretsmanager_secret.api_key.arn
      }]
      mountPoints = [{
        sourceVolume  = "tmp"
        containerPath = "/tmp"
        readOnly      = false
      }]
      linuxParameters = {
        initProcessEnabled = true
        capabilities       = { drop = ["ALL"] }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = var.log_group_name
          "awslogs-region"        = local.region
          "awslogs-stream-prefix" = local.container_name
        }
      }
    }
  ])

  tags = var.tags
}

################################################################################
# Service
################################################################################

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false
  health_check_grace_period_seconds  = 60
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = var.container_port
  }

  # Autoscaling owns the task count after the first apply.
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags

  depends_on = [aws_lb_listener.https]
}
