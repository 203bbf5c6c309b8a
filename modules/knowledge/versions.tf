terraform {
  # Validations that read other variables need 1.9; the root needs 1.11 (write-only arguments) anyway.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      # aws_bedrock_guardrail_version and aws_s3vectors_* are in the 6.x schema (6.69 checked offline).
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}
