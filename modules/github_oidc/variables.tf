################################################################################
# Environment
################################################################################

variable "name" {
  description = "The environment's name prefix, `{project}-{env}` (modules/naming name_prefix): the roles are <name>-github-deploy and <name>-github-plan, the boundary <name>-boundary, and `<name>-*` is what the deploy role may manage."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens (the {project}-{env} prefix)."
  }
}

variable "environment" {
  description = "GitHub environment whose jobs may assume the deploy role (the token's sub is repo:<repository>:environment:<this>); the platform passes its own environment name. Also the Environment tag that marks this environment's KMS keys."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.environment))
    error_message = "environment must be a GitHub environment name: letters, digits, '.', '_' and '-'."
  }
}

################################################################################
# OIDC provider
################################################################################

variable "github_repository" {
  description = "The GitHub repository, `owner/name`, exactly as GitHub spells it (IAM compares the token's sub case-sensitively)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository)) && !startswith(var.github_repository, "your-org/")
    error_message = "github_repository must be the real owner/name of the repository (not the your-org/ placeholder)."
  }
}

variable "oidc_provider_create" {
  description = "Create the account's GitHub OIDC provider (token.actions.githubusercontent.com). There is one per account: true in the first environment applied in an account, false (look it up) in the others."
  type        = bool
  default     = false
}

################################################################################
# Roles
################################################################################

variable "plan_role_enabled" {
  description = "Create the read-only plan role pull requests assume (its sub is repo:<repository>:pull_request, any pull request of the repository). It reads the API key when it refreshes the secret's version: turn it off where that is too much (prod)."
  type        = bool
  default     = true
}

variable "state_bucket_name" {
  description = "The Terraform state bucket (terraform/bootstrap): both roles read and lock their environment's state in it."
  type        = string
}

variable "state_key" {
  description = "This environment's state object key in the bucket (its backend.hcl key); the lock file is <key>.tflock."
  type        = string
}

variable "image_parameter_name" {
  description = "The SSM parameter holding the platform image URI (modules/naming image_parameter_name): the deploy role writes it after a deploy, and may write no other parameter."
  type        = string

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.image_parameter_name))
    error_message = "image_parameter_name must be a hierarchical SSM name starting with /."
  }
}

variable "training_instance_types" {
  description = "Instance types the deploy role may start training jobs on (sagemaker:InstanceTypes); the platform passes the training spec's instance_type."
  type        = list(string)

  validation {
    condition     = length(var.training_instance_types) > 0 && alltrue([for type in var.training_instance_types : startswith(type, "ml.")])
    error_message = "training_instance_types must list at least one SageMaker instance type (ml.*)."
  }
}

variable "promotion_sources" {
  description = "Environments (this account and region) whose images and models are promoted into this one: their ECR repository, artifacts bucket and name prefix, from modules/naming. The deploy role may read, never write, those: pull the image, describe the model packages, read the model artifacts."
  type = list(object({
    name_prefix           = string
    ecr_repository_name   = string
    artifacts_bucket_name = string
  }))
  default = []
}

variable "knowledge_queue_names" {
  description = "The knowledge ingestion queue and its dead-letter queue (modules/naming): the deploy role may queue landed documents (prodml kb ingest --land-only) and peek at the dead letters (prodml kb status). Null: no knowledge grants."
  type = object({
    queue       = string
    dead_letter = string
  })
  default = null
}

variable "knowledge_embedding_model_ids" {
  description = "Bedrock model ids of the knowledge contracts' embedding models: prodml kb eval embeds the golden questions with them, and the deploy role may invoke these and no other model."
  type        = list(string)
  default     = []
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
