#!/usr/bin/env bash
# Build what the Glue ETL job (a Glue Python shell job, Python 3.9) needs:
#   dist/etl/glue_job.py                   the script
#   dist/wheels/prodml-<version>-*.whl      the prodml modules the job runs (its import closure, prodml.runtimes)
#                                          with Python >= 3.9 metadata (pipelines/etl/glue/), for --extra-py-files
# Its dependencies are pinned for Python 3.9 in pipelines/etl/glue/requirements.txt, which Terraform (and
# `prodml bootstrap` on the emulator) passes as --additional-python-modules. `prodml ship` runs this script
# into a temporary OUT and uploads both files to s3://<artifacts>/code/releases/<release>/etl/ and wheels/
# (the deploy workflow ships after `make apply`); nothing uploads dist/.
#   scripts/package_etl.sh [OUT]   build into OUT/etl and OUT/wheels instead of dist/ (prodml ship does)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
rm -rf "$out/etl" "$out/wheels"
mkdir -p "$out/etl" "$out/wheels"
cp pipelines/etl/glue_job.py "$out/etl/glue_job.py"
scripts/uv.sh build --wheel pipelines/etl/glue --out-dir "$out/wheels" --quiet
# Check the wheel before anyone uploads it: it holds exactly the job's import closure (prodml.runtimes.GLUE,
# so nothing of cli/, training/ or emulator/), admits Python 3.9, and every dependency it declares is pinned
# in requirements.txt at a version it accepts.
scripts/uv.sh run --frozen --quiet python - "$out" <<'PY'
import glob
import sys
import zipfile
from email.parser import Parser

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from prodml.runtimes import glue_wheel_files

out = sys.argv[1]
(wheel,) = glob.glob(f"{out}/wheels/prodml-*.whl")
archive = zipfile.ZipFile(wheel)
names = set(archive.namelist())
packed = {n for n in names if not n.startswith("prodml-")}  # less the .dist-info
closure = set(glue_wheel_files())
if packed != closure:
    raise SystemExit(
        f"{wheel} is not the Glue closure (prodml.runtimes.GLUE): lacks {sorted(closure - packed)}, "
        f"has besides {sorted(packed - closure)}; write `python -m prodml.runtimes glue-wheel` into "
        "pipelines/etl/glue/pyproject.toml"
    )
stray = sorted(n for n in packed if n.startswith(("prodml/cli/", "prodml/training/", "prodml/emulator/")))
if stray:
    raise SystemExit(f"{wheel} carries what Glue never runs: {stray}")
metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
if not SpecifierSet(metadata["Requires-Python"]).contains("3.9"):
    raise SystemExit(f"{wheel} does not admit Python 3.9 (Requires-Python {metadata['Requires-Python']})")
pins = {}
for line in open("pipelines/etl/glue/requirements.txt"):
    line = line.split("#", 1)[0].strip()
    if line:
        req = Requirement(line)
        pins[canonicalize_name(req.name)] = next(iter(req.specifier)).version
environment = {"python_version": "3.9", "python_full_version": "3.9.0", "extra": ""}
for spec in metadata.get_all("Requires-Dist") or []:
    req = Requirement(spec)
    if req.marker is not None and not req.marker.evaluate(environment):
        continue
    pinned = pins.get(canonicalize_name(req.name))
    if pinned is None or not req.specifier.contains(pinned):
        raise SystemExit(
            f"{req} is not pinned to a fitting version in pipelines/etl/glue/requirements.txt "
            f"(has {pinned}); run `make glue-lock`"
        )
print(
    f"built {out}/etl/glue_job.py and {wheel} "
    f"({len(packed)} files of prodml, Python >= 3.9; {len(pins)} pinned dependencies)"
)
PY
