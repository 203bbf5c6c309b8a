################################################################################
# Execution role
################################################################################

variable "name" {
  description = "Name of the execution role, failure rule and training dashboard, and the prefix of training job names (use modules/naming training_name)."
  type        = string
}

variable "job_name_prefix" {
  description = "Prefix every training job name starts with (`{project}-{env}-`); the failure rule and the dashboard match only these."
  type        = string
}

variable "bucket_ids" {
  description = "Data-zone bucket names keyed by zone (the s3_data_zones output bucket_ids)."
  type        = map(string)

  validation {
    condition     = alltrue([for zone in ["processed", "curated", "artifacts"] : contains(keys(var.bucket_ids), zone)])
    error_message = "bucket_ids must include the zones: processed, curated, artifacts."
  }
}

variable "data_kms_key_arn" {
  description = "ARN of the data-zone KMS key (training data, model artifacts, volumes)."
  type        = string
}

variable "training_log_group_arn" {
  description = "ARN of the prodml training log group the training library writes to."
  type        = string
}

################################################################################
# Model registry
################################################################################

variable "model_package_group_names" {
  description = "Model package group name per dataset (use modules/naming)."
  type        = map(string)

  validation {
    condition     = alltrue([for name in values(var.model_package_group_names) : can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", name))])
    error_message = "model_package_group_names values must be 1-63 letters, digits and single hyphens."
  }
}

################################################################################
# Failure events
################################################################################

variable "failure_topic_arn" {
  description = "ARN of the SNS topic that failed-training events are sent to."
  type        = string
}

################################################################################
# Training job spec
################################################################################

variable "training_spec" {
  description = "The training job's spec, src/prodml/jobs/training.yaml as yamldecode() reads it (prodml.jobs reads the same file): its metric definitions are the training dashboard's metrics."
  type = object({
    kind          = string
    metric_splits = list(string)
    metric_names  = map(list(string))
  })

  validation {
    condition     = var.training_spec.kind == "sagemaker-training"
    error_message = "training_spec must be the spec of a sagemaker-training job."
  }

  validation {
    condition     = length(var.training_spec.metric_splits) > 0 && length(var.training_spec.metric_names) > 0 && alltrue([for names in values(var.training_spec.metric_names) : length(names) > 0])
    error_message = "training_spec needs metric_splits and, for every task in metric_names, at least one metric name."
  }
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
