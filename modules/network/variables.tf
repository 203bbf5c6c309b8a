################################################################################
# VPC
################################################################################

variable "name" {
  description = "Name of the VPC and prefix of its subnets, endpoints and flow logs (use modules/naming)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16 leaves room for the /24 public and /20 private subnets)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block, e.g. 10.40.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones to spread subnets over (at least two: the ALB needs two)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2
    error_message = "azs must list at least two availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper, one AZ failure domain) instead of one per AZ."
  type        = bool
  default     = false
}

################################################################################
# VPC endpoints
################################################################################

variable "interface_endpoint_services" {
  description = "Interface endpoint service suffixes (com.amazonaws.<region>.<suffix>) reachable from private subnets without NAT (bedrock-runtime: the knowledge worker's embeddings and the service's answers stay in the VPC); the S3 gateway endpoint is always created."
  type        = list(string)
  default     = ["bedrock-runtime", "ecr.api", "ecr.dkr", "logs", "monitoring", "sagemaker.api", "sagemaker.runtime", "secretsmanager", "sts"]
}

################################################################################
# Flow logs
################################################################################

variable "flow_log_retention_in_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_in_days)
    error_message = "flow_log_retention_in_days must be one of: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "flow_log_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow log group (its policy must allow the logs service)."
  type        = string
}

################################################################################
# IAM
################################################################################

variable "iam_role_permissions_boundary" {
  description = "ARN of the permissions boundary set on every IAM role this module creates (the github_oidc output permissions_boundary_arn); null for none."
  type        = string
  default     = null
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags merged into every resource."
  type        = map(string)
  default     = {}
}
