################################################################################
# Encryption
################################################################################

variable "name" {
  description = "Name prefix (`{project}-{env}`) of the KMS key alias, alarms and dashboard."
  type        = string
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the logs-and-alerts KMS key is deleted, in days (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

################################################################################
# Log groups
################################################################################

variable "log_group_names" {
  description = "Log group names keyed by purpose (etl, training, inference); use modules/naming."
  type        = map(string)

  validation {
    condition     = alltrue([for name in values(var.log_group_names) : startswith(name, "/")])
    error_message = "log_group_names values must start with '/', e.g. /prodml-dev-inference."
  }
}

variable "log_group_retention_in_days" {
  description = "Days to keep application logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_group_retention_in_days)
    error_message = "log_group_retention_in_days must be one of: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# Alerts topic
################################################################################

variable "alerts_topic_name" {
  description = "Name of the SNS topic alarms and failure events publish to (use modules/naming)."
  type        = string
}

variable "alerts_email_addresses" {
  description = "Email addresses subscribed to the alerts topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alerts_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+$", address))])
    error_message = "alerts_email_addresses must be email addresses."
  }
}

################################################################################
# Alarms
################################################################################

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the inference ALB (CloudWatch LoadBalancer dimension)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the inference target group (CloudWatch TargetGroup dimension)."
  type        = string
}

variable "ecs_cluster_name" {
  description = "Name of the inference ECS cluster."
  type        = string
}

variable "ecs_service_name" {
  description = "Name of the inference ECS service."
  type        = string
}

variable "training_failure_rule_name" {
  description = "Name of the EventBridge rule that matches failed SageMaker training jobs."
  type        = string
}

variable "alarm_evaluation_periods" {
  description = "Consecutive 5-minute periods a threshold must be breached before an alarm fires."
  type        = number
  default     = 3

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 24
    error_message = "alarm_evaluation_periods must be between 1 and 24."
  }
}

variable "alarm_latency_p95_threshold_ms" {
  description = "p95 target response time, in milliseconds, above which the latency alarm fires."
  type        = number
  default     = 500

  validation {
    condition     = var.alarm_latency_p95_threshold_ms > 0
    error_message = "alarm_latency_p95_threshold_ms must be positive."
  }
}

variable "alarm_5xx_rate_threshold_percent" {
  description = "Share of requests, in percent, answered with a 5xx above which the error-rate alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_5xx_rate_threshold_percent > 0 && var.alarm_5xx_rate_threshold_percent <= 100
    error_message = "alarm_5xx_rate_threshold_percent must be in (0, 100]."
  }
}

variable "alarm_utilization_threshold_percent" {
  description = "ECS service CPU and memory utilisation, in percent, above which those alarms fire."
  type        = number
  default     = 80

  validation {
    condition     = var.alarm_utilization_threshold_percent > 0 && var.alarm_utilization_threshold_percent <= 100
    error_message = "alarm_utilization_threshold_percent must be in (0, 100]."
  }
}

################################################################################
# Drift alarms
################################################################################

variable "drift_alarm_names" {
  description = "Name of each dataset's drift alarm, keyed by dataset (modules/naming drift_alarm_names): one alarm a dataset."
  type        = map(string)
}

variable "monitoring_spec" {
  description = "The drift metric and its alarm: src/prodml/jobs/monitoring.yaml, yamldecode()d (prodml.jobs.monitoring_spec() reads the same file)."
  type = object({
    kind = string
    metric = object({
      namespace         = string
      name              = string
      dimensions        = list(string)
      feature_dimension = string
    })
    alarm = object({
      statistic           = string
      period_seconds      = number
      evaluation_periods  = number
      comparison_operator = string
      threshold           = number
      treat_missing_data  = string
    })
    window_hours = number
  })

  validation {
    condition     = alltrue([for name in var.monitoring_spec.metric.dimensions : contains(["Dataset"], name)])
    error_message = "monitoring_spec.metric.dimensions may list only: Dataset (the values the module knows for a dataset's alarm)."
  }

  validation {
    condition     = contains(["SampleCount", "Average", "Sum", "Minimum", "Maximum"], var.monitoring_spec.alarm.statistic)
    error_message = "monitoring_spec.alarm.statistic must be one of: SampleCount, Average, Sum, Minimum, Maximum."
  }

  validation {
    condition     = contains(["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"], var.monitoring_spec.alarm.comparison_operator)
    error_message = "monitoring_spec.alarm.comparison_operator must be one of: GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold."
  }

  validation {
    condition     = contains(["breaching", "notBreaching", "ignore", "missing"], var.monitoring_spec.alarm.treat_missing_data)
    error_message = "monitoring_spec.alarm.treat_missing_data must be one of: breaching, notBreaching, ignore, missing."
  }

  validation {
    condition     = var.monitoring_spec.alarm.period_seconds >= 60 && var.monitoring_spec.alarm.period_seconds % 60 == 0 && var.monitoring_spec.alarm.evaluation_periods >= 1
    error_message = "monitoring_spec.alarm.period_seconds must be a multiple of 60 (at least 60), and evaluation_periods at least 1."
  }
}

variable "alarm_drift_score_threshold" {
  description = "Overrides monitoring.yaml's DriftScore alarm threshold (1.0: a statistic at its contract threshold); null keeps the spec's."
  type        = number
  default     = null

  validation {
    condition     = var.alarm_drift_score_threshold == null || try(var.alarm_drift_score_threshold > 0, false)
    error_message = "alarm_drift_score_threshold must be positive, or null for monitoring.yaml's threshold."
  }
}

################################################################################
# Knowledge cost alarms
################################################################################

variable "knowledge_spec" {
  description = "The knowledge answers' metrics and their cost alarm: src/prodml/jobs/knowledge.yaml, yamldecode()d (prodml reads the same file). Null: no knowledge alarms or widgets."
  type = object({
    kind = string
    metrics = object({
      namespace       = string
      dimensions      = list(string)
      model_dimension = string
      names = object({
        retrieval_latency  = string
        generation_latency = string
        input_tokens       = string
        output_tokens      = string
        cost               = string
        retrieval_score    = string
      })
    })
    cost_alarm = object({
      statistic           = string
      period_seconds      = number
      evaluation_periods  = number
      comparison_operator = string
      threshold           = number
      treat_missing_data  = string
    })
  })
  default = null

  validation {
    condition     = var.knowledge_spec == null || try(alltrue([for name in var.knowledge_spec.metrics.dimensions : contains(["KnowledgeBase"], name)]), false)
    error_message = "knowledge_spec.metrics.dimensions may list only: KnowledgeBase (the value the module knows for a knowledge base's alarm)."
  }

  validation {
    condition     = var.knowledge_spec == null || try(contains(["SampleCount", "Average", "Sum", "Minimum", "Maximum"], var.knowledge_spec.cost_alarm.statistic), false)
    error_message = "knowledge_spec.cost_alarm.statistic must be one of: SampleCount, Average, Sum, Minimum, Maximum."
  }

  validation {
    condition     = var.knowledge_spec == null || try(contains(["GreaterThanOrEqualToThreshold", "GreaterThanThreshold"], var.knowledge_spec.cost_alarm.comparison_operator) && contains(["breaching", "notBreaching", "ignore", "missing"], var.knowledge_spec.cost_alarm.treat_missing_data), false)
    error_message = "knowledge_spec.cost_alarm.comparison_operator must be one of: GreaterThanOrEqualToThreshold, GreaterThanThreshold; treat_missing_data one of: breaching, notBreaching, ignore, missing."
  }

  validation {
    condition     = var.knowledge_spec == null || try(var.knowledge_spec.cost_alarm.period_seconds >= 60 && var.knowledge_spec.cost_alarm.period_seconds % 60 == 0 && var.knowledge_spec.cost_alarm.evaluation_periods >= 1 && var.knowledge_spec.cost_alarm.threshold > 0, false)
    error_message = "knowledge_spec.cost_alarm.period_seconds must be a multiple of 60 (at least 60), evaluation_periods at least 1 and threshold positive."
  }
}

variable "knowledge_bases" {
  description = "Names of the knowledge bases (the knowledge contracts in contracts/knowledge/): each gets a cost alarm, `<name>-<kb>-knowledge-cost`."
  type        = list(string)
  default     = []
}

variable "alarm_knowledge_cost_threshold_usd" {
  description = "Overrides knowledge.yaml's cost alarm threshold: estimated USD a knowledge base's answers may cost per alarm period (an hour); null keeps the spec's."
  type        = number
  default     = null

  validation {
    condition     = var.alarm_knowledge_cost_threshold_usd == null || try(var.alarm_knowledge_cost_threshold_usd > 0, false)
    error_message = "alarm_knowledge_cost_threshold_usd must be positive, or null for knowledge.yaml's threshold."
  }
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
