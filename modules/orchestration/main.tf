# The closed loop on AWS: per dataset, a retrain state machine (ETL on the raw zone, a training job,
# registration through the gate) and a drift state machine (a drift monitoring job that publishes DriftScore),
# on AWS Step Functions; their definitions are the ASL templates prodml also renders for the emulator (spec.tf).
# Schedules and the dataset's drift alarm start them (schedules.tf). Every job is a SageMaker Processing job
# running the platform image, whose URI the deploy workflow keeps in an SSM parameter created here. Never
# deploys a model: registration goes through the gate, and the service picks up the champion by its registry poll.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id          = data.aws_caller_identity.current.account_id
  partition           = data.aws_partition.current.partition
  region              = data.aws_region.current.region
  processing_role_arn = aws_iam_role.processing.arn
}

################################################################################
# State machines
################################################################################

resource "aws_cloudwatch_log_group" "state_machines" {
  name              = var.log_group_name
  retention_in_days = var.log_group_retention_in_days
  kms_key_id        = var.log_group_kms_key_arn

  tags = merge(var.tags, { Purpose = "orchestration" })
}

resource "aws_sfn_state_machine" "this" {
  for_each = local.state_machines

  name       = each.value.name
  type       = "STANDARD"
  role_arn   = aws_iam_role.state_machine[each.value.dataset].arn
  definition = each.value.definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machines.arn}:*"
    include_execution_data = true
    level                  = var.logging_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  lifecycle {
    # A variable added to orchestration.yaml must be given a value here too (and one removed, no longer).
    precondition {
      condition     = sort(keys(local.template_variables[each.value.dataset])) == sort(var.orchestration_spec.variables)
      error_message = "the template variables Terraform gives differ from orchestration.yaml's variables list."
    }
  }

  tags = merge(var.tags, { Dataset = each.value.dataset, Kind = each.value.kind })

  depends_on = [aws_iam_role_policy.state_machine]
}

################################################################################
# Platform image parameter
################################################################################

# Terraform creates the parameter; the deploy workflow writes the image it pushed (by digest) after each deploy
# (scripts/ecr_image.sh publish), and `prodml image record` does the same on the emulator.
resource "aws_ssm_parameter" "image" {
  #checkov:skip=CKV2_AWS_34:An image URI is not a secret (the task definition shows it); SecureString would make every state machine decrypt it.
  name        = var.image_parameter_name
  description = "The platform image (ECR URI by digest) the processing jobs run; written by the deploy workflow."
  type        = "String"
  tier        = "Standard"
  # Only an image pinned by digest (or the placeholder before the first deploy) can be written.
  allowed_pattern = "^(unpublished|[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com[.a-z]*/[a-z0-9._/-]+@sha256:[0-9a-f]{64})$"
  value           = "unpublished"

  lifecycle {
    ignore_changes = [value]
  }

  tags = var.tags
}
