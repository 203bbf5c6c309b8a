#!/usr/bin/env bash
# Point the rest of a GitHub Actions job at one applied environment:
#
#   scripts/github_job_env.sh dev    # in a job whose env sets PRODML_ENV_FILE: .prodml/env/dev.env
#
# `make tf-env ENV=<env>` writes .prodml/env/<env>.env from Terraform's outputs (names, region, URLs); then the
# environment's region goes to GITHUB_ENV as AWS_REGION and AWS_DEFAULT_REGION for the later steps. Without that,
# the region the credentials step was given (for STS) would win: an AWS_REGION in the environment takes precedence
# over the env file's PRODML_REGION in prodml's settings, and the aws CLI reads nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -eq 1 ]] || {
  echo "usage: scripts/github_job_env.sh ENV" >&2
  exit 64
}
[[ "${PRODML_ENV_FILE:-}" == ".prodml/env/$1.env" ]] || {
  echo "github_job_env.sh: the job must set PRODML_ENV_FILE=.prodml/env/$1.env (got '${PRODML_ENV_FILE:-}')" >&2
  exit 2
}
make tf-env ENV="$1"
# shellcheck source=scripts/applied_env.sh
. scripts/applied_env.sh
{
  echo "AWS_REGION=${PRODML_REGION}"
  echo "AWS_DEFAULT_REGION=${PRODML_REGION}"
} >>"${GITHUB_ENV:?GITHUB_ENV is not set: this script is for GitHub Actions jobs}"
echo "github_job_env.sh: ${PRODML_ENV} in ${PRODML_REGION}, from ${PRODML_ENV_FILE}" >&2
