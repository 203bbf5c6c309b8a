#!/usr/bin/env bash
# Wait until the applied environment's inference service (PRODML_ENV_FILE) is steady on the image tagged TAG.
#
#   scripts/wait_service_stable.sh <commit sha>
#
# `aws ecs wait services-stable` alone is not enough: when the deployment circuit breaker rolls a failed
# deployment back, the service becomes stable again on the previous task definition. So this also checks that
# the primary deployment completed and runs the image that was just applied.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/applied_env.sh
. scripts/applied_env.sh

fail() {
  echo "wait_service_stable.sh: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || {
  echo "usage: scripts/wait_service_stable.sh TAG" >&2
  exit 64
}
expected="${PRODML_ECR_REPOSITORY_URL}:$1"
cluster="${PRODML_INFERENCE_CLUSTER_NAME:?PRODML_ENV_FILE has no PRODML_INFERENCE_CLUSTER_NAME}"
service="${PRODML_INFERENCE_SERVICE_NAME:?PRODML_ENV_FILE has no PRODML_INFERENCE_SERVICE_NAME}"

# The waiter gives up after 10 minutes (40 polls of 15 s); a first rollout with a health-check grace period can
# take longer, so it gets a second round before this fails.
echo "wait_service_stable.sh: waiting for ${service} in ${cluster} to be stable" >&2
aws ecs wait services-stable --cluster "$cluster" --services "$service" ||
  aws ecs wait services-stable --cluster "$cluster" --services "$service" ||
  fail "${service} did not become stable in 20 minutes (see its events: aws ecs describe-services)"

read -r rollout task_definition < <(
  aws ecs describe-services --cluster "$cluster" --services "$service" \
    --query "services[0].deployments[?status=='PRIMARY'] | [0].[rolloutState, taskDefinition]" --output text
)
[[ "$rollout" == "COMPLETED" ]] || fail "the primary deployment of ${service} is ${rollout}, not COMPLETED"
images="$(aws ecs describe-task-definition --task-definition "$task_definition" \
  --query 'taskDefinition.containerDefinitions[].image' --output text)"
[[ " ${images//$'\t'/ } " == *" ${expected} "* ]] ||
  fail "${service} is stable on ${task_definition} (${images}), not on ${expected}: the deployment was rolled back"
echo "wait_service_stable.sh: ${service} is stable on ${expected} (${task_definition})" >&2
