################################################################################
# IAM role
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = "${var.name}-etl"
  description          = "Glue ETL jobs of ${var.name}: read raw and code, write processed and curated."
  permissions_boundary = var.iam_role_permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600

  tags = var.tags
}

# Least privilege: raw and code are read-only; only processed and curated are written.
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ListZones"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for zone in ["raw", "processed", "curated", "artifacts"] : "arn:${local.partition}:s3:::${var.bucket_ids[zone]}"]
  }

  statement {
    sid     = "ReadRawAndCode"
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "arn:${local.partition}:s3:::${var.bucket_ids["raw"]}/*",
      "arn:${local.partition}:s3:::${var.bucket_ids["artifacts"]}/code/*",
    ]
  }

  statement {
    sid     = "WriteProcessedAndCurated"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "arn:${local.partition}:s3:::${var.bucket_ids["processed"]}/*",
      "arn:${local.partition}:s3:::${var.bucket_ids["curated"]}/*",
    ]
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.data_kms_key_arn]
  }

  statement {
    sid       = "UseLogsKey"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.logs_kms_key_arn]
  }

  statement {
    sid = "CatalogTables"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
      "glue:CreatePartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
    ]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      aws_glue_catalog_database.this.arn,
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.this.name}/*",
    ]
  }

  # Glue writes job output to its own /aws-glue/ log groups, encrypted per the security configuration.
  statement {
    sid       = "JobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/*"]
  }

  statement {
    sid       = "JobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue", "prodml/etl"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "etl-zones"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
