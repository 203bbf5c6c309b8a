# staging: prod's shape at a smaller size (a NAT gateway per AZ, protected load balancer, two tasks), so a
# release is proven on the same topology before prod; three months of logs, schedule paused.
# Set TF_VAR_alb_certificate_arn and TF_VAR_inference_image_tag in the shell (see terraform/README.md).
environment = "staging"
region      = "us-east-1"

azs                = ["us-east-1a", "us-east-1b"]
vpc_cidr           = "10.45.0.0/16"
single_nat_gateway = false

force_destroy        = false
etl_schedule_enabled = false

alb_deletion_protection = true
inference_cpu           = 512
inference_memory        = 1024
inference_min_capacity  = 2
inference_max_capacity  = 4

# Images (by digest) and approved models are promoted from dev, never rebuilt or retrained.
promoted_from = ["dev"]

# staging: models are promoted from dev, never retrained here; drift runs daily and its alarm alerts.
orchestration_schedules_enabled = {
  retrain = false
  drift   = true
}

# The knowledge layer: the embedded index file in S3 is the store (no managed vector store), and a knowledge
# base's answers may cost this many USD of Bedrock an hour before its alarm fires.
knowledge_vector_store_enabled     = false
knowledge_cost_alarm_threshold_usd = 2

log_retention_in_days = 90

# The repository whose GitHub environment "staging" may deploy here (owner/name, as GitHub spells it).
github_repository = "your-org/prodml"
# dev's account already has the GitHub OIDC provider; true if staging has an account of its own.
github_oidc_provider_create = false
github_plan_role_enabled    = true
