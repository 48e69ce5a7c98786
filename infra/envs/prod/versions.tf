terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
  }

  # State in S3 with S3-native locking; bucket, key and region come from `terraform init -backend-config=...`
  # (infra/README.md), so no account-specific name is committed.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
