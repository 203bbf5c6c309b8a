terraform {
  # use_lockfile (S3-native state locking) needs 1.10; ecs_service's write-only API key argument 1.11.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Partial configuration: key comes from env/<env>.backend.hcl, bucket (it carries the account ID) and
  # region from scripts/terraform.sh, all through -backend-config.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region
}
