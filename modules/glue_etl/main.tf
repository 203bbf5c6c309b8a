# A Glue Python shell job per dataset running the prodml ETL script from the artifacts bucket.
# The job is a thin shell: it parses its arguments and calls the ETL library shipped in the wheel.
# Python shell 3.9 runs on Glue 3.0 (Amazon Linux 2): the prodml wheel comes with --extra-py-files (Python
# shell installs no S3 objects through --additional-python-modules), its dependencies as the pinned PyPI
# list in --additional-python-modules, over the bare runtime (library-set none) rather than the analytics
# set, whose older pandas/numpy/pyarrow/awswrangler the pins would replace anyway.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  artifacts_uri = "s3://${var.bucket_ids["artifacts"]}"
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
  max_capacity           = var.max_capacity
  timeout                = var.timeout_minutes
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "pythonshell"
    python_version  = "3.9"
    script_location = "${local.artifacts_uri}/${var.script_key}"
  }

  # Argument names are prodml.etl.job's (REQUIRED_ARGS/OPTIONAL_ARGS); Glue adds --JOB_NAME itself.
  default_arguments = merge(
    {
      "--dataset"                   = each.key
      "--raw_uri"                   = "s3://${var.bucket_ids["raw"]}/${each.key}/"
      "--processed_uri"             = "s3://${var.bucket_ids["processed"]}/"
      "--contract_uri"              = "${local.artifacts_uri}/${var.contract_key_prefix}${each.key}.yaml"
      "--glue_database"             = aws_glue_catalog_database.this.name
      "--extra-py-files"            = join(",", [for key in var.python_wheel_keys : "${local.artifacts_uri}/${key}"])
      "--additional-python-modules" = join(",", var.python_modules)
      "--job-bookmark-option"       = "job-bookmark-disable"
      "library-set"                 = "none"
    },
    var.job_arguments,
  )

  execution_property {
    # One run per dataset at a time: two runs writing the same partitions would race.
    max_concurrent_runs = 1
  }

  tags = merge(var.tags, { Dataset = each.key })
}

################################################################################
# Schedule
################################################################################

resource "aws_glue_trigger" "this" {
  for_each = var.schedule_expression == null ? {} : aws_glue_job.this

  name     = "${each.value.name}-schedule"
  type     = "SCHEDULED"
  schedule = var.schedule_expression
  enabled  = var.schedule_enabled

  actions {
    job_name = each.value.name
  }

  tags = merge(var.tags, { Dataset = each.key })
}
