################################################################################
# Naming
################################################################################

output "name_prefix" {
  description = "`{project}-{env}`, the prefix of every name."
  value       = local.names.name_prefix
}

output "bucket_names" {
  description = "Data-zone bucket names keyed by zone (raw, processed, curated, artifacts, capture)."
  value       = local.names.bucket_names
}

output "access_log_bucket_name" {
  description = "Name of the bucket that receives S3 server access logs."
  value       = local.names.access_log_bucket_name
}

output "glue_database_name" {
  description = "Glue Data Catalog database name (underscores, for Athena)."
  value       = local.names.glue_database_name
}

output "glue_job_names" {
  description = "Glue ETL job names keyed by dataset."
  value       = local.names.glue_job_names
}

output "ecr_repository_name" {
  description = "ECR repository name of the inference image."
  value       = local.names.ecr_repository_name
}

output "log_group_names" {
  description = "CloudWatch log group names keyed by purpose (etl, training, inference)."
  value       = local.names.log_group_names
}

output "model_package_group_names" {
  description = "SageMaker model package group names keyed by dataset."
  value       = local.names.model_package_group_names
}

output "image_parameter_name" {
  description = "Name of the SSM parameter holding the platform image URI that processing jobs run."
  value       = local.names.image_parameter_name
}

output "job_name_prefixes" {
  description = "Prefix of each dataset's processing and training job names (`{project}-{env}-{dataset slug}`), keyed by dataset."
  value       = local.names.job_name_prefixes
}

output "state_machine_names" {
  description = "Step Functions state machine names keyed by dataset, then by kind (retrain, drift)."
  value       = local.names.state_machine_names
}

output "drift_alarm_names" {
  description = "Names of the alarms on each dataset's overall DriftScore, keyed by dataset."
  value       = local.names.drift_alarm_names
}

output "processing_role_name" {
  description = "Name of the execution role of the SageMaker Processing jobs."
  value       = local.names.processing_role_name
}

output "inference_service_name" {
  description = "Name of the inference ECS cluster, service and load balancer."
  value       = local.names.inference_service_name
}

output "alerts_topic_name" {
  description = "Name of the SNS topic that alarms and failure events publish to."
  value       = local.names.alerts_topic_name
}

output "training_name" {
  description = "Name prefix of the SageMaker training role and failure rule."
  value       = local.names.training_name
}

output "orchestration_log_group_name" {
  description = "Name of the log group of the Step Functions state machines' executions."
  value       = local.names.orchestration_log_group_name
}

output "network_name" {
  description = "Name of the VPC and the prefix of its subnets and endpoints."
  value       = local.names.network_name
}

output "knowledge_queue_name" {
  description = "Name of the SQS queue the raw bucket's knowledge landing events go to (the ingestion worker consumes it)."
  value       = local.names.knowledge_queue_name
}

output "knowledge_dead_letter_queue_name" {
  description = "Name of the knowledge ingestion dead-letter queue (documents that cannot be ingested, with their reason)."
  value       = local.names.knowledge_dead_letter_queue_name
}

output "knowledge_worker_name" {
  description = "Name of the knowledge ingestion worker's ECS service, task definition, roles and log group."
  value       = local.names.knowledge_worker_name
}

output "knowledge_guardrail_name" {
  description = "Name of the Bedrock Guardrail the knowledge answerer applies."
  value       = local.names.knowledge_guardrail_name
}

output "knowledge_vector_bucket_name" {
  description = "Name of the optional S3 Vectors bucket of the knowledge indexes."
  value       = local.names.knowledge_vector_bucket_name
}
