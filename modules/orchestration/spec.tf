################################################################################
# State machine definitions
################################################################################

# Each state machine's definition is its ASL template (orchestration_spec names the file) rendered with
# templatefile() from the variables orchestration.yaml lists: prodml.jobs.state_machine_definition renders the
# same file from the same values on the emulator, so the emulator runs the definition AWS runs. Locals and
# variables only (local.processing_role_arn comes from main.tf), so tests/terraform evaluates this file offline.

locals {
  datasets = sort(keys(var.state_machine_names))

  # The retrain kind exists only where this environment retrains (var.retrain_enabled).
  kinds = [for kind in sort(keys(var.orchestration_spec.state_machines)) : kind if kind != "retrain" || var.retrain_enabled]

  # orchestration.yaml's variables, per dataset: the values prodml.orchestration computes on the emulator from
  # prodml.naming and the specs (the emulator polls every second instead of poll_seconds).
  template_variables = {
    for dataset in local.datasets : dataset => {
      dataset              = dataset
      project              = var.job_settings.project
      env                  = var.job_settings.env
      region               = var.job_settings.region
      job_name_prefix      = var.job_name_prefixes[dataset]
      etl_job_name         = var.etl_job_names[dataset]
      image_parameter_name = var.image_parameter_name
      processing_role_arn  = local.processing_role_arn
      artifacts_bucket     = var.bucket_ids["artifacts"]
      instance_type        = var.processing_spec.instance_type
      volume_size_gb       = var.processing_spec.volume_size_gb
      max_runtime_seconds  = var.processing_spec.max_runtime_seconds
      poll_seconds         = var.orchestration_spec.poll_seconds
      window_hours         = var.monitoring_spec.window_hours
    }
  }

  # "<dataset>/<kind>" => the state machine.
  state_machines = {
    for pair in setproduct(local.datasets, local.kinds) : "${pair[0]}/${pair[1]}" => {
      dataset  = pair[0]
      kind     = pair[1]
      name     = var.state_machine_names[pair[0]][pair[1]]
      schedule = var.orchestration_spec.state_machines[pair[1]].schedule
      definition = templatefile(
        "${var.templates_directory}/${var.orchestration_spec.state_machines[pair[1]].definition}",
        local.template_variables[pair[0]],
      )
    }
  }

  # The pattern of each dataset's drift alarm rule: its alarm's change to ALARM (bootstrap renders the same file).
  drift_alarm_event_patterns = {
    for dataset in local.datasets : dataset => templatefile(var.drift_alarm_event_template, { alarm_arn = var.drift_alarm_arns[dataset] })
    if var.retrain_enabled
  }
}
