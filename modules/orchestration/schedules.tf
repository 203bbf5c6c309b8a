################################################################################
# Schedules
################################################################################

# orchestration.yaml's schedule of each state machine; schedules_enabled pauses one without deleting it.
resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The only thing a schedule stores is its target input, a constant {}: nothing for a CMK to protect.
  for_each = { for key, machine in local.state_machines : key => machine if machine.schedule != null }

  name                         = each.value.name
  description                  = "Starts ${each.value.name} on orchestration.yaml's schedule."
  schedule_expression          = each.value.schedule
  schedule_expression_timezone = "UTC"
  state                        = lookup(var.schedules_enabled, each.value.kind, false) ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.this[each.key].arn
    role_arn = aws_iam_role.triggers.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }
  }
}

################################################################################
# Drift alarm rules
################################################################################

# A dataset's drift alarm going to ALARM starts its retrain state machine (the pattern is the file bootstrap
# reads too). Where this environment does not retrain there is no rule: the alarm only alerts.
resource "aws_cloudwatch_event_rule" "drift_alarm" {
  for_each = local.drift_alarm_event_patterns

  # Named after the state machine it starts (a name modules/naming holds to 63 characters; a suffix could
  # pass EventBridge's 64).
  name          = var.state_machine_names[each.key]["retrain"]
  description   = "The ${each.key} drift alarm went to ALARM: start ${var.state_machine_names[each.key]["retrain"]}."
  event_pattern = each.value

  tags = merge(var.tags, { Dataset = each.key })
}

resource "aws_cloudwatch_event_target" "drift_alarm" {
  for_each = aws_cloudwatch_event_rule.drift_alarm

  rule      = each.value.name
  target_id = "retrain"
  arn       = aws_sfn_state_machine.this["${each.key}/retrain"].arn
  role_arn  = aws_iam_role.triggers.arn
  input     = jsonencode({})
}
