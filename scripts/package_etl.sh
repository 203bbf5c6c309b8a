#!/usr/bin/env bash
# Build what the Glue ETL job needs: dist/etl/glue_job.py (the script) and dist/wheels/prodml-*.whl (the
# library, for --additional-python-modules). `prodml etl --upload-code` copies both to
# s3://<artifacts>/code/etl/ and code/wheels/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/etl dist/wheels
mkdir -p dist/etl dist/wheels
cp pipelines/etl/glue_job.py dist/etl/glue_job.py
scripts/uv.sh build --wheel --out-dir dist/wheels --quiet
# The job imports only prodml.etl and its core deps; check the wheel carries them before anyone uploads it.
python3 - <<'PY'
import glob, zipfile
wheel = glob.glob("dist/wheels/prodml-*.whl")[0]
names = set(zipfile.ZipFile(wheel).namelist())
missing = [m for m in ("prodml/etl/job.py", "prodml/etl/process.py", "prodml/contract.py", "prodml/features.py") if m not in names]
if missing:
    raise SystemExit(f"{wheel} lacks {missing}")
print(f"built dist/etl/glue_job.py and {wheel}")
PY
