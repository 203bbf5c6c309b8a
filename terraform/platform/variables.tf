################################################################################
# Naming
################################################################################

variable "project" {
  description = "Project segment of every name; the env file exports it as PRODML_PROJECT."
  type        = string
  default     = "prodml"
}

variable "environment" {
  description = "Environment segment of every name; the env file exports it as PRODML_ENV. One of: dev, staging, prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region; the env file exports it as PRODML_REGION."
  type        = string
}

variable "datasets" {
  description = "Datasets (contract names) that get an ETL job and a model package group."
  type        = list(string)
  default     = ["customer_churn"]
}

################################################################################
# Network
################################################################################

variable "existing_network" {
  description = "Run in an existing VPC instead of creating one: its ID and at least two private and two public subnet IDs. Null creates the VPC."
  type = object({
    vpc_id             = string
    private_subnet_ids = list(string)
    public_subnet_ids  = list(string)
  })
  default = null
}

variable "azs" {
  description = "Availability zones for the subnets (at least two)."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per AZ."
  type        = bool
}

################################################################################
# Data zones
################################################################################

variable "force_destroy" {
  description = "Let `make destroy` delete buckets and the image repository while they still hold data."
  type        = bool
  default     = false
}

################################################################################
# ETL
################################################################################

variable "etl_schedule_enabled" {
  description = "Whether the ETL schedule (the spec's, src/prodml/jobs/etl.yaml) is active."
  type        = bool
}

variable "code_release" {
  description = "Release of the code the Glue jobs are created pointing at (code/releases/<release>/ in the artifacts bucket). Jobs cannot run until `prodml ship` has uploaded a release and repointed them; Terraform then leaves those locations alone."
  type        = string
  default     = "unshipped"
}

################################################################################
# Orchestration (the closed loop: drift monitoring and retraining)
################################################################################

variable "orchestration_schedules_enabled" {
  description = "Whether each state machine kind's schedule (src/prodml/jobs/orchestration.yaml) is active: retrain, drift. Retraining exists only where promoted_from is empty; elsewhere its flag does nothing."
  type = object({
    retrain = bool
    drift   = bool
  })
}

################################################################################
# Inference service
################################################################################

variable "inference_image_tag" {
  description = "Immutable tag of the inference image in ECR to deploy (set by CI: TF_VAR_inference_image_tag)."
  type        = string
}

variable "inference_dataset" {
  description = "Dataset whose champion model the inference service serves (PRODML_DATASET in the task)."
  type        = string
  default     = "customer_churn"
}

variable "inference_knowledge_base" {
  description = "Knowledge base (a contracts/knowledge/ contract name) the inference service answers POST /ask from (PRODML_KNOWLEDGE_BASE in the task); null: the only one there is, or none when there are several."
  type        = string
  default     = null
}

variable "promoted_from" {
  description = "Environments (same account and region) whose inference images and approved models are promoted into this one (the deploy role may read them); empty where they are built and trained."
  type        = list(string)

  validation {
    condition     = alltrue([for env in var.promoted_from : contains(["dev", "staging", "prod"], env)])
    error_message = "promoted_from may list only: dev, staging, prod."
  }
}

variable "inference_api_key_version" {
  description = "Version of the generated inference API key; raise it to rotate the key at the next apply (the value never enters state)."
  type        = number
  default     = 1
}

variable "alb_certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener (TF_VAR_alb_certificate_arn)."
  type        = string
}

variable "alb_deletion_protection" {
  description = "Stop the load balancer being deleted."
  type        = bool
}

variable "inference_cpu" {
  description = "Task CPU units of the inference service."
  type        = number
}

variable "inference_memory" {
  description = "Task memory (MiB) of the inference service."
  type        = number
}

variable "inference_min_capacity" {
  description = "Fewest inference tasks."
  type        = number
}

variable "inference_max_capacity" {
  description = "Most inference tasks."
  type        = number
}

################################################################################
# Knowledge layer
################################################################################

variable "knowledge_vector_store_enabled" {
  description = "Create the managed vector store (S3 Vectors, one index a knowledge base) for knowledge bases beyond the embedded index file's scale. Off by default."
  type        = bool
  default     = false
}

variable "knowledge_cost_alarm_threshold_usd" {
  description = "Estimated Bedrock cost (USD) a knowledge base's answers may reach in an hour before its alarm fires; null keeps src/prodml/jobs/knowledge.yaml's."
  type        = number
  default     = null
}

################################################################################
# Observability
################################################################################

variable "log_retention_in_days" {
  description = "Days to keep application and flow logs."
  type        = number
}

variable "alerts_email_addresses" {
  description = "Email addresses subscribed to the alerts topic."
  type        = list(string)
  default     = []
}

variable "alarm_latency_p95_threshold_ms" {
  description = "p95 latency alarm threshold in milliseconds."
  type        = number
  default     = 500
}

variable "alarm_drift_score_threshold" {
  description = "Overrides the drift alarms' DriftScore threshold; null keeps src/prodml/jobs/monitoring.yaml's (1.0: a feature statistic at its contract threshold)."
  type        = number
  default     = null
}

################################################################################
# Deployment access (GitHub Actions)
################################################################################

variable "github_repository" {
  description = "GitHub repository (owner/name, as GitHub spells it) whose workflows may assume this environment's roles."
  type        = string
}

variable "github_oidc_provider_create" {
  description = "Create the account's GitHub OIDC provider here (true in the first environment applied in an account) or look it up (false)."
  type        = bool
}

variable "github_plan_role_enabled" {
  description = "Create the read-only plan role pull requests assume in this environment."
  type        = bool
}

variable "state_bucket_name" {
  description = "The state bucket the backend uses; scripts/terraform.sh sets it (TF_VAR_state_bucket_name) from the bucket it passes to init."
  type        = string
}

variable "state_key" {
  description = "This environment's state key; scripts/terraform.sh sets it (TF_VAR_state_key) from env/<env>.backend.hcl."
  type        = string
}
