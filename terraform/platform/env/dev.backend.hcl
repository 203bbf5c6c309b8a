# -backend-config for the dev state (scripts/terraform.sh adds the bucket, which carries the account ID, and
# the region, from env/dev.tfvars).
key = "prodml/dev/terraform.tfstate"
