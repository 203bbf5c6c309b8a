#!/usr/bin/env bash
# Sourced by the deploy scripts: the applied environment's names and region, from the env file `make apply` (or
# `make tf-env`) wrote from `terraform output` (PRODML_ENV_FILE, e.g. .prodml/env/dev.env). Never a default: a
# deploy step that guessed a name or a region would act on the wrong environment.
# shellcheck shell=bash

applied_env_fail() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

[[ -n "${PRODML_ENV_FILE:-}" ]] || applied_env_fail "PRODML_ENV_FILE is not set (make tf-env ENV=<env> writes .prodml/env/<env>.env)"
[[ -s "$PRODML_ENV_FILE" ]] || applied_env_fail "${PRODML_ENV_FILE} is missing or empty: run make tf-env ENV=<env> (or make apply)"
set -a
# shellcheck disable=SC1090 # the file is written at deploy time by scripts/terraform.sh
. "$PRODML_ENV_FILE"
set +a
for applied_env_key in PRODML_ENV PRODML_REGION PRODML_ECR_REPOSITORY_URL; do
  [[ -n "${!applied_env_key:-}" ]] || applied_env_fail "${PRODML_ENV_FILE} has no ${applied_env_key}"
done
unset applied_env_key
# Every AWS call in these scripts goes to the environment's region, whatever the credentials step was given.
export AWS_REGION="$PRODML_REGION" AWS_DEFAULT_REGION="$PRODML_REGION"
