#!/usr/bin/env bash
# make lint: every offline check; changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
run=(scripts/uv.sh run --frozen --all-extras --quiet)

"${run[@]}" ruff check .
"${run[@]}" ruff format --check .
"${run[@]}" mypy  # what it checks and how strictly: [tool.mypy] in pyproject.toml
"${run[@]}" shellcheck scripts/*.sh .ci/run
"${run[@]}" hadolint services/inference/Dockerfile
"${run[@]}" zizmor --offline --quiet .github/workflows
"${run[@]}" check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
scripts/terraform-fmt.sh --check
