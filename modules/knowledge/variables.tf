################################################################################
# Knowledge bases
################################################################################

variable "name" {
  description = "The environment's name prefix, `{project}-{env}` (modules/naming name_prefix): the queues' KMS key and the scaling alarms are named after it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens (the {project}-{env} prefix)."
  }
}

variable "knowledge_contracts" {
  description = "Every knowledge contract of contracts/knowledge/ as yamldecode() reads it (the root skips golden-question files): its name, and the Bedrock models it embeds and answers with, the only models any role here may invoke (prodml.knowledge reads the same files)."
  type = list(object({
    name = string
    embedding = object({
      aws = object({
        model_id   = string
        dimensions = number
      })
    })
    answer = object({
      generation = object({
        model_id          = string
        fallback_model_id = string
      })
    })
  }))

  validation {
    condition     = length(var.knowledge_contracts) > 0 && length(distinct([for contract in var.knowledge_contracts : contract.name])) == length(var.knowledge_contracts)
    error_message = "knowledge_contracts needs at least one knowledge contract, and each name once."
  }

  validation {
    condition = alltrue([for contract in var.knowledge_contracts : can(regex("^[a-z][a-z0-9_]*$", contract.name)) && alltrue([
      for id in [contract.embedding.aws.model_id, contract.answer.generation.model_id, contract.answer.generation.fallback_model_id] : can(regex("^[a-z0-9-]+\\.[A-Za-z0-9.:_-]+$", id))
    ])])
    error_message = "each knowledge base name must be lowercase letters, digits and underscores, and each model id a Bedrock foundation model id (provider.model, e.g. amazon.titan-embed-text-v2:0)."
  }

  validation {
    condition     = alltrue([for contract in var.knowledge_contracts : contains([256, 512, 1024], contract.embedding.aws.dimensions)])
    error_message = "each knowledge contract's embedding.aws.dimensions must be one of: 256, 512, 1024 (Titan Text Embeddings v2)."
  }
}

variable "knowledge_spec" {
  description = "src/prodml/jobs/knowledge.yaml as yamldecode() reads it: the ingestion queue's settings, the landing prefix and the worker's task (prodml reads the same file)."
  type = object({
    kind = string
    queue = object({
      landing_prefix                        = string
      visibility_timeout_seconds            = number
      max_receive_count                     = number
      receive_wait_seconds                  = number
      message_retention_seconds             = number
      dead_letter_message_retention_seconds = number
    })
    service_environment = object({
      guardrail_identifier = string
      guardrail_version    = string
    })
    worker = object({
      command              = list(string)
      cpu                  = number
      memory               = number
      max_tasks            = number
      stop_timeout_seconds = number
      idle_minutes         = number
    })
  })

  validation {
    condition     = var.knowledge_spec.kind == "knowledge" && endswith(var.knowledge_spec.queue.landing_prefix, "/")
    error_message = "knowledge_spec must be a knowledge spec whose queue.landing_prefix ends with /."
  }

  validation {
    # The worker holds a message while it processes one document; SQS allows 0-43200 s, and 1-1000 receives.
    condition     = var.knowledge_spec.queue.visibility_timeout_seconds >= 300 && var.knowledge_spec.queue.visibility_timeout_seconds <= 43200 && var.knowledge_spec.queue.max_receive_count >= 1 && var.knowledge_spec.queue.max_receive_count <= 1000
    error_message = "knowledge_spec.queue.visibility_timeout_seconds must be 300-43200 and max_receive_count 1-1000."
  }

  validation {
    condition     = var.knowledge_spec.queue.receive_wait_seconds >= 0 && var.knowledge_spec.queue.receive_wait_seconds <= 20
    error_message = "knowledge_spec.queue.receive_wait_seconds must be 0-20 (SQS long polling)."
  }

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.knowledge_spec.worker.cpu) && var.knowledge_spec.worker.memory >= 512
    error_message = "knowledge_spec.worker.cpu must be one of: 256, 512, 1024, 2048, 4096, 8192, 16384 (and memory at least 512 MiB, a Fargate pairing)."
  }

  validation {
    condition     = var.knowledge_spec.worker.max_tasks >= 1 && var.knowledge_spec.worker.stop_timeout_seconds >= 2 && var.knowledge_spec.worker.stop_timeout_seconds <= 120 && var.knowledge_spec.worker.idle_minutes >= 5
    error_message = "knowledge_spec.worker needs max_tasks at least 1, stop_timeout_seconds 2-120 (Fargate's limit) and idle_minutes at least 5."
  }
}

################################################################################
# Ingestion queue
################################################################################

variable "queue_name" {
  description = "Name of the ingestion queue (modules/naming knowledge_queue_name, prodml.naming.knowledge_queue_name)."
  type        = string
}

variable "dead_letter_queue_name" {
  description = "Name of the ingestion dead-letter queue (modules/naming knowledge_dead_letter_queue_name)."
  type        = string
}

variable "kms_key_deletion_window_in_days" {
  description = "Days before the queues' KMS key is deleted once scheduled for deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be 7-30."
  }
}

################################################################################
# Data access
################################################################################

variable "bucket_arns" {
  description = "Data-zone bucket ARNs keyed by zone (the s3_data_zones output bucket_arns): documents land in raw, processed documents and index versions go to artifacts."
  type        = map(string)

  validation {
    condition     = contains(keys(var.bucket_arns), "raw") && contains(keys(var.bucket_arns), "artifacts")
    error_message = "bucket_arns must have the raw and artifacts zones."
  }
}

variable "data_kms_key_arn" {
  description = "ARN of the data-zone KMS key (the buckets' objects)."
  type        = string
}

################################################################################
# Worker
################################################################################

variable "worker_name" {
  description = "Name of the ingestion worker's ECS service, task definition family, roles and log group (modules/naming knowledge_worker_name)."
  type        = string
}

variable "worker_settings" {
  description = "What the worker's container gets as PRODML_PROJECT, PRODML_ENV and PRODML_REGION (as the inference service gets them)."
  type = object({
    project = string
    env     = string
    region  = string
  })
}

variable "container_image" {
  description = "The platform image the worker runs, `<repository_url>:<tag>`: the inference service's own image (the same expression the root gives modules/ecs_service), so a deploy moves both."
  type        = string

  validation {
    condition     = can(regex("^[^:]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.container_image)) && !endswith(var.container_image, ":latest")
    error_message = "container_image must be <repository>:<tag> with an explicit tag other than latest."
  }
}

variable "repository_arn" {
  description = "ARN of the ECR repository the image comes from (the worker's execution role pulls only from it)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the worker runs on (the ecs_service output cluster_arn: the inference service's cluster)."
  type        = string
}

variable "cluster_name" {
  description = "Name of that cluster (the autoscaling resource ID names it)."
  type        = string
}

variable "vpc_id" {
  description = "ID of the VPC the worker runs in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the worker's tasks run in (no public IPs)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1
    error_message = "private_subnet_ids needs at least one subnet."
  }
}

variable "log_group_retention_in_days" {
  description = "Days to keep the worker's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_group_retention_in_days)
    error_message = "log_group_retention_in_days must be one of: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_group_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the worker's log group (its policy must admit CloudWatch Logs: the cloudwatch output kms_key_arn)."
  type        = string
}

################################################################################
# Answering
################################################################################

variable "service_task_role_arn" {
  description = "ARN of the inference service's task role (the ecs_service output task_role_arn): this module adds its knowledge policy (read promoted indexes, embed the question, answer through the guardrail) to that role, and to no other."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]+$", var.service_task_role_arn))
    error_message = "service_task_role_arn must be an IAM role ARN without a path (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "guardrail_name" {
  description = "Name of the Bedrock Guardrail the Converse answerer applies (modules/naming knowledge_guardrail_name)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-zA-Z_-]{1,50}$", var.guardrail_name))
    error_message = "guardrail_name must be 1-50 letters, digits, hyphens and underscores."
  }
}

variable "guardrail" {
  description = "How strict the guardrail is: content filter strength on inputs and outputs, prompt-attack strength on inputs, what sensitive information in an answer gets (ANONYMIZE or BLOCK), and the contextual grounding and relevance thresholds (null turns that check off)."
  type = object({
    content_filter_strength = optional(string, "HIGH")
    prompt_attack_strength  = optional(string, "HIGH")
    pii_action              = optional(string, "ANONYMIZE")
    grounding_threshold     = optional(number, 0.75)
    relevance_threshold     = optional(number, 0.5)
  })
  default = {}

  validation {
    condition     = alltrue([for strength in [var.guardrail.content_filter_strength, var.guardrail.prompt_attack_strength] : contains(["NONE", "LOW", "MEDIUM", "HIGH"], strength)])
    error_message = "guardrail.content_filter_strength and prompt_attack_strength must be one of: NONE, LOW, MEDIUM, HIGH."
  }

  validation {
    condition     = contains(["ANONYMIZE", "BLOCK"], var.guardrail.pii_action)
    error_message = "guardrail.pii_action must be one of: ANONYMIZE, BLOCK."
  }

  validation {
    condition     = alltrue([for threshold in [var.guardrail.grounding_threshold, var.guardrail.relevance_threshold] : threshold == null || try(threshold >= 0 && threshold < 1, false)])
    error_message = "guardrail.grounding_threshold and relevance_threshold must be in [0, 1), or null for no such check."
  }
}

################################################################################
# Vector store
################################################################################

variable "vector_store_enabled" {
  description = "Create the managed vector store for scale (an S3 Vectors bucket and one index a knowledge base). Off by default: the default store is the index file in the artifacts bucket, which the service loads like a model."
  type        = bool
  default     = false
}

variable "vector_bucket_name" {
  description = "Name of the S3 Vectors bucket (modules/naming knowledge_vector_bucket_name); used only where vector_store_enabled is true."
  type        = string
}

################################################################################
# IAM
################################################################################

variable "iam_role_permissions_boundary" {
  description = "ARN of the permissions boundary set on every IAM role this module creates (the github_oidc output permissions_boundary_arn); null for none."
  type        = string
  default     = null
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
