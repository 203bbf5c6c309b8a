# prod: a NAT gateway per AZ, three AZs, larger tasks, a year of logs, nightly ETL, nothing deletable by accident.
# Set TF_VAR_alb_certificate_arn and TF_VAR_inference_image_tag in the shell (see terraform/README.md).
environment = "prod"
region      = "us-east-1"

azs                = ["us-east-1a", "us-east-1b", "us-east-1c"]
vpc_cidr           = "10.50.0.0/16"
single_nat_gateway = false

force_destroy        = false
etl_schedule_enabled = true

alb_deletion_protection = true
inference_cpu           = 1024
inference_memory        = 2048
inference_min_capacity  = 2
inference_max_capacity  = 10

# Images (by digest) and approved models are promoted from dev (or staging), never rebuilt or retrained.
promoted_from = ["dev", "staging"]

# prod: models are promoted, never retrained here (no retrain state machine); drift runs daily and its alarm
# alerts, and the fix is a retrain in dev and a reviewed promotion.
orchestration_schedules_enabled = {
  retrain = false
  drift   = true
}

# The knowledge layer: the embedded index file in S3 is the store (no managed vector store), and a knowledge
# base's answers may cost this many USD of Bedrock an hour before its alarm fires.
knowledge_vector_store_enabled     = false
knowledge_cost_alarm_threshold_usd = 10

log_retention_in_days = 365

# The repository whose GitHub environment "prod" may deploy here (owner/name, as GitHub spells it).
github_repository = "your-org/prodml"
# true if prod has an account of its own. No pull-request plan role: it would read prod's API key.
github_oidc_provider_create = false
github_plan_role_enabled    = false
