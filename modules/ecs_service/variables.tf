################################################################################
# Service
################################################################################

variable "name" {
  description = "Name of the cluster, service, load balancer and their roles (use modules/naming inference_service_name; at most 28 characters for the ALB and target group)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,26}[a-z0-9]$", var.name))
    error_message = "name must be 2-28 lowercase letters, digits and hyphens (the target group name adds '-tg' and AWS allows 32)."
  }
}

variable "desired_count" {
  description = "Tasks to start with; autoscaling moves it between autoscaling_min_capacity and autoscaling_max_capacity afterwards."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 1
    error_message = "desired_count must be at least 1."
  }
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms that roll a deployment back when they go to ALARM during it (the cloudwatch output deployment_alarm_names: 5xx rate, unhealthy hosts). Empty: the circuit breaker alone."
  type        = list(string)
  default     = []
}

################################################################################
# Task definition
################################################################################

variable "container_image" {
  description = "Image to run, `<repository_url>:<immutable tag>` (the ecr output repository_url plus the tag CI pushed)."
  type        = string

  validation {
    condition     = can(regex("^[^:]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.container_image)) && !endswith(var.container_image, ":latest")
    error_message = "container_image must be <repository>:<tag> with an explicit tag other than latest."
  }
}

variable "repository_arn" {
  description = "ARN of the ECR repository the image comes from (the execution role may pull only from it)."
  type        = string
}

variable "container_port" {
  description = "Port the FastAPI app listens on inside the container."
  type        = number
  default     = 8080

  validation {
    condition     = var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be between 1024 and 65535 (the container runs as a non-root user)."
  }
}

variable "container_user" {
  description = "UID:GID the container runs as; never root."
  type        = string
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[1-9][0-9]*(:[1-9][0-9]*)?$", var.container_user))
    error_message = "container_user must be a non-zero numeric UID or UID:GID, e.g. 10001:10001."
  }
}

variable "cpu" {
  description = "Task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of: 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB; must be a Fargate-valid pairing with cpu."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "container_environment" {
  description = "Plain environment variables for the container (PRODML_* settings); secrets go in api_key_secret, never here."
  type        = map(string)
  default     = {}
}

variable "log_group_name" {
  description = "CloudWatch log group the container logs to (use the cloudwatch output log_group_names[\"inference\"])."
  type        = string
}

variable "log_group_arn" {
  description = "ARN of that log group."
  type        = string
}

################################################################################
# Secrets
################################################################################

variable "secrets_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the API key secret."
  type        = string
}

variable "api_key_version" {
  description = "Version of the generated API key; raise it to generate and store a new key at the next apply (a new task definition revision rolls it out). The key is write-only: never in plan or state."
  type        = number
  default     = 1

  validation {
    condition     = var.api_key_version >= 1 && floor(var.api_key_version) == var.api_key_version
    error_message = "api_key_version must be a whole number, at least 1."
  }
}

variable "api_key_secret_env_name" {
  description = "Environment variable name the API key secret is exposed as in the container."
  type        = string
  default     = "PRODML_API_KEY"
}

################################################################################
# Data access
################################################################################

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket the service reads model artifacts from (training/ prefix, where SageMaker writes model.tar.gz)."
  type        = string
}

variable "capture_bucket_arn" {
  description = "ARN of the capture bucket the service writes request/response capture to."
  type        = string
}

variable "data_kms_key_arn" {
  description = "ARN of the data-zone KMS key (artifacts read, capture write)."
  type        = string
}

variable "model_package_group_arns" {
  description = "ARNs of the model package groups the service resolves its champion from."
  type        = list(string)
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets the tasks run in (no public IPs)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets in different AZs."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets the load balancer sits in."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs at least two subnets in different AZs."
  }
}

################################################################################
# Load balancer
################################################################################

variable "alb_certificate_arn" {
  description = "ARN of the ACM certificate the HTTPS listener serves."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.alb_certificate_arn))
    error_message = "alb_certificate_arn must be an ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the load balancer on 80 (redirect only) and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for cidr in var.alb_ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "alb_ingress_cidrs must be IPv4 CIDR blocks."
  }
}

variable "alb_deletion_protection" {
  description = "Stop the load balancer being deleted (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "Bucket for ALB access logs (the s3_data_zones access_log_bucket_id, which admits ELB log delivery)."
  type        = string
}

variable "health_check_path" {
  description = "Path the target group probes: liveness (/health), not readiness, so a task with no model yet (a first deploy) stays up and answers /predict 503 no_model instead of being cycled."
  type        = string
  default     = "/health"
}

################################################################################
# Autoscaling
################################################################################

variable "autoscaling_min_capacity" {
  description = "Fewest tasks autoscaling may leave running."
  type        = number
  default     = 2

  validation {
    condition     = var.autoscaling_min_capacity >= 1
    error_message = "autoscaling_min_capacity must be at least 1."
  }
}

variable "autoscaling_max_capacity" {
  description = "Most tasks autoscaling may start."
  type        = number
  default     = 6

  validation {
    condition     = var.autoscaling_max_capacity >= var.autoscaling_min_capacity
    error_message = "autoscaling_max_capacity must be at least autoscaling_min_capacity."
  }
}

variable "autoscaling_cpu_target_percent" {
  description = "Average service CPU, in percent, that target tracking holds."
  type        = number
  default     = 60

  validation {
    condition     = var.autoscaling_cpu_target_percent > 0 && var.autoscaling_cpu_target_percent <= 100
    error_message = "autoscaling_cpu_target_percent must be in (0, 100]."
  }
}

variable "autoscaling_requests_per_target" {
  description = "ALB requests per task per minute that target tracking holds."
  type        = number
  default     = 1000

  validation {
    condition     = var.autoscaling_requests_per_target > 0
    error_message = "autoscaling_requests_per_target must be positive."
  }
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
