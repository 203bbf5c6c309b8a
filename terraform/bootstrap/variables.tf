################################################################################
# State bucket
################################################################################

variable "project" {
  description = "Project name; the state bucket is `{project}-tfstate-{account_id}` (scripts/terraform.sh derives the same name)."
  type        = string
  default     = "prodml"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]*[a-z0-9])?$", var.project))
    error_message = "project must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "region" {
  description = "AWS region of the state bucket (and of the environments that use it)."
  type        = string
  default     = "us-east-1"
}

variable "noncurrent_version_expiration_days" {
  description = "Days to keep superseded state versions (for recovering from a bad apply)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "tags" {
  description = "Extra tags merged into every resource."
  type        = map(string)
  default     = {}
}
