################################################################################
# Training dashboard
################################################################################

# The model-quality metrics every training job prints, scraped by the MetricDefinitions of the training spec:
# one widget per metric with a line per split and job, so a regression between runs shows at a glance.
resource "aws_cloudwatch_dashboard" "training" {
  dashboard_name = var.name

  dashboard_body = jsonencode({
    widgets = [
      for index, metric in keys(local.training_dashboard_metrics) : {
        type   = "metric"
        x      = (index % 3) * 8
        y      = floor(index / 3) * 6
        width  = 8
        height = 6
        properties = {
          title  = "Training ${metric} (${join(", ", var.training_spec.metric_splits)}), by job"
          region = local.region
          period = 300
          stat   = "Maximum"
          view   = "timeSeries"
          metrics = [
            for position, definition in local.training_dashboard_metrics[metric] : [{
              id         = "m${position}"
              expression = "SEARCH('{/aws/sagemaker/TrainingJobs,Host} MetricName=\"${definition}\" ${local.training_host_search_terms}', 'Maximum', 300)"
            }]
          ]
        }
      }
    ]
  })
}
