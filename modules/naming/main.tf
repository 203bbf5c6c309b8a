# The Terraform half of prodml.naming: `{project}-{env}-{purpose}`.
# Every resource name that the Python side also builds comes from here and nowhere else;
# tests/terraform/test_naming_parity.py evaluates these locals with Terraform and compares them with
# prodml.naming for dev and prod. Never build one of these names in another module or root.

locals {
  name_prefix = "${var.project}-${var.environment}"

  # prodml.naming.slug: datasets become hyphenated segments (customer_churn -> customer-churn).
  dataset_slugs = { for dataset in var.datasets : dataset => replace(dataset, "_", "-") }

  names = {
    name_prefix = local.name_prefix

    # prodml.naming.bucket_name, one per zone in prodml.naming.ZONES.
    bucket_names = { for zone in ["raw", "processed", "curated", "artifacts", "capture"] : zone => "${local.name_prefix}-${zone}" }

    # Terraform-only: the S3 server access log target. Python never reads it.
    access_log_bucket_name = "${local.name_prefix}-access-logs"

    # prodml.naming.glue_database_name: Athena takes only underscores in database names.
    glue_database_name = replace("${local.name_prefix}-catalog", "-", "_")

    # prodml.naming.glue_job_name
    glue_job_names = { for dataset, slug in local.dataset_slugs : dataset => "${local.name_prefix}-etl-${slug}" }

    # prodml.naming.ecr_repository_name
    ecr_repository_name = "${local.name_prefix}-inference"

    # prodml.naming.log_group_name, one per purpose in prodml.naming.LOG_GROUP_PURPOSES.
    log_group_names = { for purpose in ["etl", "training", "inference"] : purpose => "/${local.name_prefix}-${purpose}" }

    # prodml.naming.model_package_group_name
    model_package_group_names = { for dataset, slug in local.dataset_slugs : dataset => "${local.name_prefix}-${slug}" }

    # prodml.naming.image_parameter_name: the SSM parameter holding the platform image URI the jobs run.
    image_parameter_name = "/${local.name_prefix}-inference/image-uri"

    # prodml.naming.job_name_prefix: a dataset's processing jobs are <prefix>-<step>-<run id>
    # (prodml.naming.processing_job_name), its retraining's training jobs <prefix>-<run id>.
    job_name_prefixes = { for dataset, slug in local.dataset_slugs : dataset => "${local.name_prefix}-${slug}" }

    # prodml.naming.state_machine_name, one per dataset and state machine kind (orchestration.yaml).
    state_machine_names = {
      for dataset, slug in local.dataset_slugs : dataset => {
        for kind in var.state_machine_kinds : kind => "${local.name_prefix}-${slug}-${kind}"
      }
    }

    # prodml.naming.drift_alarm_name: the alarm on a dataset's overall DriftScore (its ALARM starts retraining).
    drift_alarm_names = { for dataset, slug in local.dataset_slugs : dataset => "${local.name_prefix}-${slug}-drift" }

    # prodml.naming.processing_role_name: the execution role of every processing job.
    processing_role_name = "${local.name_prefix}-processing"

    # prodml.naming.knowledge_queue_name, knowledge_dead_letter_queue_name: the raw bucket's knowledge landing
    # events go to the first; a document that cannot be ingested (or a message redriven) to the second.
    knowledge_queue_name             = "${local.name_prefix}-knowledge-ingest"
    knowledge_dead_letter_queue_name = "${local.name_prefix}-knowledge-ingest-dlq"

    # Terraform-only names of the knowledge layer: the ingestion worker (ECS service, roles, log group), the
    # Bedrock Guardrail the answerer applies, and the optional S3 Vectors bucket.
    knowledge_worker_name        = "${local.name_prefix}-knowledge-worker"
    knowledge_guardrail_name     = "${local.name_prefix}-knowledge"
    knowledge_vector_bucket_name = "${local.name_prefix}-knowledge-vectors"

    # Terraform-only names for the serving stack and alerting.
    inference_service_name = "${local.name_prefix}-inference"
    alerts_topic_name      = "${local.name_prefix}-alerts"
    training_name          = "${local.name_prefix}-training"
    # The Step Functions state machines' execution logs.
    orchestration_log_group_name = "/${local.name_prefix}-orchestration"
    network_name                 = local.name_prefix
  }
}
