################################################################################
# Ingestion queue
################################################################################

output "queue_arn" {
  description = "ARN of the ingestion queue. Available once the queue's policy admits the raw bucket, so the bucket's notification (modules/s3_data_zones) can be put."
  value       = aws_sqs_queue.this.arn

  depends_on = [aws_sqs_queue_policy.this]
}

output "queue_url" {
  description = "URL of the ingestion queue."
  value       = aws_sqs_queue.this.id
}

output "dead_letter_queue_arn" {
  description = "ARN of the ingestion dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_url" {
  description = "URL of the ingestion dead-letter queue."
  value       = aws_sqs_queue.dead_letter.id
}

output "queue_kms_key_arn" {
  description = "ARN of the KMS key that encrypts both queues."
  value       = aws_kms_key.queues.arn
}

output "landing_notification" {
  description = "The raw bucket's notification to the ingestion queue (the s3_data_zones input raw_queue_notifications): object-created events under the knowledge landing prefix."
  value = {
    id            = "knowledge-ingest"
    queue_arn     = aws_sqs_queue.this.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.knowledge_spec.queue.landing_prefix
    filter_suffix = ".json"
  }

  depends_on = [aws_sqs_queue_policy.this]
}

################################################################################
# Worker
################################################################################

output "worker_service_name" {
  description = "Name of the worker's ECS service."
  value       = aws_ecs_service.worker.name
}

output "worker_role_arn" {
  description = "ARN of the worker's task role (a pipeline role the raw zone protects from deletes and overwrites)."
  value       = aws_iam_role.worker.arn
}

output "worker_execution_role_arn" {
  description = "ARN of the worker's execution role (it pulls the platform image: an ECR pull principal)."
  value       = aws_iam_role.worker_execution.arn
}

output "worker_log_group_name" {
  description = "Name of the worker's log group."
  value       = aws_cloudwatch_log_group.worker.name
}

output "worker_security_group_id" {
  description = "ID of the worker tasks' security group."
  value       = aws_security_group.worker.id
}

################################################################################
# Guardrail
################################################################################

output "guardrail_arn" {
  description = "ARN of the Bedrock Guardrail."
  value       = aws_bedrock_guardrail.this.guardrail_arn
}

output "guardrail_id" {
  description = "ID of the Bedrock Guardrail."
  value       = aws_bedrock_guardrail.this.guardrail_id
}

output "guardrail_version" {
  description = "The guardrail version the service applies (a number, never DRAFT)."
  value       = aws_bedrock_guardrail_version.this.version
}

################################################################################
# Answering
################################################################################

output "service_environment" {
  description = "Environment variables the inference service needs for the Converse answerer (the guardrail and its version), named as knowledge.yaml's service_environment says: merge into the ecs_service input container_environment."
  value       = local.service_environment
}

################################################################################
# Vector store (optional)
################################################################################

output "vector_bucket_arn" {
  description = "ARN of the S3 Vectors bucket (null where vector_store_enabled is false)."
  value       = try(aws_s3vectors_vector_bucket.this[0].vector_bucket_arn, null)
}

output "vector_index_arns" {
  description = "ARN of each knowledge base's S3 Vectors index, keyed by knowledge base (empty where vector_store_enabled is false)."
  value       = { for kb, index in aws_s3vectors_index.this : kb => index.index_arn }
}
