terraform {
  # use_lockfile (S3-native state locking) needs Terraform 1.10.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Bootstrap creates the state bucket, so its own state is local: keep terraform.tfstate safe or re-import.
}

provider "aws" {
  region = var.region
}
