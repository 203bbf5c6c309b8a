################################################################################
# State machines
################################################################################

variable "name" {
  description = "The environment's name prefix, `{project}-{env}` (modules/naming name_prefix): the triggers role is <name>-orchestration-triggers."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens (the {project}-{env} prefix)."
  }
}

variable "job_settings" {
  description = "What the jobs' containers get as PRODML_PROJECT, PRODML_ENV and PRODML_REGION (the template variables project, env, region)."
  type = object({
    project = string
    env     = string
    region  = string
  })
}

variable "state_machine_names" {
  description = "State machine names keyed by dataset, then by kind (modules/naming state_machine_names); every kind of orchestration_spec must be named."
  type        = map(map(string))

  validation {
    condition     = length(var.state_machine_names) > 0
    error_message = "state_machine_names needs at least one dataset."
  }

  validation {
    condition = alltrue([
      for names in values(var.state_machine_names) : alltrue([for kind in keys(var.orchestration_spec.state_machines) : contains(keys(names), kind)])
    ])
    error_message = "state_machine_names must name every kind of orchestration_spec's state_machines for every dataset."
  }
}

variable "job_name_prefixes" {
  description = "Prefix of each dataset's processing and training job names, keyed by dataset (modules/naming job_name_prefixes)."
  type        = map(string)

  validation {
    condition     = sort(keys(var.job_name_prefixes)) == sort(keys(var.state_machine_names))
    error_message = "job_name_prefixes must have exactly the datasets of state_machine_names."
  }
}

variable "etl_job_names" {
  description = "The Glue ETL job of each dataset, keyed by dataset (the glue_etl output job_names): the retrain state machine's first step."
  type        = map(string)

  validation {
    condition     = sort(keys(var.etl_job_names)) == sort(keys(var.state_machine_names))
    error_message = "etl_job_names must have exactly the datasets of state_machine_names."
  }
}

variable "retrain_enabled" {
  description = "Whether this environment retrains: the retrain state machines, the drift alarm rules that start them and the processing role's training and registration rights. False where models are promoted from another environment, so prod serves only what was promoted."
  type        = bool
  default     = true
}

################################################################################
# State machine definitions
################################################################################

variable "templates_directory" {
  description = "Directory of the ASL templates orchestration_spec names (src/prodml/jobs): each definition is templatefile(<directory>/<definition>, variables), as prodml.jobs.state_machine_definition renders it."
  type        = string
}

variable "orchestration_spec" {
  description = "src/prodml/jobs/orchestration.yaml as yamldecode() reads it: the state machines (template file, schedule), poll_seconds and the template variables (prodml.jobs reads the same file)."
  type = object({
    kind = string
    state_machines = map(object({
      definition = string
      schedule   = optional(string)
    }))
    poll_seconds = number
    variables    = list(string)
  })

  validation {
    condition     = var.orchestration_spec.kind == "step-functions" && var.orchestration_spec.poll_seconds >= 1
    error_message = "orchestration_spec must be a step-functions spec with poll_seconds at least 1."
  }

  validation {
    condition     = contains(keys(var.orchestration_spec.state_machines), "retrain")
    error_message = "orchestration_spec must define the retrain state machine (the one the drift alarm starts)."
  }

  validation {
    condition = alltrue([
      for machine in values(var.orchestration_spec.state_machines) :
      machine.schedule == null || can(regex("^(cron|rate)\\(.+\\)$", coalesce(machine.schedule, "-")))
    ])
    error_message = "each state machine's schedule must be null, cron(...) or rate(...)."
  }
}

variable "processing_spec" {
  description = "src/prodml/jobs/processing.yaml as yamldecode() reads it: the processing jobs' instance type, volume and run time limit."
  type = object({
    kind                = string
    instance_type       = string
    volume_size_gb      = number
    max_runtime_seconds = number
  })

  validation {
    condition     = var.processing_spec.kind == "sagemaker-processing" && startswith(var.processing_spec.instance_type, "ml.")
    error_message = "processing_spec must be a sagemaker-processing spec with an ml.* instance_type."
  }

  validation {
    condition     = var.processing_spec.volume_size_gb >= 1 && var.processing_spec.max_runtime_seconds >= 1 && var.processing_spec.max_runtime_seconds <= 432000
    error_message = "processing_spec needs volume_size_gb at least 1 and max_runtime_seconds between 1 and 432000."
  }
}

variable "monitoring_spec" {
  description = "src/prodml/jobs/monitoring.yaml as yamldecode() reads it: the drift job's window and the metric namespace it publishes to."
  type = object({
    kind = string
    metric = object({
      namespace = string
    })
    window_hours = number
  })

  validation {
    condition     = var.monitoring_spec.kind == "drift-monitoring" && var.monitoring_spec.window_hours >= 1
    error_message = "monitoring_spec must be a drift-monitoring spec with window_hours at least 1."
  }
}

################################################################################
# Triggers
################################################################################

variable "drift_alarm_arns" {
  description = "ARN of each dataset's drift alarm, keyed by dataset (modules/cloudwatch): its change to ALARM starts the dataset's retrain state machine. Every dataset needs one where retrain_enabled is true."
  type        = map(string)
  default     = {}

  validation {
    condition     = !var.retrain_enabled || alltrue([for dataset in keys(var.state_machine_names) : contains(keys(var.drift_alarm_arns), dataset)])
    error_message = "drift_alarm_arns must give every dataset's drift alarm where retrain_enabled is true."
  }
}

variable "drift_alarm_event_template" {
  description = "Path of the EventBridge pattern template of the drift alarm rule (src/prodml/jobs/drift_alarm_event.json), rendered with alarm_arn as bootstrap renders it on the emulator."
  type        = string
}

variable "schedules_enabled" {
  description = "Whether each kind's schedule (orchestration_spec) is active; a paused schedule stays defined. Kinds not listed are paused."
  type        = map(bool)
  default     = {}
}

################################################################################
# Platform image parameter
################################################################################

variable "image_parameter_name" {
  description = "Name of the SSM parameter holding the platform image URI (modules/naming image_parameter_name); the deploy workflow writes it, Terraform only creates it."
  type        = string

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.image_parameter_name))
    error_message = "image_parameter_name must be a hierarchical SSM name starting with /."
  }
}

################################################################################
# Processing role
################################################################################

variable "processing_role_name" {
  description = "Name of the processing jobs' execution role (modules/naming processing_role_name)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the platform image's ECR repository: the processing role pulls from it."
  type        = string
}

variable "bucket_ids" {
  description = "Data-zone bucket names keyed by zone (the s3_data_zones output bucket_ids)."
  type        = map(string)

  validation {
    condition     = alltrue([for zone in ["processed", "curated", "artifacts", "capture"] : contains(keys(var.bucket_ids), zone)])
    error_message = "bucket_ids must include the zones: processed, curated, artifacts, capture."
  }
}

variable "data_kms_key_arn" {
  description = "ARN of the data-zone KMS key (S3 objects the jobs read and write)."
  type        = string
}

variable "training_role_arn" {
  description = "ARN of the SageMaker training execution role the retrain step passes to its training job (the sagemaker output role_arn)."
  type        = string
}

variable "training_instance_types" {
  description = "Instance types the retrain step may start training jobs on (sagemaker:InstanceTypes); the platform passes the training spec's instance_type."
  type        = list(string)

  validation {
    condition     = length(var.training_instance_types) > 0 && alltrue([for type in var.training_instance_types : startswith(type, "ml.")])
    error_message = "training_instance_types must list at least one SageMaker instance type (ml.*)."
  }
}

variable "model_package_group_arns" {
  description = "Model package group ARNs keyed by dataset (the sagemaker output): drift reads the champion, registration writes versions."
  type        = map(string)
}

################################################################################
# Logging
################################################################################

variable "log_group_name" {
  description = "Name of the log group the state machines log their executions to (modules/naming orchestration_log_group_name)."
  type        = string
}

variable "log_group_retention_in_days" {
  description = "Days to keep the state machines' execution logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_group_retention_in_days)
    error_message = "log_group_retention_in_days must be one of: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_group_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the log group (its policy must admit CloudWatch Logs: the cloudwatch output kms_key_arn)."
  type        = string
}

variable "logging_level" {
  description = "Which execution events the state machines log. One of: ALL, ERROR, FATAL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.logging_level)
    error_message = "logging_level must be one of: ALL, ERROR, FATAL."
  }
}

variable "tracing_enabled" {
  description = "Trace executions with AWS X-Ray."
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
