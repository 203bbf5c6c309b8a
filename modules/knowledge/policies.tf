################################################################################
# Policy documents
################################################################################

# Every policy of the module, as data: locals and variables only (the account, partition, region, the queues'
# and the guardrail's ARNs and the queues' key come from main.tf), so tests/terraform evaluates them offline,
# holds each role to its own grants, and checks that every grant falls inside the permissions boundary.

locals {
  arn = { for service in ["sqs", "logs", "bedrock", "s3vectors"] :
    service => "arn:${local.partition}:${service}:${local.region}:${local.account_id}"
  }
  raw_bucket_arn       = var.bucket_arns["raw"]
  artifacts_bucket_arn = var.bucket_arns["artifacts"]
  # Every knowledge object (documents, landing records, processed documents, index versions, pointers) is under
  # knowledge/ in its bucket (prodml.zones).
  knowledge_prefix = "knowledge/"
  source_account   = { StringEquals = { "aws:SourceAccount" = local.account_id } }

  # Queue ARNs follow from their names; the key's and the guardrail's are random (main.tf).
  queue_arn             = "${local.arn.sqs}:${var.queue_name}"
  dead_letter_queue_arn = "${local.arn.sqs}:${var.dead_letter_queue_name}"
  vector_index_arns     = [for kb, index in local.vector_indexes : "${local.arn.s3vectors}:bucket/${var.vector_bucket_name}/index/${index.name}"]

  ##############################################################################
  # Trust
  ##############################################################################

  ecs_tasks_trust_policy = {
    Version   = "2012-10-17"
    Statement = [{ Sid = "EcsTasks", Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole", Condition = local.source_account }]
  }

  ##############################################################################
  # Queues: only the raw bucket sends, over TLS
  ##############################################################################

  queue_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RawBucketLandingEvents"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = local.queue_arn
        Condition = {
          ArnEquals    = { "aws:SourceArn" = local.raw_bucket_arn }
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = local.queue_arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  }

  dead_letter_queue_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = local.dead_letter_queue_arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  }

  # A key policy, not an IAM policy: "*" is this key. S3 encrypts the events it sends to the queue, so it may use
  # the key for this account's raw bucket only; the account's IAM policies decide everyone else.
  queue_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "RawBucketEncryptsEvents"
        Effect    = "Allow"
        Principal = { Service = "s3.amazonaws.com" }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnEquals    = { "aws:SourceArn" = local.raw_bucket_arn }
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  }

  # The vector store's key: S3 Vectors indexes in the background as its own service principal, for this account.
  vector_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "S3VectorsIndexes"
        Effect    = "Allow"
        Principal = { Service = "indexing.s3vectors.amazonaws.com" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  }

  ##############################################################################
  # Worker task: the queue, the documents, the processed documents and index versions, the embedding models
  ##############################################################################

  worker_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        # prodml.knowledge.worker: find the queues, long-poll, delete what it handled, back off what failed.
        Sid      = "ConsumeIngestQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = local.queue_arn
      },
      {
        # A document that can never succeed goes to the dead-letter queue with its reason.
        Sid      = "DeadLetterDocuments"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = local.dead_letter_queue_arn
      },
      {
        Sid      = "UseQueueKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = local.queue_key_arn
      },
      {
        # Landing records, heads and the documents' bytes. Never a write: the raw zone is written only by landing.
        Sid      = "ReadLandedDocuments"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${local.raw_bucket_arn}/${local.knowledge_prefix}*"
      },
      {
        # Listing (heads, landed records, processed documents, versions); without it a missing key is a 403, not a 404.
        Sid       = "ListKnowledge"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [local.raw_bucket_arn, local.artifacts_bucket_arn]
        Condition = { StringLike = { "s3:prefix" = ["${local.knowledge_prefix}*"] } }
      },
      {
        Sid      = "ReadKnowledgeArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${local.artifacts_bucket_arn}/${local.knowledge_prefix}*"
      },
      {
        # Processed documents (and why one failed) and index versions, manifest last. Never CURRENT: only the
        # evaluation gate (prodml kb promote) moves what the service serves.
        Sid      = "WriteProcessedDocumentsAndIndexes"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.artifacts_bucket_arn}/${local.knowledge_prefix}*/documents/*", "${local.artifacts_bucket_arn}/${local.knowledge_prefix}*/index/*"]
      },
      {
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.data_kms_key_arn
      },
      {
        # Exactly the knowledge contracts' embedding models.
        Sid      = "EmbedDocuments"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModel"]
        Resource = local.embedding_model_arns
      },
      ], [for statement in [
        {
          Sid      = "WriteVectors"
          Effect   = "Allow"
          Action   = ["s3vectors:PutVectors", "s3vectors:DeleteVectors", "s3vectors:GetVectors", "s3vectors:ListVectors", "s3vectors:GetIndex"]
          Resource = local.vector_index_arns
        },
        {
          Sid      = "UseVectorKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = local.vector_key_arn
        },
    ] : statement if var.vector_store_enabled])
  }

  # The ECS agent: pull the platform image, write the worker's logs.
  worker_execution_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "PullImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
        Resource = var.repository_arn
      },
      {
        # The repository's images are encrypted with the data key.
        Sid      = "DecryptImage"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.data_kms_key_arn
      },
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.arn.logs}:log-group:/${var.worker_name}:*"
      },
    ]
  }

  ##############################################################################
  # Inference service task role: its knowledge grants (added to the role modules/ecs_service creates)
  ##############################################################################

  service_policy = {
    Version = "2012-10-17"
    Statement = concat([
      {
        # CURRENT, the promoted version's manifest and index file (and the newest version, for prodml kb status).
        Sid      = "ReadKnowledgeIndexes"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${local.artifacts_bucket_arn}/${local.knowledge_prefix}*"
      },
      {
        Sid       = "ListKnowledgeIndexes"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = local.artifacts_bucket_arn
        Condition = { StringLike = { "s3:prefix" = ["${local.knowledge_prefix}*"] } }
      },
      {
        # The question is embedded with the model its index was built with.
        Sid      = "EmbedQuestions"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModel"]
        Resource = local.embedding_model_arns
      },
      {
        # Converse is authorised as InvokeModel. The answer and fallback models only, and only with this
        # guardrail's version on the request: an answer never leaves Bedrock unguarded.
        Sid      = "AnswerThroughTheGuardrail"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModel"]
        Resource = local.answer_model_arns
        Condition = {
          StringEquals = { "bedrock:GuardrailIdentifier" = "${local.guardrail_arn}:${local.guardrail_version}" }
        }
      },
      {
        Sid      = "ApplyTheGuardrail"
        Effect   = "Allow"
        Action   = ["bedrock:ApplyGuardrail"]
        Resource = local.guardrail_arn
      },
      ], [for statement in [
        {
          Sid      = "QueryVectors"
          Effect   = "Allow"
          Action   = ["s3vectors:QueryVectors", "s3vectors:GetVectors"]
          Resource = local.vector_index_arns
        },
        {
          Sid      = "DecryptVectors"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = local.vector_key_arn
        },
    ] : statement if var.vector_store_enabled])
  }
}
