#!/usr/bin/env bash
# Re-resolve pipelines/etl/glue/requirements.txt: the Glue ETL job's dependencies pinned for the Glue Python
# shell runtime - Python 3.9 on x86_64 Amazon Linux 2 (glibc 2.26), so binary wheels only, and only wheels
# tagged manylinux2014 (glibc 2.17) or older. Terraform passes the list as --additional-python-modules.
# Pins already in the file are kept while they still fit; delete a line to let it move.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_PYTHON_DOWNLOADS=never scripts/uv.sh pip compile pipelines/etl/glue/pyproject.toml \
  --python-version 3.9 --python-platform x86_64-manylinux_2_17 --only-binary :all: \
  --no-annotate --custom-compile-command "make glue-lock" \
  --output-file pipelines/etl/glue/requirements.txt --quiet
echo "wrote pipelines/etl/glue/requirements.txt"
