#!/usr/bin/env bash
# make lint: every offline check; changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
run=(scripts/uv.sh run --frozen --all-extras --quiet)

"${run[@]}" ruff check .
"${run[@]}" ruff format --check .
# Runtime boundaries (src/prodml/runtimes.py): each AWS runtime's import closure stays within what it declares,
# and the TOML that ruff and the Glue wheel read still says what runtimes.py computes; then the import contracts.
"${run[@]}" python -m prodml.runtimes check
"${run[@]}" lint-imports --no-cache --no-logo
"${run[@]}" mypy  # what it checks and how strictly: [tool.mypy] in pyproject.toml
"${run[@]}" shellcheck scripts/*.sh .ci/run
"${run[@]}" hadolint services/inference/Dockerfile
"${run[@]}" zizmor --offline --quiet .github/workflows .github/dependabot.yml
"${run[@]}" check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
"${run[@]}" check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
# checkov over the workflows and the Dockerfile (Terraform's run is in make test), offline: no guideline download
# and no platform calls. A skip is written inline where it applies (# checkov:skip=<ID>:<why>).
checkov=(env BC_SKIP_MAPPING=TRUE "${run[@]}" checkov --quiet --compact --skip-download)
"${checkov[@]}" --framework github_actions -d .github/workflows
"${checkov[@]}" --framework dockerfile -f services/inference/Dockerfile
scripts/terraform-fmt.sh --check
