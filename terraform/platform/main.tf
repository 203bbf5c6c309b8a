# The one prodml platform root: composes the modules for one environment and defines no resources of its own.
# Which environment is decided by the files scripts/terraform.sh passes: env/<env>.tfvars (its values) and
# env/<env>.backend.hcl (its state key). dev, staging and prod run this same configuration.

locals {
  tags = {
    Project     = var.project
    Environment = var.environment
    Repository  = "prodml"
  }

  # An existing VPC replaces the network module entirely.
  vpc_id             = var.existing_network == null ? module.network[0].vpc_id : var.existing_network.vpc_id
  private_subnet_ids = var.existing_network == null ? module.network[0].private_subnet_ids : var.existing_network.private_subnet_ids
  public_subnet_ids  = var.existing_network == null ? module.network[0].public_subnet_ids : var.existing_network.public_subnet_ids

  # Each job's AWS definition, written once in src/prodml/jobs/ (prodml.jobs reads the same files); paths
  # in a spec are relative to the repository root.
  repository_root   = "${path.root}/../.."
  etl_job_spec      = yamldecode(file("${local.repository_root}/src/prodml/jobs/etl.yaml"))
  training_job_spec = yamldecode(file("${local.repository_root}/src/prodml/jobs/training.yaml"))
  # The closed loop: the processing jobs, the drift metric, and the state machines whose ASL templates sit beside.
  jobs_directory      = "${local.repository_root}/src/prodml/jobs"
  processing_job_spec = yamldecode(file("${local.jobs_directory}/processing.yaml"))
  monitoring_spec     = yamldecode(file("${local.jobs_directory}/monitoring.yaml"))
  orchestration_spec  = yamldecode(file("${local.jobs_directory}/orchestration.yaml"))
  # The knowledge layer: its metrics, queue and worker (src/prodml/jobs/knowledge.yaml), and each knowledge contract
  # of contracts/knowledge/ (golden-question files beside them are skipped, as prodml.knowledge skips them): the
  # Bedrock models it embeds and answers with are the only ones any role may invoke.
  knowledge_spec      = yamldecode(file("${local.jobs_directory}/knowledge.yaml"))
  knowledge_directory = "${local.repository_root}/contracts/knowledge"
  knowledge_documents = [for name in sort(fileset(local.knowledge_directory, "*.yaml")) : yamldecode(file("${local.knowledge_directory}/${name}"))]
  knowledge_contracts = [for contract in local.knowledge_documents : contract if !contains(keys(contract), "questions")]
  # The knowledge base POST /ask answers from: the one named, else the only one.
  inference_knowledge_base = var.inference_knowledge_base != null ? var.inference_knowledge_base : (
    length(local.knowledge_contracts) == 1 ? local.knowledge_contracts[0].name : null
  )
  # The platform image: the service runs it, and so does the knowledge worker (a deploy moves both).
  inference_image = "${module.ecr.repository_url}:${var.inference_image_tag}"
  # The version the prodml wheel is built with: hatch reads the same line (pipelines/etl/glue/pyproject.toml).
  prodml_version = regex("__version__ = \"([^\"]+)\"", file("${local.repository_root}/src/prodml/__init__.py"))[0]
}

################################################################################
# Naming
################################################################################

module "naming" {
  source = "../../modules/naming"

  project             = var.project
  environment         = var.environment
  datasets            = var.datasets
  state_machine_kinds = keys(local.orchestration_spec.state_machines)
}

# The names of the environments images and models are promoted from.
module "promotion_source_naming" {
  source   = "../../modules/naming"
  for_each = toset(var.promoted_from)

  project     = var.project
  environment = each.key
}

################################################################################
# Network
################################################################################

module "network" {
  source = "../../modules/network"
  count  = var.existing_network == null ? 1 : 0

  name                       = module.naming.network_name
  vpc_cidr                   = var.vpc_cidr
  azs                        = var.azs
  single_nat_gateway         = var.single_nat_gateway
  flow_log_retention_in_days = var.log_retention_in_days
  flow_log_kms_key_arn       = module.cloudwatch.kms_key_arn

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Data zones
################################################################################

module "data_zones" {
  source = "../../modules/s3_data_zones"

  name                   = module.naming.name_prefix
  bucket_names           = module.naming.bucket_names
  access_log_bucket_name = module.naming.access_log_bucket_name
  force_destroy          = var.force_destroy

  raw_zone_protected_role_arns = [
    module.glue_etl.role_arn,
    module.sagemaker.role_arn,
    module.inference.task_role_arn,
    module.orchestration.processing_role_arn,
    module.knowledge.worker_role_arn,
  ]

  # The knowledge landing records' events go to the ingestion queue (a bucket has one notification configuration).
  raw_queue_notifications = [module.knowledge.landing_notification]

  tags = local.tags
}

################################################################################
# ETL
################################################################################

module "glue_etl" {
  source = "../../modules/glue_etl"

  name             = module.naming.name_prefix
  job_names        = module.naming.glue_job_names
  database_name    = module.naming.glue_database_name
  bucket_ids       = module.data_zones.bucket_ids
  data_kms_key_arn = module.data_zones.kms_key_arn
  logs_kms_key_arn = module.cloudwatch.kms_key_arn
  schedule_enabled = var.etl_schedule_enabled

  job_spec         = local.etl_job_spec
  job_requirements = file("${local.repository_root}/${local.etl_job_spec.requirements}")
  code_release     = var.code_release
  code_version     = local.prodml_version

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Training and registry
################################################################################

module "sagemaker" {
  source = "../../modules/sagemaker"

  name                      = module.naming.training_name
  job_name_prefix           = "${module.naming.name_prefix}-"
  bucket_ids                = module.data_zones.bucket_ids
  data_kms_key_arn          = module.data_zones.kms_key_arn
  training_log_group_arn    = module.cloudwatch.log_group_arns["training"]
  model_package_group_names = module.naming.model_package_group_names
  failure_topic_arn         = module.cloudwatch.alerts_topic_arn
  training_spec             = local.training_job_spec

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Orchestration (the closed loop: drift monitoring and retraining)
################################################################################

module "orchestration" {
  source = "../../modules/orchestration"

  name                 = module.naming.name_prefix
  state_machine_names  = module.naming.state_machine_names
  job_name_prefixes    = module.naming.job_name_prefixes
  processing_role_name = module.naming.processing_role_name
  image_parameter_name = module.naming.image_parameter_name
  log_group_name       = module.naming.orchestration_log_group_name
  etl_job_names        = module.glue_etl.job_names

  # The jobs' PRODML_* settings, as the inference service gets them.
  job_settings = {
    project = var.project
    env     = var.environment
    region  = var.region
  }

  templates_directory        = local.jobs_directory
  orchestration_spec         = local.orchestration_spec
  processing_spec            = local.processing_job_spec
  monitoring_spec            = local.monitoring_spec
  drift_alarm_event_template = "${local.jobs_directory}/drift_alarm_event.json"

  # Only where models are trained: elsewhere they are promoted, and a drift alarm only alerts.
  retrain_enabled   = length(var.promoted_from) == 0
  drift_alarm_arns  = module.cloudwatch.drift_alarm_arns
  schedules_enabled = var.orchestration_schedules_enabled

  bucket_ids               = module.data_zones.bucket_ids
  data_kms_key_arn         = module.data_zones.kms_key_arn
  ecr_repository_arn       = module.ecr.repository_arn
  training_role_arn        = module.sagemaker.role_arn
  training_instance_types  = [local.training_job_spec.instance_type]
  model_package_group_arns = module.sagemaker.model_package_group_arns

  log_group_retention_in_days = var.log_retention_in_days
  log_group_kms_key_arn       = module.cloudwatch.kms_key_arn

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Inference service
################################################################################

module "ecr" {
  source = "../../modules/ecr"

  repository_name     = module.naming.ecr_repository_name
  kms_key_arn         = module.data_zones.kms_key_arn
  force_delete        = var.force_destroy
  pull_principal_arns = [module.inference.execution_role_arn, module.orchestration.processing_role_arn, module.knowledge.worker_execution_role_arn]

  tags = local.tags
}

module "inference" {
  source = "../../modules/ecs_service"

  name            = module.naming.inference_service_name
  container_image = local.inference_image
  repository_arn  = module.ecr.repository_arn
  cpu             = var.inference_cpu
  memory          = var.inference_memory
  desired_count   = var.inference_min_capacity
  log_group_name  = module.cloudwatch.log_group_names["inference"]
  log_group_arn   = module.cloudwatch.log_group_arns["inference"]

  # The app's pydantic Settings reads these; bucket, registry and log names follow from them (prodml.naming). The
  # knowledge module adds the guardrail the Converse answerer applies.
  container_environment = merge({
    PRODML_PROJECT = var.project
    PRODML_ENV     = var.environment
    PRODML_REGION  = var.region
    PRODML_DATASET = var.inference_dataset
    }, module.knowledge.service_environment, local.inference_knowledge_base == null ? {} : {
    PRODML_KNOWLEDGE_BASE = local.inference_knowledge_base
  })

  secrets_kms_key_arn      = module.data_zones.kms_key_arn
  data_kms_key_arn         = module.data_zones.kms_key_arn
  artifacts_bucket_arn     = module.data_zones.bucket_arns["artifacts"]
  capture_bucket_arn       = module.data_zones.bucket_arns["capture"]
  model_package_group_arns = values(module.sagemaker.model_package_group_arns)

  vpc_id             = local.vpc_id
  private_subnet_ids = local.private_subnet_ids
  public_subnet_ids  = local.public_subnet_ids

  alb_certificate_arn     = var.alb_certificate_arn
  alb_deletion_protection = var.alb_deletion_protection
  alb_access_logs_bucket  = module.data_zones.access_log_bucket_id

  autoscaling_min_capacity = var.inference_min_capacity
  autoscaling_max_capacity = var.inference_max_capacity

  # Roll a deployment back when these alarm (the alarms watch the load balancer, not the service: no cycle).
  deployment_alarm_names = module.cloudwatch.deployment_alarm_names
  api_key_version        = var.inference_api_key_version

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Knowledge layer (ingestion queue and worker, guardrail, the service's knowledge grants)
################################################################################

module "knowledge" {
  source = "../../modules/knowledge"

  name                   = module.naming.name_prefix
  queue_name             = module.naming.knowledge_queue_name
  dead_letter_queue_name = module.naming.knowledge_dead_letter_queue_name
  worker_name            = module.naming.knowledge_worker_name
  guardrail_name         = module.naming.knowledge_guardrail_name
  vector_bucket_name     = module.naming.knowledge_vector_bucket_name

  knowledge_contracts  = local.knowledge_contracts
  knowledge_spec       = local.knowledge_spec
  vector_store_enabled = var.knowledge_vector_store_enabled

  # The worker's PRODML_* settings, as the inference service gets them.
  worker_settings = {
    project = var.project
    env     = var.environment
    region  = var.region
  }

  bucket_arns      = module.data_zones.bucket_arns
  data_kms_key_arn = module.data_zones.kms_key_arn

  # The worker runs the service's image on the service's cluster; the service's role gets its knowledge grants.
  container_image       = local.inference_image
  repository_arn        = module.ecr.repository_arn
  cluster_arn           = module.inference.cluster_arn
  cluster_name          = module.inference.cluster_name
  service_task_role_arn = module.inference.task_role_arn
  vpc_id                = local.vpc_id
  private_subnet_ids    = local.private_subnet_ids

  log_group_retention_in_days = var.log_retention_in_days
  log_group_kms_key_arn       = module.cloudwatch.kms_key_arn

  iam_role_permissions_boundary = module.github_oidc.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# Observability
################################################################################

module "cloudwatch" {
  source = "../../modules/cloudwatch"

  name                        = module.naming.name_prefix
  log_group_names             = module.naming.log_group_names
  log_group_retention_in_days = var.log_retention_in_days
  alerts_topic_name           = module.naming.alerts_topic_name
  alerts_email_addresses      = var.alerts_email_addresses

  load_balancer_arn_suffix   = module.inference.alb_arn_suffix
  target_group_arn_suffix    = module.inference.target_group_arn_suffix
  ecs_cluster_name           = module.inference.cluster_name
  ecs_service_name           = module.inference.service_name
  training_failure_rule_name = module.sagemaker.training_failure_rule_name

  alarm_latency_p95_threshold_ms = var.alarm_latency_p95_threshold_ms

  # One drift alarm a dataset, on the metric the drift job publishes (both from monitoring.yaml).
  drift_alarm_names           = module.naming.drift_alarm_names
  monitoring_spec             = local.monitoring_spec
  alarm_drift_score_threshold = var.alarm_drift_score_threshold

  # One cost alarm a knowledge base, and the knowledge widgets (both from knowledge.yaml).
  knowledge_spec                     = local.knowledge_spec
  knowledge_bases                    = [for contract in local.knowledge_contracts : contract.name]
  alarm_knowledge_cost_threshold_usd = var.knowledge_cost_alarm_threshold_usd

  tags = local.tags
}

################################################################################
# Deployment access (GitHub Actions)
################################################################################

module "github_oidc" {
  source = "../../modules/github_oidc"

  name                    = module.naming.name_prefix
  environment             = var.environment
  github_repository       = var.github_repository
  oidc_provider_create    = var.github_oidc_provider_create
  plan_role_enabled       = var.github_plan_role_enabled
  state_bucket_name       = var.state_bucket_name
  state_key               = var.state_key
  training_instance_types = [local.training_job_spec.instance_type]
  image_parameter_name    = module.naming.image_parameter_name
  # prodml kb ingest --land-only, eval and promote from the deploy workflow (the contracts' embedding models).
  knowledge_queue_names = {
    queue       = module.naming.knowledge_queue_name
    dead_letter = module.naming.knowledge_dead_letter_queue_name
  }
  knowledge_embedding_model_ids = distinct([for contract in local.knowledge_contracts : contract.embedding.aws.model_id])
  # The environments images and models are promoted from, by their own names (modules/naming).
  promotion_sources = [for source in module.promotion_source_naming : {
    name_prefix           = source.name_prefix
    ecr_repository_name   = source.ecr_repository_name
    artifacts_bucket_name = source.bucket_names["artifacts"]
  }]

  tags = local.tags
}
