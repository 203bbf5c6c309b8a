# -backend-config for the staging state (scripts/terraform.sh adds the bucket, which carries the account ID, and
# the region, from env/staging.tfvars).
key = "prodml/staging/terraform.tfstate"
