# GitHub Actions' way into one environment: the account's GitHub OIDC provider (created here or looked up),
# a deploy role only that environment's GitHub environment can assume, a read-only plan role for pull
# requests, and the permissions boundary every role of the environment carries. Never creates a user or a
# long-lived key; neither role may change the roles, the provider or the boundary (an administrator applies
# those), nor create a role without the boundary.
#
# The policy documents are built in policies.tf from locals and variables only, so tests/terraform evaluates
# them offline; this file supplies what needs the provider.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  oidc_provider_arn = var.oidc_provider_create ? aws_iam_openid_connect_provider.this[0].arn : data.aws_iam_openid_connect_provider.this[0].arn
}

################################################################################
# OIDC provider
################################################################################

# One per account: the environment applied first in an account creates it, the others look it up.
resource "aws_iam_openid_connect_provider" "this" {
  count = var.oidc_provider_create ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = [local.oidc_audience]

  tags = merge(var.tags, { Name = "github-actions" })
}

data "aws_iam_openid_connect_provider" "this" {
  count = var.oidc_provider_create ? 0 : 1

  url = "https://${local.oidc_host}"
}

################################################################################
# Permissions boundary
################################################################################

resource "aws_iam_policy" "boundary" {
  #checkov:skip=CKV_AWS_286:A boundary is a ceiling, never a grant; its Deny statements are what stop escalation (no role without it, guardrails untouchable).
  #checkov:skip=CKV_AWS_287:A boundary is a ceiling, never a grant; each role's own policy decides what it may read.
  #checkov:skip=CKV_AWS_288:A boundary is a ceiling, never a grant; each role's own policy scopes its reads to this environment.
  #checkov:skip=CKV_AWS_289:A boundary is a ceiling, never a grant; IAM writes beyond it are denied by its own Deny statements.
  #checkov:skip=CKV_AWS_290:A boundary is a ceiling, never a grant; each role's own policy scopes its writes to <name>-* resources.
  #checkov:skip=CKV_AWS_355:A boundary's Resource "*" bounds every role of the environment; the roles' own policies name resources.
  name        = local.boundary_name
  description = "Ceiling for every ${var.name} role: the platform's services only; no role without this boundary; the GitHub roles, the OIDC provider and this policy are out of reach."
  policy      = jsonencode(local.boundary_policy)

  tags = var.tags
}

################################################################################
# Read policy
################################################################################

resource "aws_iam_policy" "read" {
  name        = local.read_policy_name
  description = "What terraform plan of ${var.name} reads: resource metadata, bucket configuration, its own state."
  policy      = jsonencode(local.read_policy)

  tags = var.tags
}

################################################################################
# Deploy role
################################################################################

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_role_name
  description          = "GitHub Actions in environment ${var.environment} of ${var.github_repository}: make apply, image push, prodml ship, training."
  assume_role_policy   = jsonencode(local.deploy_trust_policy)
  permissions_boundary = aws_iam_policy.boundary.arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "deploy_read" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.read.arn
}

resource "aws_iam_role_policy" "deploy_terraform" {
  name   = "terraform-apply"
  role   = aws_iam_role.deploy.id
  policy = jsonencode(local.deploy_terraform_policy)
}

resource "aws_iam_role_policy" "deploy_release" {
  name   = "release-and-train"
  role   = aws_iam_role.deploy.id
  policy = jsonencode(local.deploy_release_policy)
}

################################################################################
# Plan role
################################################################################

resource "aws_iam_role" "plan" {
  count = var.plan_role_enabled ? 1 : 0

  name                 = local.plan_role_name
  description          = "GitHub Actions pull requests of ${var.github_repository}: read-only make plan of ${var.name}."
  assume_role_policy   = jsonencode(local.plan_trust_policy)
  permissions_boundary = aws_iam_policy.boundary.arn
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read" {
  count = var.plan_role_enabled ? 1 : 0

  role       = aws_iam_role.plan[0].name
  policy_arn = aws_iam_policy.read.arn
}
