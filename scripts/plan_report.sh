#!/usr/bin/env bash
# `make plan ENV=<env>` for review: the saved plan, its text, and a Markdown report for a pull-request comment or a
# job summary.
#
#   scripts/plan_report.sh dev build/plan   # writes build/plan/dev.tfplan, dev.txt and dev.md
#
# The saved plan is what `TF_PLAN_FILE=build/plan/dev.tfplan make apply ENV=dev` applies after review, so what was
# approved is what changes (Terraform refuses a plan whose state moved on since).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -eq 2 ]] || {
  echo "usage: scripts/plan_report.sh ENV OUT_DIR" >&2
  exit 64
}
env_name="$1"
out_dir="$2"
mkdir -p "$out_dir"
plan_file="$(cd "$out_dir" && pwd)/${env_name}.tfplan"
text="${out_dir}/${env_name}.txt"
report="${out_dir}/${env_name}.md"

errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT
set +e
TF_PLAN_FILE="$plan_file" TF_IN_AUTOMATION=1 TF_CLI_ARGS_plan="-no-color" make plan ENV="$env_name" 2>"$errors" |
  sed -E 's/\x1b\[[0-9;]*m//g' >"$text"
status=${PIPESTATUS[0]}
set -e
cat "$errors" >&2 # init and progress: the job's log

# A PR comment holds at most 65536 characters: keep the summary and the head of the plan.
{
  echo "### Terraform plan: \`${env_name}\` ($( ((status == 0)) && echo ok || echo "FAILED, exit ${status}"))"
  echo
  grep -E '^(Plan:|No changes\.|Error:)' "$text" | sed 's/^/**/; s/$/**/' || true
  echo
  if ((status != 0)); then
    echo '```'
    tail -n 40 "$errors" | sed -E 's/\x1b\[[0-9;]*m//g'
    echo '```'
  fi
  echo "<details><summary>plan output</summary>"
  echo
  echo '```'
  head -c 60000 "$text"
  echo
  echo '```'
  echo "</details>"
} >"$report"

((status == 0)) || exit "$status"
[[ -s "$plan_file" ]] || {
  echo "plan_report.sh: make plan wrote no ${plan_file}: scripts/terraform.sh must save the plan to TF_PLAN_FILE" >&2
  exit 1
}
