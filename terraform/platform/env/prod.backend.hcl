# -backend-config for the prod state (scripts/terraform.sh adds the bucket, which carries the account ID, and
# the region, from env/prod.tfvars).
key = "prodml/prod/terraform.tfstate"
