################################################################################
# Python settings
################################################################################

# scripts/terraform.sh env writes this map as .prodml/env/<env>.env; pass that file as PRODML_ENV_FILE.
output "prodml_env" {
  description = "Environment variables for prodml's Settings (PRODML_*), written to .prodml/env/<env>.env by `make tf-env`."
  value = merge({
    PRODML_PROJECT                = var.project
    PRODML_ENV                    = var.environment
    PRODML_REGION                 = var.region
    PRODML_ECR_REPOSITORY_URL     = module.ecr.repository_url
    PRODML_SAGEMAKER_ROLE_ARN     = module.sagemaker.role_arn
    PRODML_GLUE_ROLE_ARN          = module.glue_etl.role_arn
    PRODML_DATA_KMS_KEY_ARN       = module.data_zones.kms_key_arn
    PRODML_API_KEY_SECRET_ARN     = module.inference.api_key_secret_arn
    PRODML_INFERENCE_URL          = "https://${module.inference.alb_dns_name}"
    PRODML_ALERTS_TOPIC_ARN       = module.cloudwatch.alerts_topic_arn
    PRODML_INFERENCE_CLUSTER_NAME = module.inference.cluster_name
    PRODML_INFERENCE_SERVICE_NAME = module.inference.service_name
    # What scripts/ecr_image.sh publish writes the deployed image to (the processing jobs' image).
    PRODML_IMAGE_PARAMETER_NAME = module.orchestration.image_parameter_name
    # The knowledge answerer's guardrail, as the service gets it (`prodml kb ask` on AWS applies the same one).
  }, module.knowledge.service_environment)
}

################################################################################
# Names (the same ones prodml.naming computes)
################################################################################

output "bucket_names" {
  description = "Data-zone bucket names keyed by zone."
  value       = module.data_zones.bucket_ids
}

output "glue_database_name" {
  description = "Glue Data Catalog database name."
  value       = module.glue_etl.database_name
}

output "glue_job_names" {
  description = "Glue ETL job names keyed by dataset."
  value       = module.glue_etl.job_names
}

output "ecr_repository_url" {
  description = "URL to push the inference image to."
  value       = module.ecr.repository_url
}

output "model_package_group_names" {
  description = "Model package group names keyed by dataset."
  value       = module.sagemaker.model_package_group_names
}

output "state_machine_arns" {
  description = "Step Functions state machine ARNs keyed by dataset, then by kind (retrain, drift)."
  value       = module.orchestration.state_machine_arns
}

output "log_group_names" {
  description = "Log group names keyed by purpose."
  value       = module.cloudwatch.log_group_names
}

################################################################################
# Operations
################################################################################

output "inference_alb_dns_name" {
  description = "DNS name of the inference load balancer; point the certificate's domain at it."
  value       = module.inference.alb_dns_name
}

output "knowledge_worker_service_name" {
  description = "ECS service of the knowledge ingestion worker (scaled between 0 and knowledge.yaml's max_tasks on the queue's backlog)."
  value       = module.knowledge.worker_service_name
}

output "knowledge_guardrail_arn" {
  description = "ARN of the Bedrock Guardrail the knowledge answerer applies (its version is in prodml_env)."
  value       = module.knowledge.guardrail_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.cloudwatch.dashboard_name
}

################################################################################
# Deployment access (GitHub Actions)
################################################################################

output "github_deploy_role_arn" {
  description = "Deploy role of this environment: the GitHub environment variable AWS_DEPLOY_ROLE_ARN of the environment of the same name."
  value       = module.github_oidc.deploy_role_arn
}

output "github_plan_role_arn" {
  description = "Read-only plan role for pull requests (null where github_plan_role_enabled is false)."
  value       = module.github_oidc.plan_role_arn
}
