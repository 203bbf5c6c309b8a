################################################################################
# Drift alarms
################################################################################

# Each dataset's drift alarm, built from monitoring.yaml (var.monitoring_spec): the metric the drift job
# publishes (prodml.monitoring, prodml.jobs.monitoring_spec()) and the alarm on it, one per dataset. The
# dimensions are the spec's names with their values for the dataset, as MonitoringSpec.metric_dimensions
# builds them: an alarm matches only a metric with exactly these. Variables only, so tests/terraform
# evaluates this file offline.

locals {
  # The value of each dimension name monitoring.yaml may list, for one dataset.
  drift_dimension_values = { for dataset in keys(var.drift_alarm_names) : dataset => { Dataset = dataset } }

  drift_alarms = {
    for dataset, alarm_name in var.drift_alarm_names : dataset => {
      alarm_name          = alarm_name
      namespace           = var.monitoring_spec.metric.namespace
      metric_name         = var.monitoring_spec.metric.name
      dimensions          = { for name in var.monitoring_spec.metric.dimensions : name => local.drift_dimension_values[dataset][name] }
      statistic           = var.monitoring_spec.alarm.statistic
      period              = var.monitoring_spec.alarm.period_seconds
      evaluation_periods  = var.monitoring_spec.alarm.evaluation_periods
      comparison_operator = var.monitoring_spec.alarm.comparison_operator
      threshold           = coalesce(var.alarm_drift_score_threshold, var.monitoring_spec.alarm.threshold)
      treat_missing_data  = var.monitoring_spec.alarm.treat_missing_data
    }
  }

  drift_threshold = coalesce(var.alarm_drift_score_threshold, var.monitoring_spec.alarm.threshold)
}

################################################################################
# Knowledge cost alarms
################################################################################

# Each knowledge base's cost alarm, built from src/prodml/jobs/knowledge.yaml (var.knowledge_spec): the Sum over an
# hour of the EstimatedCost the service publishes with each answer (EMF), for that knowledge base. Variables only,
# so tests/terraform evaluates this file offline.

locals {
  knowledge_cost_threshold = var.knowledge_spec == null ? null : coalesce(var.alarm_knowledge_cost_threshold_usd, var.knowledge_spec.cost_alarm.threshold)

  knowledge_cost_alarms = {
    for kb in(var.knowledge_spec == null ? [] : var.knowledge_bases) : kb => {
      alarm_name          = "${var.name}-${replace(kb, "_", "-")}-knowledge-cost"
      namespace           = var.knowledge_spec.metrics.namespace
      metric_name         = var.knowledge_spec.metrics.names.cost
      dimensions          = { for name in var.knowledge_spec.metrics.dimensions : name => { KnowledgeBase = kb }[name] }
      statistic           = var.knowledge_spec.cost_alarm.statistic
      period              = var.knowledge_spec.cost_alarm.period_seconds
      evaluation_periods  = var.knowledge_spec.cost_alarm.evaluation_periods
      comparison_operator = var.knowledge_spec.cost_alarm.comparison_operator
      threshold           = local.knowledge_cost_threshold
      treat_missing_data  = var.knowledge_spec.cost_alarm.treat_missing_data
    }
  }
}
