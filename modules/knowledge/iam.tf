################################################################################
# Worker roles
################################################################################

resource "aws_iam_role" "worker" {
  name                 = var.worker_name
  description          = "The ${var.worker_name} task: consume the ingestion queue, read landed documents, write processed documents and index versions, embed with the contracts' models."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = jsonencode(local.ecs_tasks_trust_policy)
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "worker" {
  name   = "ingest"
  role   = aws_iam_role.worker.id
  policy = jsonencode(local.worker_policy)
}

resource "aws_iam_role" "worker_execution" {
  name                 = "${var.worker_name}-execution"
  description          = "ECS agent for ${var.worker_name}: pulls the platform image, writes the worker's logs."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = jsonencode(local.ecs_tasks_trust_policy)
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "worker_execution" {
  name   = "pull-log"
  role   = aws_iam_role.worker_execution.id
  policy = jsonencode(local.worker_execution_policy)
}

################################################################################
# Inference service grants
################################################################################

# The service's own role (modules/ecs_service) gets its knowledge grants here, beside its serving policy: no role
# is shared between the service and the worker, and neither holds the other's grants.
resource "aws_iam_role_policy" "service" {
  name   = "knowledge"
  role   = element(split("/", var.service_task_role_arn), length(split("/", var.service_task_role_arn)) - 1)
  policy = jsonencode(local.service_policy)
}
