# The five data zones (raw, processed, curated, artifacts, capture) and their access-log bucket.
# Never lets a pipeline role overwrite or delete an object in the raw zone (see policies.tf).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  default_lifecycle_rule = {
    transition_to_ia_days         = 30
    transition_to_glacier_days    = 90
    expiration_days               = null
    noncurrent_version_expiration = 90
  }
  lifecycle_rules = { for zone in keys(var.bucket_names) : zone => merge(local.default_lifecycle_rule, lookup(var.lifecycle_rules, zone, {})) }
}

################################################################################
# Encryption
################################################################################

resource "aws_kms_key" "this" {
  description             = "SSE-KMS key for the ${join(", ", keys(var.bucket_names))} data zones"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  # A key policy, not an IAM policy: "*" is this key. The account administers it and grants its use
  # through the principals' own IAM policies.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersKey"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  tags = merge(var.tags, { Name = "${var.name}-data-zones" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-data-zones"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Zone buckets
################################################################################

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Zones are versioned and rebuildable from raw; cross-region replication is a per-organisation DR choice.
  for_each = var.bucket_names

  bucket        = each.value
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = each.value, Zone = each.key })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    # Bucket keys cut KMS request costs for the many small objects ETL writes.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each = aws_s3_bucket.this

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

# EventBridge sees every object event, so a raw landing can trigger ETL without bucket-to-bucket wiring. A bucket
# has one notification configuration, so the raw bucket's queue notifications (knowledge landings) are here too.
resource "aws_s3_bucket_notification" "this" {
  for_each = aws_s3_bucket.this

  bucket      = each.value.id
  eventbridge = true

  dynamic "queue" {
    for_each = each.key == "raw" ? var.raw_queue_notifications : []

    content {
      id            = queue.value.id
      queue_arn     = queue.value.queue_arn
      events        = queue.value.events
      filter_prefix = queue.value.filter_prefix
      filter_suffix = queue.value.filter_suffix
    }
  }
}
