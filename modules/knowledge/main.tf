# The knowledge layer on AWS (prodml.knowledge): the ingestion queue the raw bucket's landing events go to and its
# dead-letter queue, the worker that turns landed documents into an index version (an ECS Fargate service on the
# inference cluster, scaled to zero when the queue is empty), the Bedrock Guardrail the answerer applies, the
# inference service's own knowledge grants, and an optional managed vector store. Never promotes an index (only
# the evaluation gate moves CURRENT) and never writes the raw zone. Each role gets only its own grants; the models
# any role may invoke are exactly the knowledge contracts' (spec.tf), by foundation-model ARN.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id        = data.aws_caller_identity.current.account_id
  partition         = data.aws_partition.current.partition
  region            = data.aws_region.current.region
  queue_key_arn     = aws_kms_key.queues.arn
  vector_key_arn    = try(aws_kms_key.vectors[0].arn, "")
  guardrail_arn     = aws_bedrock_guardrail.this.guardrail_arn
  guardrail_version = aws_bedrock_guardrail_version.this.version
}

################################################################################
# Ingestion queue
################################################################################

# S3 sends the landing events encrypted, so the queues use a key of their own whose policy admits S3 for the raw
# bucket only (the data key's policy stays as it is).
resource "aws_kms_key" "queues" {
  description             = "Encrypts the ${var.name} knowledge ingestion queues"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = jsonencode(local.queue_key_policy)

  tags = merge(var.tags, { Purpose = "knowledge-queues" })
}

resource "aws_sqs_queue" "dead_letter" {
  name                              = var.dead_letter_queue_name
  message_retention_seconds         = var.knowledge_spec.queue.dead_letter_message_retention_seconds
  kms_master_key_id                 = aws_kms_key.queues.arn
  kms_data_key_reuse_period_seconds = 3600

  tags = var.tags
}

resource "aws_sqs_queue" "this" {
  name = var.queue_name
  # The worker holds a message while it normalises, chunks and embeds one document (prodml.knowledge.worker).
  visibility_timeout_seconds        = var.knowledge_spec.queue.visibility_timeout_seconds
  receive_wait_time_seconds         = var.knowledge_spec.queue.receive_wait_seconds
  message_retention_seconds         = var.knowledge_spec.queue.message_retention_seconds
  kms_master_key_id                 = aws_kms_key.queues.arn
  kms_data_key_reuse_period_seconds = 3600

  # A message that keeps failing (throttled embeddings, say) is moved aside after max_receive_count receives.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.knowledge_spec.queue.max_receive_count
  })

  tags = var.tags
}

# Only the dead-letter queue's own source queue may redrive into it.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = jsonencode(local.queue_policy)
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = jsonencode(local.dead_letter_queue_policy)
}
