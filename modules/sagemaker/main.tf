# SageMaker training support: the execution role, one model package group per dataset, and a rule that
# turns a failed training job into an alert.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
}

################################################################################
# Model registry
################################################################################

resource "aws_sagemaker_model_package_group" "this" {
  for_each = var.model_package_group_names

  model_package_group_name        = each.value
  model_package_group_description = "Versions of the ${each.key} model; the approved latest is the champion."

  tags = merge(var.tags, { Dataset = each.key })
}

################################################################################
# Failure events
################################################################################

resource "aws_cloudwatch_event_rule" "training_failed" {
  name        = "${var.name}-failed"
  description = "A SageMaker training job whose name starts with ${var.job_name_prefix} failed."

  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Training Job State Change"]
    detail = {
      TrainingJobStatus = ["Failed"]
      TrainingJobName   = [{ prefix = var.job_name_prefix }]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "training_failed" {
  rule      = aws_cloudwatch_event_rule.training_failed.name
  target_id = "alerts-topic"
  arn       = var.failure_topic_arn

  input_transformer {
    input_paths = {
      job    = "$.detail.TrainingJobName"
      reason = "$.detail.FailureReason"
    }
    input_template = "\"SageMaker training job <job> failed: <reason>\""
  }
}
