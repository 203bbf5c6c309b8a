################################################################################
# Job spec
################################################################################

# Everything the jobs take from their spec (src/prodml/jobs/etl.yaml, var.job_spec) and from the release
# `prodml ship` uploads. Variables only, no resources or data sources: tests/terraform evaluates this file
# offline and compares it with prodml.jobs, which reads the same spec.

locals {
  # The release prodml ship uploads: code/releases/<release>/{etl/<script>, wheels/<wheel>, contracts/<dataset>.yaml}.
  release_uri = "s3://${var.bucket_ids["artifacts"]}/code/releases/${var.code_release}"

  # As prodml reads a requirements file: text after '#' is a comment, blank lines are skipped.
  python_modules = [
    for line in split("\n", var.job_requirements) : trimspace(split("#", line)[0])
    if trimspace(split("#", line)[0]) != ""
  ]

  # Glue's settings of every job, each from the spec.
  job = {
    python_version      = var.job_spec.python_version
    max_capacity        = var.job_spec.max_capacity
    timeout             = var.job_spec.timeout_minutes
    max_concurrent_runs = var.job_spec.max_concurrent_runs
    schedule            = var.job_spec.schedule
    script_location     = "${local.release_uri}/etl/${basename(var.job_spec.script)}"
    # The prodml wheel (`make package-etl`, version var.code_version) comes as an extra Python file: Python
    # shell installs no S3 objects through --additional-python-modules, only the pinned PyPI list.
    extra_py_files = ["${local.release_uri}/wheels/prodml-${var.code_version}-py3-none-any.whl"]
  }

  # The values a spec argument names with `from:`, per dataset: the keys of prodml.jobs.ETL_DEPLOYMENT_VALUES.
  deployment_values = {
    for dataset in keys(var.job_names) : dataset => {
      dataset       = dataset
      raw_uri       = "s3://${var.bucket_ids["raw"]}/${dataset}/"
      processed_uri = "s3://${var.bucket_ids["processed"]}/"
      contract_uri  = "${local.release_uri}/contracts/${dataset}.yaml"
      glue_database = var.database_name
    }
  }

  # DefaultArguments per dataset, built as prodml.jobs.EtlJobSpec.default_arguments builds them: Glue's own,
  # the code Glue installs, then --<name> for every argument that comes `from:` a deployment value.
  # Glue adds --JOB_NAME itself; arguments with only a `default` are the job parser's own defaults.
  default_arguments = {
    for dataset, values in local.deployment_values : dataset => merge(
      var.job_spec.glue_arguments,
      {
        "--extra-py-files"            = join(",", local.job.extra_py_files)
        "--additional-python-modules" = join(",", local.python_modules)
      },
      { for name, argument in var.job_spec.arguments : "--${name}" => values[argument.from] if argument.from != null },
    )
  }
}
