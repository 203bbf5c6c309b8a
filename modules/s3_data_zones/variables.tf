################################################################################
# Buckets
################################################################################

variable "name" {
  description = "Name prefix (`{project}-{env}`) of the KMS key alias and Name tags."
  type        = string
}

variable "bucket_names" {
  description = "Bucket name per data zone; keys must be exactly raw, processed, curated, artifacts and capture (use modules/naming)."
  type        = map(string)

  validation {
    condition     = length(setsubtract(toset(["raw", "processed", "curated", "artifacts", "capture"]), toset(keys(var.bucket_names)))) == 0 && length(var.bucket_names) == 5
    error_message = "bucket_names must have exactly the keys: raw, processed, curated, artifacts, capture."
  }
}

variable "access_log_bucket_name" {
  description = "Name of the bucket that receives S3 server access logs of every zone bucket."
  type        = string
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete buckets that still hold objects. Keep false outside throwaway environments."
  type        = bool
  default     = false
}

################################################################################
# Encryption
################################################################################

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the data-zone KMS key is deleted, in days (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

################################################################################
# Lifecycle
################################################################################

variable "lifecycle_rules" {
  description = "Storage tiers per zone: days to STANDARD_IA and GLACIER_IR, optional expiry of current objects, and expiry of noncurrent versions. Zones not listed use the defaults."
  type = map(object({
    transition_to_ia_days         = optional(number, 30)
    transition_to_glacier_days    = optional(number, 90)
    expiration_days               = optional(number)
    noncurrent_version_expiration = optional(number, 90)
  }))
  default = {
    raw       = { transition_to_ia_days = 30, transition_to_glacier_days = 90 }
    processed = { transition_to_ia_days = 60, transition_to_glacier_days = 180 }
    curated   = { transition_to_ia_days = 90, transition_to_glacier_days = 365 }
    artifacts = { transition_to_ia_days = 90, transition_to_glacier_days = 365 }
    capture   = { transition_to_ia_days = 30, transition_to_glacier_days = 90, expiration_days = 730 }
  }

  validation {
    condition     = alltrue([for zone in keys(var.lifecycle_rules) : contains(["raw", "processed", "curated", "artifacts", "capture"], zone)])
    error_message = "lifecycle_rules keys must be among: raw, processed, curated, artifacts, capture."
  }

  # S3 rejects STANDARD_IA before 30 days and needs each tier to come after the previous one.
  validation {
    condition = alltrue([
      for rule in values(var.lifecycle_rules) :
      rule.transition_to_ia_days >= 30 && rule.transition_to_glacier_days > rule.transition_to_ia_days && rule.noncurrent_version_expiration >= 1 &&
      (rule.expiration_days == null ? true : rule.expiration_days > rule.transition_to_glacier_days)
    ])
    error_message = "Each rule needs transition_to_ia_days >= 30 < transition_to_glacier_days < expiration_days (if set), and noncurrent_version_expiration >= 1."
  }
}

variable "access_log_expiration_days" {
  description = "Days to keep S3 server access logs."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 1
    error_message = "access_log_expiration_days must be at least 1."
  }
}

################################################################################
# Raw zone protection
################################################################################

variable "raw_zone_protected_role_arns" {
  description = "Pipeline role ARNs that may never delete from the raw zone and may only create objects with a conditional write (If-None-Match: *), so they can never overwrite one."
  type        = list(string)
  default     = []
}

################################################################################
# Notifications
################################################################################

variable "raw_queue_notifications" {
  description = "SQS notifications of the raw bucket (the knowledge output landing_notification): each queue gets these object events under its prefix. The queue's policy must already admit the bucket."
  type = list(object({
    id            = string
    queue_arn     = string
    events        = list(string)
    filter_prefix = optional(string)
    filter_suffix = optional(string)
  }))
  default = []
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
