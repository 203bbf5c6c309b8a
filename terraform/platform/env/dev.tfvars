# dev: one NAT gateway, small tasks, short log retention, schedule paused, easy teardown.
# Set TF_VAR_alb_certificate_arn and TF_VAR_inference_image_tag in the shell (see terraform/README.md).
environment = "dev"
region      = "us-east-1"

azs                = ["us-east-1a", "us-east-1b"]
vpc_cidr           = "10.40.0.0/16"
single_nat_gateway = true

force_destroy        = true
etl_schedule_enabled = false

alb_deletion_protection = false
inference_cpu           = 512
inference_memory        = 1024
inference_min_capacity  = 1
inference_max_capacity  = 2

# Images are built and models trained here; other environments promote them.
promoted_from = []

# dev is where models are trained: drift runs daily on the captured traffic and its alarm starts retraining, and
# the weekly retrain runs too (each ends at the gate; prod gets a version only by a reviewed promotion).
orchestration_schedules_enabled = {
  retrain = true
  drift   = true
}

# The knowledge layer: the embedded index file in S3 is the store (no managed vector store), and a knowledge
# base's answers may cost this many USD of Bedrock an hour before its alarm fires.
knowledge_vector_store_enabled     = false
knowledge_cost_alarm_threshold_usd = 1

log_retention_in_days = 30

# The repository whose GitHub environment "dev" may deploy here (owner/name, as GitHub spells it).
github_repository = "your-org/prodml"
# The first environment applied in the account creates its GitHub OIDC provider.
github_oidc_provider_create = true
github_plan_role_enabled    = true
