################################################################################
# State bucket
################################################################################

output "state_bucket_name" {
  description = "Name of the state bucket; scripts/terraform.sh passes it to `terraform init -backend-config`."
  value       = aws_s3_bucket.this.id
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.this.arn
}

output "state_kms_key_arn" {
  description = "ARN of the KMS key that encrypts state."
  value       = aws_kms_key.this.arn
}
