################################################################################
# Job
################################################################################

variable "name" {
  description = "Name prefix (`{project}-{env}`) of the role and security configuration."
  type        = string
}

variable "job_names" {
  description = "Glue job name per dataset, e.g. { customer_churn = \"prodml-dev-etl-customer-churn\" } (use modules/naming)."
  type        = map(string)

  validation {
    condition     = length(var.job_names) > 0
    error_message = "job_names needs at least one dataset."
  }
}

variable "script_key" {
  description = "Key of the ETL entry-point script in the artifacts bucket."
  type        = string
  default     = "code/etl/glue_job.py"
}

variable "contract_key_prefix" {
  description = "Key prefix of the data contracts in the artifacts bucket; a job reads <prefix><dataset>.yaml."
  type        = string
  default     = "code/contracts/"
}

variable "python_wheel_keys" {
  description = "Keys of the wheels in the artifacts bucket passed as --extra-py-files: the prodml wheel that `make package-etl` builds for Python 3.9."
  type        = list(string)
  default     = ["code/wheels/prodml-0.1.0-py3-none-any.whl"]
}

variable "python_modules" {
  description = "PyPI requirements pinned for Python 3.9 (`name==version`), passed as --additional-python-modules: the lines of pipelines/etl/glue/requirements.txt."
  type        = list(string)

  validation {
    condition     = length(var.python_modules) > 0 && alltrue([for m in var.python_modules : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*==[^,= ]+$", m))])
    error_message = "python_modules must be non-empty and every entry pinned as name==version (no commas)."
  }
}

variable "max_capacity" {
  description = "DPUs for the Python shell job: 0.0625 or 1."
  type        = number
  default     = 0.0625

  validation {
    condition     = contains([0.0625, 1], var.max_capacity)
    error_message = "max_capacity must be one of: 0.0625, 1."
  }
}

variable "timeout_minutes" {
  description = "Minutes before a job run is stopped."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_minutes >= 1 && var.timeout_minutes <= 2880
    error_message = "timeout_minutes must be between 1 and 2880."
  }
}

variable "job_arguments" {
  description = "Extra default arguments for every job (`--key` => value); merged over the module's own."
  type        = map(string)
  default     = {}
}

################################################################################
# Data zones
################################################################################

variable "bucket_ids" {
  description = "Data-zone bucket names keyed by zone (the s3_data_zones output bucket_ids)."
  type        = map(string)

  validation {
    condition     = alltrue([for zone in ["raw", "processed", "curated", "artifacts"] : contains(keys(var.bucket_ids), zone)])
    error_message = "bucket_ids must include the zones: raw, processed, curated, artifacts."
  }
}

variable "data_kms_key_arn" {
  description = "ARN of the data-zone KMS key (S3 objects and job bookmarks)."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "ARN of the KMS key that encrypts CloudWatch Logs (its policy must allow the logs service)."
  type        = string
}

################################################################################
# Catalog
################################################################################

variable "database_name" {
  description = "Glue Data Catalog database name (use modules/naming; underscores only)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "database_name must be lowercase letters, digits and underscores (Athena rejects hyphens)."
  }
}

################################################################################
# Schedule
################################################################################

variable "schedule_expression" {
  description = "Cron expression (Glue syntax) on which every job runs, e.g. cron(0 3 * * ? *). Null means on-demand only."
  type        = string
  default     = "cron(0 3 * * ? *)"

  validation {
    condition     = var.schedule_expression == null || can(regex("^cron\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be null or a cron(...) expression."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule trigger is active (turn off to pause without deleting it)."
  type        = bool
  default     = true
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
