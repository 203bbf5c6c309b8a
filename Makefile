# prodml: `make help` lists every target. Long logic lives in scripts/ and the prodml CLI, not here.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

CONTRACT ?= contracts/customer_churn.yaml
DATA ?= data/customer_churn.csv
KB_CONTRACT ?= contracts/knowledge/prodml_docs.yaml
ENV ?= dev
PYTEST_ARGS ?=
# pytest-xdist workers (auto: one a core; 0 runs the tests in this process, in file order).
PYTEST_WORKERS ?= auto
RUN := scripts/uv.sh run --frozen --all-extras --quiet

# Local targets talk to the embedded emulator unless the caller points AWS_ENDPOINT_URL elsewhere.
# (Terraform targets must never inherit it, so it is set per target, not globally.)
LOCAL_AWS := AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install uv and the locked Python environment (uv.lock)
	@scripts/install.sh

.PHONY: demo
demo: install ## Run the pipeline end to end on the embedded AWS emulator
	@$(LOCAL_AWS) scripts/demo.sh "$(CONTRACT)" "$(DATA)"

.PHONY: demo-drift
demo-drift: install ## make demo's sequel: shifted data and traffic → drift → alarm → retraining → the service serves the new model
	@$(LOCAL_AWS) scripts/demo_drift.sh "$(CONTRACT)" "$(DATA)"

.PHONY: demo-rag
demo-rag: install ## The knowledge layer: ingest prodml's docs, build, evaluate and promote the index, serve it, ask with citations
	@$(LOCAL_AWS) scripts/demo_rag.sh "$(KB_CONTRACT)"

.PHONY: test
test: install ## Run the tests (unit + integration against real moto and gunicorn processes), a test file a core
	@$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

.PHONY: test-slow
test-slow: install ## Run only the slow tests (large files, long soaks)
	@$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile -m slow $(PYTEST_ARGS)

.PHONY: bench
bench: install ## Run the benchmarks; each prints ratios against a baseline measured in the same run
	@scripts/bench.sh $(BENCH)

.PHONY: package-etl
package-etl: install ## Build the Glue ETL job: dist/etl/glue_job.py + the prodml wheel for Python 3.9 (dist/wheels/)
	@scripts/package_etl.sh

.PHONY: glue-lock
glue-lock: install ## Re-resolve the Glue job's dependencies for Python 3.9 (pipelines/etl/glue/requirements.txt)
	@scripts/glue_lock.sh

.PHONY: lint
lint: install ## Check code style and types, shell, workflows and Terraform formatting (changes nothing)
	@scripts/lint.sh

.PHONY: format
format: install ## Fix formatting (ruff, terraform fmt)
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .
	@scripts/terraform-fmt.sh

# Terraform targets never get LOCAL_AWS: they act on the real AWS account of the caller's credentials.
.PHONY: plan
plan: install ## Terraform plan for ENV=dev|staging|prod (terraform/platform + env/<ENV>.tfvars; fails fast without AWS credentials)
	@scripts/terraform.sh plan "$(ENV)"

.PHONY: apply
apply: install ## Terraform apply for ENV after you confirm the plan; writes .prodml/env/<ENV>.env
	@scripts/terraform.sh apply "$(ENV)"

.PHONY: destroy
destroy: install ## Destroy the ENV environment (asks you to type its name; CONFIRM=<ENV> for CI)
	@scripts/terraform.sh destroy "$(ENV)"

.PHONY: tf-env
tf-env: install ## Write .prodml/env/<ENV>.env from terraform output (pass it as PRODML_ENV_FILE)
	@scripts/terraform.sh env "$(ENV)"

.PHONY: tf-format
tf-format: install ## Rewrite modules/ and terraform/ with terraform fmt
	@scripts/terraform-fmt.sh

.PHONY: emulator-up
emulator-up: install ## Start the embedded AWS emulator on 127.0.0.1:4566
	@$(LOCAL_AWS) $(RUN) prodml emulator up

.PHONY: emulator-down
emulator-down: install ## Stop the embedded AWS emulator
	@$(LOCAL_AWS) $(RUN) prodml emulator down

.PHONY: clean
clean: ## Remove local state, build output and caches (not the environment)
	rm -rf .prodml build dist .pytest_cache .ruff_cache
