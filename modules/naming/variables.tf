################################################################################
# Naming
################################################################################

variable "project" {
  description = "Project segment of every name (`{project}-{env}-{purpose}`); mirrors PRODML_PROJECT."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]*[a-z0-9])?$", var.project))
    error_message = "project must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "environment" {
  description = "Environment segment of every name; mirrors PRODML_ENV. One of: dev, staging, prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of: dev, staging, prod."
  }
}

variable "datasets" {
  description = "Dataset (contract) names, e.g. customer_churn. Each gets a Glue job and a model package group."
  type        = list(string)
  default     = ["customer_churn"]

  validation {
    condition     = alltrue([for dataset in var.datasets : can(regex("^[a-z]([a-z0-9_-]*[a-z0-9])?$", dataset))])
    error_message = "each dataset must be lowercase letters, digits, underscores and hyphens, starting with a letter."
  }

  # prodml.naming rejects any name over 63 characters (the S3 and SageMaker limit); the longest are the Glue
  # job, the state machines, and the registration job a retraining run starts, <prefix>-register-<run id>
  # (prodml.orchestration's LONGEST_STEP and RUN_ID_EXAMPLE), which would otherwise fail only mid-run.
  validation {
    condition = alltrue(flatten([for dataset in var.datasets : [
      for purpose in concat(
        ["etl-${dataset}", "${dataset}-register-20260101-000000-abcd"],
        [for kind in var.state_machine_kinds : "${dataset}-${kind}"]
      ) :
      length("${var.project}-${var.environment}-${purpose}") <= 63
    ]]))
    error_message = "a dataset name makes a resource name longer than 63 characters; shorten the project or dataset name."
  }
}

variable "state_machine_kinds" {
  description = "Kinds of Step Functions state machine each dataset gets (the keys of state_machines in src/prodml/jobs/orchestration.yaml)."
  type        = list(string)
  default     = ["retrain", "drift"]

  validation {
    condition     = alltrue([for kind in var.state_machine_kinds : can(regex("^[a-z][a-z0-9-]*$", kind))])
    error_message = "each state machine kind must be lowercase letters, digits and hyphens, starting with a letter."
  }
}
