################################################################################
# Job
################################################################################

output "job_names" {
  description = "Glue job names keyed by dataset."
  value       = { for dataset, job in aws_glue_job.this : dataset => job.name }
}

output "job_arns" {
  description = "Glue job ARNs keyed by dataset."
  value       = { for dataset, job in aws_glue_job.this : dataset => job.arn }
}

output "security_configuration_name" {
  description = "Name of the Glue security configuration the jobs run with."
  value       = aws_glue_security_configuration.this.name
}

################################################################################
# Catalog
################################################################################

output "database_name" {
  description = "Name of the Glue Data Catalog database."
  value       = aws_glue_catalog_database.this.name
}

output "database_arn" {
  description = "ARN of the Glue Data Catalog database."
  value       = aws_glue_catalog_database.this.arn
}

################################################################################
# IAM role
################################################################################

output "role_arn" {
  description = "ARN of the ETL jobs' IAM role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the ETL jobs' IAM role."
  value       = aws_iam_role.this.name
}
