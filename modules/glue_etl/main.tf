# A Glue Python shell job per dataset running the prodml ETL script, defined by its spec
# (src/prodml/jobs/etl.yaml, read by the root and passed as var.job_spec; spec.tf derives every value).
# The job is a thin shell: it parses its arguments and calls the ETL library shipped in the wheel.
# Where the code lives (script, wheel, contract) belongs to `prodml ship` once the job exists.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
}

################################################################################
# Catalog
################################################################################

resource "aws_glue_catalog_database" "this" {
  name        = var.database_name
  description = "Processed and curated tables written by the ${var.name} ETL jobs."

  tags = var.tags
}

################################################################################
# Security configuration
################################################################################

resource "aws_glue_security_configuration" "this" {
  name = "${var.name}-etl"

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.logs_kms_key_arn
    }

    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.data_kms_key_arn
    }

    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.data_kms_key_arn
    }
  }
}

################################################################################
# Job
################################################################################

resource "aws_glue_job" "this" {
  for_each = var.job_names

  name                   = each.value
  description            = "prodml ETL for the ${each.key} dataset: raw -> processed -> curated."
  role_arn               = aws_iam_role.this.arn
  max_capacity           = local.job.max_capacity
  timeout                = local.job.timeout
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "pythonshell"
    python_version  = local.job.python_version
    script_location = local.job.script_location
  }

  default_arguments = local.default_arguments[each.key]

  execution_property {
    max_concurrent_runs = local.job.max_concurrent_runs
  }

  lifecycle {
    # `prodml ship` owns where the code lives: it uploads a release and points the job at it (glue.update_job).
    ignore_changes = [
      command[0].script_location,
      default_arguments["--extra-py-files"],
      default_arguments["--contract_uri"],
    ]
  }

  tags = merge(var.tags, { Dataset = each.key })
}

################################################################################
# Schedule
################################################################################

resource "aws_glue_trigger" "this" {
  for_each = local.job.schedule == null ? {} : aws_glue_job.this

  name     = "${each.value.name}-schedule"
  type     = "SCHEDULED"
  schedule = local.job.schedule
  enabled  = var.schedule_enabled

  actions {
    job_name = each.value.name
  }

  tags = merge(var.tags, { Dataset = each.key })
}
