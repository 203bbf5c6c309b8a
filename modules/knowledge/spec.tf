################################################################################
# Knowledge bases
################################################################################

# What the knowledge contracts (var.knowledge_contracts, read by the root from contracts/knowledge/*.yaml) and
# src/prodml/jobs/knowledge.yaml (var.knowledge_spec) make of this module: the Bedrock models each role may
# invoke, by foundation-model ARN, and the worker's container. Locals and variables only (the partition and
# region come from main.tf), so tests/terraform evaluates this file offline.

locals {
  # Each knowledge base's models, by its name.
  knowledge_bases = { for contract in var.knowledge_contracts : contract.name => {
    embedding_model_id   = contract.embedding.aws.model_id
    embedding_dimensions = contract.embedding.aws.dimensions
    answer_model_id      = contract.answer.generation.model_id
    fallback_model_id    = contract.answer.generation.fallback_model_id
  } }
  knowledge_base_names = sort(keys(local.knowledge_bases))

  # arn:<partition>:bedrock:<region>::foundation-model/<id>: AWS's models, in no account.
  foundation_model_arn = "arn:${local.partition}:bedrock:${local.region}::foundation-model"

  # The worker embeds documents; the service embeds questions (the index is queried with the model it was built
  # with) and answers with the primary model or, when that route fails, the fallback.
  embedding_model_arns = sort(distinct([for kb in local.knowledge_base_names : "${local.foundation_model_arn}/${local.knowledge_bases[kb].embedding_model_id}"]))
  answer_model_arns = sort(distinct(flatten([for kb in local.knowledge_base_names : [
    "${local.foundation_model_arn}/${local.knowledge_bases[kb].answer_model_id}",
    "${local.foundation_model_arn}/${local.knowledge_bases[kb].fallback_model_id}",
  ]])))

  # The inference service's environment: which guardrail version the Converse answerer applies (the names are
  # knowledge.yaml's service_environment, the prodml Settings fields that read them).
  service_environment = {
    (var.knowledge_spec.service_environment.guardrail_identifier) = local.guardrail_arn
    (var.knowledge_spec.service_environment.guardrail_version)    = local.guardrail_version
  }

  worker_container_name = "worker"

  # One index a knowledge base in the optional S3 Vectors bucket; index names take hyphens, not underscores.
  vector_indexes = var.vector_store_enabled ? {
    for kb in local.knowledge_base_names : kb => {
      name       = replace(kb, "_", "-")
      dimensions = local.knowledge_bases[kb].embedding_dimensions
    }
  } : {}
}
