################################################################################
# Alarms
################################################################################

locals {
  alarm_actions = [aws_sns_topic.alerts.arn]

  service_dimensions = {
    ClusterName = var.ecs_cluster_name
    ServiceName = var.ecs_service_name
  }

  utilization_alarms = {
    cpu    = "CPUUtilization"
    memory = "MemoryUtilization"
  }
}

resource "aws_cloudwatch_metric_alarm" "latency_p95" {
  alarm_name          = "${var.name}-inference-latency-p95"
  alarm_description   = "p95 response time of the inference service is above ${var.alarm_latency_p95_threshold_ms} ms."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_latency_p95_threshold_ms / 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dimensions = {
    LoadBalancer = var.load_balancer_arn_suffix
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "error_rate_5xx" {
  alarm_name          = "${var.name}-inference-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_rate_threshold_percent}% of inference requests answered 5xx."
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_rate_threshold_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / FILL(requests, 1)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "target5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 300
      stat        = "Sum"
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  metric_query {
    id = "elb5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      period      = 300
      stat        = "Sum"
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 300
      stat        = "Sum"
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "utilization" {
  for_each = local.utilization_alarms

  alarm_name          = "${var.name}-inference-${each.key}-high"
  alarm_description   = "Inference service ${each.key} utilisation is above ${var.alarm_utilization_threshold_percent}%."
  namespace           = "AWS/ECS"
  metric_name         = each.value
  statistic           = "Average"
  period              = 300
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_utilization_threshold_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  dimensions          = local.service_dimensions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-inference-unhealthy-hosts"
  alarm_description   = "At least one inference task fails its /ready health check."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dimensions = {
    LoadBalancer = var.load_balancer_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }

  tags = var.tags
}

# The EventBridge rule's own match count: one failed training job is enough to alert.
resource "aws_cloudwatch_metric_alarm" "training_failed" {
  alarm_name          = "${var.name}-training-job-failed"
  alarm_description   = "A SageMaker training job failed (EventBridge rule ${var.training_failure_rule_name} matched)."
  namespace           = "AWS/Events"
  metric_name         = "TriggeredRules"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions

  dimensions = {
    RuleName = var.training_failure_rule_name
  }

  tags = var.tags
}

# One a dataset, on its overall DriftScore; settings from monitoring.yaml (spec.tf). Its change to ALARM is
# what modules/orchestration's rule starts retraining on.
resource "aws_cloudwatch_metric_alarm" "drift" {
  for_each = local.drift_alarms

  alarm_name          = each.value.alarm_name
  alarm_description   = "${each.key}: the drift job's ${each.value.metric_name} (largest feature statistic over its contract threshold) of live traffic against the serving model's training baseline reached ${each.value.threshold}."
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Dataset = each.key })
}

# One a knowledge base: its answers' estimated Bedrock cost (the contract's price table) over the last hour, so a
# runaway bill is found within the hour. Settings from knowledge.yaml (spec.tf).
resource "aws_cloudwatch_metric_alarm" "knowledge_cost" {
  for_each = local.knowledge_cost_alarms

  alarm_name          = each.value.alarm_name
  alarm_description   = "${each.key}: the knowledge answers' estimated Bedrock cost (${each.value.metric_name}, USD) over ${each.value.period} s exceeded ${each.value.threshold}."
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { KnowledgeBase = each.key })
}
