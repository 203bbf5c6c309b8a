################################################################################
# Execution role (ECS agent: pull the image, write logs, read the secret)
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name}-execution"
  description          = "ECS agent for ${var.name}: pulls the image, writes logs, reads the API key secret."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [var.repository_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  statement {
    sid       = "ReadApiKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.api_key.arn]
  }

  statement {
    sid       = "DecryptApiKeyAndImage"
    actions   = ["kms:Decrypt"]
    resources = distinct([var.secrets_kms_key_arn, var.data_kms_key_arn])
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secret"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# Task role (the app: read models and the registry, write capture, emit metrics)
################################################################################

resource "aws_iam_role" "task" {
  name                 = "${var.name}-task"
  description          = "The ${var.name} app: reads model artifacts and the registry, writes capture."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${var.artifacts_bucket_arn}/training/*"]
  }

  statement {
    sid       = "ListModelArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["training/*"]
    }
  }

  statement {
    sid       = "WriteCapture"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.capture_bucket_arn}/*"]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.data_kms_key_arn]
  }

  statement {
    sid       = "ResolveChampion"
    actions   = ["sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"]
    resources = concat(var.model_package_group_arns, [for arn in var.model_package_group_arns : "${replace(arn, ":model-package-group/", ":model-package/")}/*"])
  }

  statement {
    sid       = "EmitMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["prodml/inference"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "serve"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
