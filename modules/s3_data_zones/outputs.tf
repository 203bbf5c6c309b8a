################################################################################
# Buckets
################################################################################

output "bucket_ids" {
  description = "Bucket names keyed by zone."
  value       = { for zone, bucket in aws_s3_bucket.this : zone => bucket.id }
}

output "bucket_arns" {
  description = "Bucket ARNs keyed by zone."
  value       = { for zone, bucket in aws_s3_bucket.this : zone => bucket.arn }
}

output "access_log_bucket_id" {
  description = "Name of the S3 server access log bucket."
  value       = aws_s3_bucket.access_logs.id
}

output "access_log_bucket_arn" {
  description = "ARN of the S3 server access log bucket."
  value       = aws_s3_bucket.access_logs.arn
}

################################################################################
# Encryption
################################################################################

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the data zones."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the customer-managed KMS key that encrypts the data zones."
  value       = aws_kms_key.this.key_id
}
