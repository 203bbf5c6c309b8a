################################################################################
# Execution role
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "SageMaker training jobs of ${var.job_name_prefix}*: read processed data, write model artifacts."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600

  tags = var.tags
}

# Least privilege: processed and curated data and code are read-only; only artifacts/training/ is written.
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ListZones"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for zone in ["processed", "curated", "artifacts"] : "arn:${local.partition}:s3:::${var.bucket_ids[zone]}"]
  }

  statement {
    sid     = "ReadTrainingInputs"
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "arn:${local.partition}:s3:::${var.bucket_ids["processed"]}/*",
      "arn:${local.partition}:s3:::${var.bucket_ids["curated"]}/*",
      "arn:${local.partition}:s3:::${var.bucket_ids["artifacts"]}/code/*",
    ]
  }

  statement {
    sid       = "WriteModelArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["arn:${local.partition}:s3:::${var.bucket_ids["artifacts"]}/training/*"]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
    resources = [var.data_kms_key_arn]
  }

  # SageMaker writes container output to its own log group; the training library adds structured lines to ours.
  statement {
    sid     = "TrainingLogs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:*",
      "${var.training_log_group_arn}:*",
    ]
  }

  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*", "prodml/training"]
    }
  }

  # The sklearn framework images live in AWS-owned accounts that differ by region.
  statement {
    sid       = "PullFrameworkImage"
    actions   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "training"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
