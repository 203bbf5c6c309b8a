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

################################################################################
# Job spec
################################################################################

variable "job_spec" {
  description = "The ETL job's spec, src/prodml/jobs/etl.yaml as yamldecode() reads it: Python version, capacity, timeout, concurrency, schedule, Glue's arguments and the job's own (prodml.jobs reads the same file)."
  type = object({
    kind                = string
    script              = string
    python_version      = string
    max_capacity        = number
    timeout_minutes     = number
    max_concurrent_runs = number
    schedule            = optional(string)
    glue_arguments      = map(string)
    arguments = map(object({
      from    = optional(string)
      default = optional(string)
    }))
  })

  validation {
    condition     = var.job_spec.kind == "glue-pythonshell" && contains(["3.9"], var.job_spec.python_version)
    error_message = "job_spec must be a glue-pythonshell job with python_version one of: 3.9."
  }

  validation {
    condition     = contains([0.0625, 1], var.job_spec.max_capacity)
    error_message = "job_spec.max_capacity must be one of: 0.0625, 1."
  }

  validation {
    condition     = var.job_spec.timeout_minutes >= 1 && var.job_spec.timeout_minutes <= 2880 && var.job_spec.max_concurrent_runs >= 1
    error_message = "job_spec.timeout_minutes must be between 1 and 2880, and job_spec.max_concurrent_runs at least 1."
  }

  validation {
    condition     = var.job_spec.schedule == null || can(regex("^cron\\(.+\\)$", coalesce(var.job_spec.schedule, "-")))
    error_message = "job_spec.schedule must be null (on demand only) or a cron(...) expression."
  }

  validation {
    condition = alltrue([
      for argument in values(var.job_spec.arguments) :
      (argument.from == null) != (argument.default == null)
      && (argument.from == null || contains(["dataset", "raw_uri", "processed_uri", "contract_uri", "glue_database"], coalesce(argument.from, "-")))
    ])
    error_message = "Every job_spec argument needs exactly one of from or default, and from must be one of: dataset, raw_uri, processed_uri, contract_uri, glue_database."
  }
}

variable "job_requirements" {
  description = "Text of the requirements file job_spec names (pipelines/etl/glue/requirements.txt): the job's dependencies pinned for Python 3.9, passed as --additional-python-modules."
  type        = string

  validation {
    # Parsed as spec.tf parses it (a local here would be a cycle): every line after '#' is cut is blank or pinned.
    condition = alltrue([
      for line in split("\n", var.job_requirements) :
      can(regex("^([A-Za-z0-9][A-Za-z0-9._-]*==[^,= ]+)?$", trimspace(split("#", line)[0])))
      ]) && anytrue([
      for line in split("\n", var.job_requirements) : trimspace(split("#", line)[0]) != ""
    ])
    error_message = "job_requirements must list at least one requirement and pin every one as name==version (no commas)."
  }
}

################################################################################
# Code release
################################################################################

variable "code_release" {
  description = "Release whose code the jobs start with: code/releases/<release>/ in the artifacts bucket. `prodml ship` uploads a release and repoints the jobs itself; until it has run once, the jobs cannot run."
  type        = string
  default     = "unshipped"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*$", var.code_release))
    error_message = "code_release must be letters, digits, '.', '_' and '-' (one S3 key segment)."
  }
}

variable "code_version" {
  description = "Version of the prodml wheel (`__version__` in src/prodml/__init__.py): --extra-py-files is wheels/prodml-<version>-py3-none-any.whl."
  type        = string

  validation {
    condition     = can(regex("^[0-9][A-Za-z0-9.+]*$", var.code_version))
    error_message = "code_version must be a version such as 0.1.0."
  }
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

variable "schedule_enabled" {
  description = "Whether the schedule trigger (job_spec.schedule) is active; turn off to pause without deleting it."
  type        = bool
  default     = true
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
