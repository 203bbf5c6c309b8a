################################################################################
# State machine roles
################################################################################

# One per dataset: a dataset's state machines reach only its own Glue job and processing jobs.
resource "aws_iam_role" "state_machine" {
  for_each = toset(local.datasets)

  name                 = "${var.job_name_prefixes[each.key]}-states"
  description          = "Step Functions state machines of ${each.key}: run its ETL job and processing jobs."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = jsonencode(local.state_machine_trust_policy)
  max_session_duration = 3600

  tags = merge(var.tags, { Dataset = each.key })
}

resource "aws_iam_role_policy" "state_machine" {
  for_each = aws_iam_role.state_machine

  name   = "orchestration"
  role   = each.value.id
  policy = jsonencode(local.state_machine_policies[each.key])
}

################################################################################
# Processing role
################################################################################

resource "aws_iam_role" "processing" {
  name                 = var.processing_role_name
  description          = "SageMaker Processing jobs of ${var.name}: drift, batch scoring${var.retrain_enabled ? ", training and registration through the gate" : ""}."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = jsonencode(local.processing_trust_policy)
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "processing" {
  name   = "processing"
  role   = aws_iam_role.processing.id
  policy = jsonencode(local.processing_policy)
}

################################################################################
# Triggers role
################################################################################

# Assumed by EventBridge Scheduler (the schedules) and EventBridge (the drift alarm rules) to start executions.
resource "aws_iam_role" "triggers" {
  name                 = "${var.name}-orchestration-triggers"
  description          = "EventBridge schedules and drift alarm rules of ${var.name}: start the state machines."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = jsonencode(local.triggers_trust_policy)
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "triggers" {
  name   = "start-executions"
  role   = aws_iam_role.triggers.id
  policy = jsonencode(local.triggers_policy)
}
