################################################################################
# Dashboard
################################################################################

locals {
  load_balancer_metric = ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.load_balancer_arn_suffix]

  # The knowledge answers (knowledge.yaml's metrics, by knowledge base): where the time goes (retrieval against
  # generation), and what they consume (tokens) and cost, per hour as the cost alarm sums it. A for expression over
  # zero or one spec, not a conditional: the two branches would be tuples of different types.
  knowledge_widgets = flatten([for spec in var.knowledge_spec == null ? [] : [var.knowledge_spec] : [
    {
      type = "metric", x = 0, y = 18, width = 12, height = 6
      properties = {
        title  = "Knowledge answers: retrieval vs generation latency p95 (ms)"
        region = local.region
        period = 300
        metrics = [for id, metric in { retrieval = spec.metrics.names.retrieval_latency, generation = spec.metrics.names.generation_latency } :
          [{ expression = "SEARCH('{${spec.metrics.namespace},${join(",", spec.metrics.dimensions)}} MetricName=\"${metric}\"', 'p95', 300)", id = id }]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 18, width = 12, height = 6
      properties = {
        title  = "Knowledge answers: tokens and estimated cost (USD) per hour"
        region = local.region
        period = spec.cost_alarm.period_seconds
        metrics = [for id, metric in { input_tokens = spec.metrics.names.input_tokens, output_tokens = spec.metrics.names.output_tokens, cost = spec.metrics.names.cost } :
          [{ expression = "SEARCH('{${spec.metrics.namespace},${join(",", spec.metrics.dimensions)}} MetricName=\"${metric}\"', '${spec.cost_alarm.statistic}', ${spec.cost_alarm.period_seconds})", id = id, yAxis = id == "cost" ? "right" : "left" }]
        ]
        annotations = { horizontal = [{ label = "cost alarm", value = local.knowledge_cost_threshold, yAxis = "right" }] }
      }
    },
  ]])
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name

  dashboard_body = jsonencode({
    widgets = concat([
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Requests and 5xx"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            local.load_balancer_metric,
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.load_balancer_arn_suffix],
            ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.load_balancer_arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Latency p50 / p95 (s, ALB)"
          region = local.region
          period = 300
          metrics = [
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.load_balancer_arn_suffix, { stat = "p50" }],
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.load_balancer_arn_suffix, { stat = "p95" }],
          ]
          annotations = { horizontal = [{ label = "p95 alarm", value = var.alarm_latency_p95_threshold_ms / 1000 }] }
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Model latency p95 (ms) and errors by variant (app EMF)"
          region = local.region
          period = 300
          metrics = [
            [{ expression = "SEARCH('{prodml/inference,Service,ModelVariant} MetricName=\"Latency\"', 'p95', 300)", id = "latency" }],
            [{ expression = "SEARCH('{prodml/inference,Service,ModelVariant} MetricName=\"Errors\"', 'Sum', 300)", id = "errors" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Service CPU and memory (%)"
          region = local.region
          stat   = "Average"
          period = 300
          metrics = [
            ["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name],
            ["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", var.ecs_service_name],
          ]
          annotations = { horizontal = [{ label = "alarm", value = var.alarm_utilization_threshold_percent }] }
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Healthy and unhealthy tasks"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", var.target_group_arn_suffix, "LoadBalancer", var.load_balancer_arn_suffix],
            ["AWS/ApplicationELB", "UnHealthyHostCount", "TargetGroup", var.target_group_arn_suffix, "LoadBalancer", var.load_balancer_arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Drift score by dataset and failed training jobs"
          region = local.region
          period = var.monitoring_spec.alarm.period_seconds
          metrics = [
            [{ expression = "SEARCH('{${var.monitoring_spec.metric.namespace},${join(",", var.monitoring_spec.metric.dimensions)}} MetricName=\"${var.monitoring_spec.metric.name}\"', '${var.monitoring_spec.alarm.statistic}', ${var.monitoring_spec.alarm.period_seconds})", id = "drift" }],
            ["AWS/Events", "TriggeredRules", "RuleName", var.training_failure_rule_name, { stat = "Sum" }],
          ]
          annotations = { horizontal = [{ label = "drift alarm", value = local.drift_threshold }] }
        }
      },
    ], local.knowledge_widgets)
  })
}
