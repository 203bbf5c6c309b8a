################################################################################
# OIDC provider
################################################################################

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider (created here or looked up)."
  value       = local.oidc_provider_arn
}

################################################################################
# Permissions boundary
################################################################################

output "permissions_boundary_arn" {
  description = "ARN of the permissions boundary every role of the environment must carry (pass it to each module's iam_role_permissions_boundary)."
  value       = aws_iam_policy.boundary.arn
}

################################################################################
# Deploy role
################################################################################

output "deploy_role_arn" {
  description = "ARN of the deploy role: set it as the GitHub environment variable AWS_DEPLOY_ROLE_ARN of this environment."
  value       = aws_iam_role.deploy.arn
}

################################################################################
# Plan role
################################################################################

output "plan_role_arn" {
  description = "ARN of the read-only plan role for pull requests (null when plan_role_enabled is false)."
  value       = var.plan_role_enabled ? aws_iam_role.plan[0].arn : null
}
