#!/usr/bin/env bash
# Smoke-test the applied environment's inference service (PRODML_ENV_FILE) through its load balancer, as a client
# sees it: GET /health, GET /ready and one POST /predict.
#
#   scripts/smoke_test.sh
#
# What "healthy" means depends on the model registry, asked here (not the service):
#   - an Approved version in the served dataset's model package group: /health, /ready and /predict answer 200;
#   - none yet (a first deploy, before any model was approved or promoted): /health answers 200, /ready 503 and
#     /predict 503 with error code `no_model`. Anything else fails.
# The /predict body is the service's own example from /openapi.json (made from the serving contract).
# TLS is verified. When the URL is the load balancer's own DNS name (never on its certificate), requests name a
# domain of the certificate it serves and are sent to the load balancer's address.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/applied_env.sh
. scripts/applied_env.sh

fail() {
  echo "smoke_test.sh: FAIL: $*" >&2
  exit 1
}

url="${PRODML_INFERENCE_URL:?PRODML_ENV_FILE has no PRODML_INFERENCE_URL}"
url="${url%/}"
connect=()
alb_host="${url#https://}"
alb_host="${alb_host%%/*}"
if [[ "$url" == https://* && "$alb_host" == *.elb.amazonaws.com ]]; then
  domain="$(openssl s_client -connect "${alb_host}:443" -servername "$alb_host" </dev/null 2>/dev/null |
    openssl x509 -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^,[:space:]]*' | head -n 1 | cut -d: -f2)" ||
    true
  [[ -n "$domain" ]] || fail "no certificate with a DNS name on https://${alb_host}"
  domain="${domain/#\*/smoke}" # a wildcard certificate covers any one label
  connect=(--connect-to "${domain}:443:${alb_host}:443")
  url="https://${domain}"
fi

api_key="$(aws secretsmanager get-secret-value --secret-id "${PRODML_API_KEY_SECRET_ARN:?no PRODML_API_KEY_SECRET_ARN}" \
  --query SecretString --output text)"
[[ -z "${GITHUB_ACTIONS:-}" ]] || echo "::add-mask::${api_key}"

# The dataset the running task serves (its PRODML_DATASET), and that dataset's group named the one way prodml does.
task_definition="$(aws ecs describe-services --cluster "$PRODML_INFERENCE_CLUSTER_NAME" \
  --services "$PRODML_INFERENCE_SERVICE_NAME" --query 'services[0].taskDefinition' --output text)"
dataset="$(aws ecs describe-task-definition --task-definition "$task_definition" \
  --query "taskDefinition.containerDefinitions[].environment[] | [?name=='PRODML_DATASET'].value | [0]" --output text)"
[[ -n "$dataset" && "$dataset" != "None" ]] || fail "${task_definition} sets no PRODML_DATASET"
group="$(scripts/uv.sh run --frozen --all-extras --quiet python -c \
  'import sys; from prodml.settings import get_settings; print(get_settings().model_package_group(sys.argv[1]))' \
  "$dataset")"
approved="$(aws sagemaker list-model-packages --model-package-group-name "$group" \
  --model-approval-status Approved --max-results 1 --query 'length(ModelPackageSummaryList)' --output text)"

body="$(mktemp)"
trap 'rm -f "$body"' EXIT
status=""

# request METHOD PATH [JSON]: sets $status, leaves the response body in $body.
request() {
  local args=(-sS -o "$body" -w '%{http_code}' --max-time 15 "${connect[@]}" -X "$1" -H "X-API-Key: ${api_key}")
  [[ $# -lt 3 ]] || args+=(-H 'Content-Type: application/json' --data "$3")
  status="$(curl "${args[@]}" "${url}$2")" || status="000"
}

# expect STATUS METHOD PATH [JSON]: retries for up to 5 minutes (a new task may still be loading the model).
expect() {
  local want="$1" deadline=$((SECONDS + 300))
  shift
  while :; do
    request "$@"
    [[ "$status" == "$want" ]] && break
    ((SECONDS < deadline)) || fail "$1 $2 answered ${status}, expected ${want}: $(head -c 500 "$body")"
    sleep 10
  done
  echo "smoke_test.sh: $1 $2 -> ${status}" >&2
}

expect 200 GET /health
if ((approved > 0)); then
  echo "smoke_test.sh: ${group} has an Approved version: the service must serve it" >&2
  expect 200 GET /ready
else
  echo "smoke_test.sh: ${group} has no Approved version yet (first deploy): expecting no_model" >&2
  expect 503 GET /ready
fi
request GET /openapi.json
[[ "$status" == 200 ]] || fail "GET /openapi.json answered ${status}"
example="$(jq -c '.paths["/predict"].post.requestBody.content["application/json"].example // {}' "$body")"
if ((approved > 0)); then
  expect 200 POST /predict "$example"
  jq -e '.model_version != null' "$body" >/dev/null || fail "POST /predict answered 200 without a model_version"
else
  expect 503 POST /predict "$example"
  code="$(jq -r '.error.code' "$body")"
  [[ "$code" == "no_model" ]] || fail "POST /predict answered 503 with error code ${code}, expected no_model"
fi
echo "smoke_test.sh: ${PRODML_ENV} passed (${url})" >&2
