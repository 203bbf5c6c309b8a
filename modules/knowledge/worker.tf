################################################################################
# Worker
################################################################################

# `prodml kb worker` in the platform image, as an ECS service on the inference cluster: it long-polls the queue,
# dead-letters what can never succeed, and builds the index version once the queue is drained. An ECS task, not a
# Lambda: the platform image is the one the service and the processing jobs run (no second image to build, and no
# Lambda package limit for its dependencies), and an index build is not bounded by Lambda's 15 minutes. It costs
# nothing while the queue is empty: the service scales to zero (below) and back to max_tasks on a backlog.

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/${var.worker_name}"
  retention_in_days = var.log_group_retention_in_days
  kms_key_id        = var.log_group_kms_key_arn

  tags = merge(var.tags, { Purpose = "knowledge-worker" })
}

resource "aws_security_group" "worker" {
  name        = var.worker_name
  description = "The ${var.worker_name} tasks: no inbound; HTTPS out to AWS APIs"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = var.worker_name })
}

# SQS, S3, Bedrock, ECR and Logs over HTTPS, through the VPC endpoints or the NAT gateway.
resource "aws_vpc_security_group_egress_rule" "worker_https" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_ecs_task_definition" "worker" {
  family                   = var.worker_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.knowledge_spec.worker.cpu
  memory                   = var.knowledge_spec.worker.memory
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker.arn
  # As the service's: a rollback redeploys the previous revision, which must still exist.
  skip_destroy = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = local.worker_container_name
      image                  = var.container_image
      essential              = true
      command                = var.knowledge_spec.worker.command
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      privileged             = false
      # SIGTERM (a scale-in or a deployment) lets the worker finish its batch before it stops.
      stopTimeout = var.knowledge_spec.worker.stop_timeout_seconds
      environment = [for key, value in {
        PRODML_PROJECT = var.worker_settings.project
        PRODML_ENV     = var.worker_settings.env
        PRODML_REGION  = var.worker_settings.region
      } : { name = key, value = value }]
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
          "awslogs-group"         = aws_cloudwatch_log_group.worker.name
          "awslogs-region"        = local.region
          "awslogs-stream-prefix" = local.worker_container_name
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_ecs_service" "worker" {
  name             = var.worker_name
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = 0
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"
  # One task's batch is finished (SIGTERM) before its replacement starts: never two index builds at once from
  # a deployment.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }

  # The queue's backlog owns the task count (autoscaling below).
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

################################################################################
# Scaling on the queue
################################################################################

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.worker.name}"
  min_capacity       = 0
  max_capacity       = var.knowledge_spec.worker.max_tasks

  tags = var.tags
}

# A backlog starts every task at once (max_tasks; one by default).
resource "aws_appautoscaling_policy" "worker_backlog" {
  name               = "${var.worker_name}-backlog"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = var.knowledge_spec.worker.max_tasks
    }
  }
}

# An empty queue (nothing visible, nothing in flight) for idle_minutes stops every task: the worker has built the
# index by then (it builds as soon as the queue drains).
resource "aws_appautoscaling_policy" "worker_idle" {
  name               = "${var.worker_name}-idle"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension
  resource_id        = aws_appautoscaling_target.worker.resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = 0
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_backlog" {
  alarm_name          = "${var.worker_name}-backlog"
  alarm_description   = "Documents are waiting in ${var.queue_name}: start the knowledge worker."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_backlog.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_idle" {
  alarm_name          = "${var.worker_name}-idle"
  alarm_description   = "${var.queue_name} has been empty for ${var.knowledge_spec.worker.idle_minutes} minutes: stop the knowledge worker."
  evaluation_periods  = var.knowledge_spec.worker.idle_minutes
  datapoints_to_alarm = var.knowledge_spec.worker.idle_minutes
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  # No datapoints: an idle queue SQS stopped reporting on is empty too.
  treat_missing_data = "breaching"
  alarm_actions      = [aws_appautoscaling_policy.worker_idle.arn]

  metric_query {
    id          = "queued"
    expression  = "visible + in_flight"
    label       = "Messages visible or in flight"
    return_data = true
  }

  metric_query {
    id = "visible"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.this.name }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "in_flight"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = aws_sqs_queue.this.name }
      stat        = "Maximum"
      period      = 60
    }
  }

  tags = var.tags
}
