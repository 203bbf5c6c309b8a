################################################################################
# Repository
################################################################################

output "repository_name" {
  description = "Name of the ECR repository."
  value       = aws_ecr_repository.this.name
}

output "repository_arn" {
  description = "ARN of the ECR repository."
  value       = aws_ecr_repository.this.arn
}

output "repository_url" {
  description = "URL of the ECR repository (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), for `docker push`."
  value       = aws_ecr_repository.this.repository_url
}
