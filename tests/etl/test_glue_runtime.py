"""The ETL job as the Glue Python shell runs it: Python 3.9, the pinned --additional-python-modules, the
prodml wheel from `make package-etl` (--extra-py-files) and the packaged script, started by the same runner
and with the same arguments as `prodml etl`, against a real moto server. It must commit the dataset version
the Python 3.11 run commits from the same raw objects, with the same rows."""

from __future__ import annotations

import io
import json
import platform
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prodml
from prodml import aws, sample_data
from prodml.bootstrap import bootstrap
from prodml.cli.etl import GLUE_REQUIREMENTS, GLUE_SCRIPT, _job_env, glue_python_modules, run_etl
from prodml.etl import code_version
from prodml.ingest import ingest
from prodml.settings import Settings
from prodml.zones import Zones, read_committed_manifest
from tests.conftest import REPO
from tests.runtimes import find_python, installed, make_venv, timed

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PYTHON_39 = find_python("3.9")
# The wheels Glue's pip picks on Amazon Linux 2 (glibc 2.26): manylinux2014 builds, never an sdist.
GLUE_PLATFORM = (
    ("--python-platform", "x86_64-manylinux_2_17", "--only-binary", ":all:")
    if platform.machine() == "x86_64"
    else ()
)


@pytest.fixture(scope="module")
def glue_runtime(tmp_path_factory, pytestconfig):
    """`make package-etl` output and a Python 3.9 environment holding exactly what the Glue job installs."""
    if PYTHON_39 is None:
        pytest.skip("no Python 3.9 interpreter to stand in for the Glue Python shell (set PRODML_PYTHON_3_9)")
    out = tmp_path_factory.mktemp("package")
    with timed(pytestconfig, "Glue Python 3.9 environment (package-etl + pinned modules + wheel)"):
        subprocess.run([str(REPO / "scripts" / "package_etl.sh"), str(out)], check=True, capture_output=True)
        (wheel,) = (out / "wheels").glob("prodml-*.whl")
        python = make_venv(
            PYTHON_39,
            tmp_path_factory.mktemp("glue") / "venv",
            *GLUE_PLATFORM,
            "-r",
            str(GLUE_REQUIREMENTS),
            str(wheel),
        )
    return python, out / "etl" / "glue_job.py", wheel


def run_python(python: str, code: str, settings: Settings) -> str:
    """stdout of ``python -c code`` in the job's environment."""
    return subprocess.run(
        [python, "-c", code], env=_job_env(settings), capture_output=True, text=True, check=True
    ).stdout


def land(settings: Settings, contract, tmp_path) -> None:
    """The same raw objects in every format ETL reads: a dirty CSV sample, JSON lines whose ids overlap it
    (duplicate ids), and parquet."""
    csv = tmp_path / "churn.csv"
    sample_data.write_sample(contract, csv, 2000)
    jsonl = tmp_path / "more.jsonl"
    table = sample_data.generate_table(contract, 300, seed=5, id_offset=1900)
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    parquet = tmp_path / "more.parquet"
    pq.write_table(sample_data.generate_table(contract, 300, seed=9, id_offset=5000), parquet)
    bootstrap(settings, [contract.name])
    for path in (csv, jsonl, parquet):
        ingest(path, contract, settings)


def committed_rows(settings: Settings, manifest: dict) -> pa.Table:
    s3, bucket = aws.client("s3", settings), settings.bucket("processed")
    parts = []
    for split, entry in sorted(manifest["splits"].items()):
        for key in entry["files"]:
            table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
            parts.append(table.append_column("split", pa.array([split] * table.num_rows)))
    return pa.concat_tables(parts).sort_by([("customer_id", "ascending")])


def test_glue_job_on_python_39_commits_the_version_and_rows_of_the_311_run(
    glue_runtime, aws_env, churn_contract, tmp_path, pytestconfig
):
    python_39, packaged_script, _ = glue_runtime
    # The job imports prodml from what Glue installed, not from this checkout.
    where = run_python(python_39, "import sys, prodml; print(sys.version_info[:2], prodml.__file__)", aws_env)
    assert where.startswith("(3, 9)") and "site-packages" in where and str(REPO / "src") not in where

    runs = {}
    for env, python, script in (
        ("glue39", python_39, packaged_script),
        ("py311", sys.executable, GLUE_SCRIPT),
    ):
        settings = Settings(env=env)
        land(settings, churn_contract, tmp_path / env)
        with timed(pytestconfig, f"ETL job on Python {'3.9' if env == 'glue39' else '3.11'}"):
            result = run_etl(churn_contract, settings, python=python, script=script)
        manifest = read_committed_manifest(aws.client("s3", settings), Zones(settings), churn_contract.name)
        runs[env] = result, manifest, committed_rows(settings, manifest)

    (glue, glue_manifest, glue_rows), (local, local_manifest, local_rows) = runs["glue39"], runs["py311"]
    assert glue["status"] == local["status"] == "committed"
    assert glue["version"] == local["version"] == glue_manifest["version"]
    assert glue["etl_code_version"] == local["etl_code_version"]
    assert glue["report"]["rows"] == local["report"]["rows"]
    rows = glue["report"]["rows"]
    assert rows["quarantined"] and rows["exact_duplicates_dropped"] and rows["duplicate_ids_dropped"]
    assert {s: e["rows"] for s, e in glue_manifest["splits"].items()} == {
        s: e["rows"] for s, e in local_manifest["splits"].items()
    }
    assert glue_manifest["quarantine"]["rows"] == local_manifest["quarantine"]["rows"]
    assert glue_rows.equals(local_rows), "the 3.9 job wrote different rows than the 3.11 job"

    again = run_etl(churn_contract, Settings(env="glue39"), python=python_39, script=packaged_script)
    assert (again["status"], again["version"]) == ("noop", glue["version"])


def test_the_glue_environment_is_exactly_the_pinned_modules_plus_the_wheel(glue_runtime):
    python_39, _, _ = glue_runtime
    pins = dict(line.lower().split("==") for line in glue_python_modules())
    have = installed(python_39)
    assert have.pop("prodml").endswith(f"prodml-{prodml.__version__}-py3-none-any.whl")
    assert have == pins, "installing the wheel added or changed a dependency the pins do not list"


def test_the_job_also_runs_with_the_wheel_only_on_sys_path(
    glue_runtime, aws_env, churn_contract, tmp_path, tmp_path_factory, pytestconfig, monkeypatch
):
    """Glue's documentation does not promise that --extra-py-files wheels are pip-installed rather than
    put on sys.path as zips; the job must work either way (zipimport: no package file is on disk)."""
    _, packaged_script, wheel = glue_runtime
    with timed(pytestconfig, "Glue Python 3.9 environment without the wheel"):
        python = make_venv(
            PYTHON_39,
            tmp_path_factory.mktemp("glue-zip") / "venv",
            *GLUE_PLATFORM,
            "-r",
            str(GLUE_REQUIREMENTS),
        )
    monkeypatch.setenv("PYTHONPATH", str(wheel))
    where = run_python(
        python, "import prodml.etl as e; print(e.__file__); print(e.code_version())", aws_env
    ).split()
    assert where[0].startswith(str(wheel) + "/"), where  # imported from inside the zip
    assert where[1] == code_version()

    settings = Settings(env="gluezip")
    land(settings, churn_contract, tmp_path)
    result = run_etl(churn_contract, settings, python=python, script=packaged_script)
    assert result["status"] == "committed" and result["etl_code_version"] == code_version()
