################################################################################
# Repository
################################################################################

variable "repository_name" {
  description = "ECR repository name (use modules/naming, e.g. prodml-dev-inference)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", var.repository_name))
    error_message = "repository_name must be lowercase letters and digits separated by '.', '_' or '-'."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts images."
  type        = string
}

variable "force_delete" {
  description = "Let `terraform destroy` delete the repository while it still holds images."
  type        = bool
  default     = false
}

variable "pull_principal_arns" {
  description = "IAM principal ARNs (e.g. the ECS execution role) allowed to pull images through the repository policy."
  type        = list(string)
  default     = []
}

################################################################################
# Lifecycle
################################################################################

variable "lifecycle_untagged_expiry_days" {
  description = "Days after which untagged images (build layers, superseded pushes) are expired."
  type        = number
  default     = 7

  validation {
    condition     = var.lifecycle_untagged_expiry_days >= 1
    error_message = "lifecycle_untagged_expiry_days must be at least 1."
  }
}

variable "lifecycle_tagged_keep_count" {
  description = "How many tagged images to keep; older ones are expired (keep enough to roll back)."
  type        = number
  default     = 30

  validation {
    condition     = var.lifecycle_tagged_keep_count >= 1
    error_message = "lifecycle_tagged_keep_count must be at least 1."
  }
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
