"""The ETL job as the Glue Python shell runs it: `prodml etl` starts a run of the job `prodml ship` pointed at
released code, and the emulator's executor runs the released script on Python 3.9 in an environment holding
exactly the pinned --additional-python-modules, with the released prodml wheel on sys.path
(--extra-py-files). It must commit the dataset version the Python 3.11 run commits from the same raw
objects, with the same rows."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import aws, naming, sample_data
from prodml.bootstrap import bootstrap
from prodml.datasets import DatasetStore
from prodml.emulator.environments import find_python
from prodml.emulator.moto_hooks import GLUE_LOG_GROUP
from prodml.etl import code_version
from prodml.ingest import ingest
from prodml.jobs import etl_spec
from prodml.release import current_release
from prodml.settings import Settings
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, REPO, run_prodml
from tests.etl.job_runs import job_argv, run_job
from tests.runtimes import installed, timed

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PYTHON_39 = find_python("3.9")
ROWS_PER_FILE = "200"
ENVIRONMENT_LINE = re.compile(
    r"^prodml emulator: running (?P<script>\S+) with cached environment (?P<root>\S+) "
    r"\(Python (?P<python>[0-9.]+), "
)


def land(settings: Settings, contract, tmp_path: Path) -> None:
    """The same raw objects in every format ETL reads: a dirty CSV sample, JSON lines whose ids overlap it
    (duplicate ids), and parquet."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "churn.csv"
    sample_data.write_sample(contract, csv, 2000)
    jsonl = tmp_path / "more.jsonl"
    table = sample_data.generate_table(contract, 300, seed=5, id_offset=1900)
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    parquet = tmp_path / "more.parquet"
    pq.write_table(sample_data.generate_table(contract, 300, seed=9, id_offset=5000), parquet)
    for path in (csv, jsonl, parquet):
        ingest(path, contract, settings)


def committed(settings: Settings, dataset: str) -> tuple[dict, pa.Table]:
    """The committed version's manifest and every row it holds, with its split, in id order."""
    s3, zones = aws.client("s3", settings), Zones(settings)
    manifest = DatasetStore.of(s3, zones).committed(dataset).manifest
    parts = []
    for split, entry in sorted(manifest["splits"].items()):
        for key in entry["files"]:
            body = s3.get_object(Bucket=zones.bucket("processed"), Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            parts.append(table.append_column("split", pa.array([split] * table.num_rows)))
    return manifest, pa.concat_tables(parts).sort_by([("customer_id", "ascending")])


def run_log(settings: Settings, run_id: str) -> list[str]:
    logs = aws.client("logs", settings)
    events = logs.get_log_events(
        logGroupName=f"{GLUE_LOG_GROUP}/output", logStreamName=run_id, startFromHead=True
    )["events"]
    return [e["message"] for e in events]


def environment_line(lines: list[str]) -> re.Match:
    """The executor's line naming the environment it ran the script in (after the files it downloaded)."""
    found = [m for m in map(ENVIRONMENT_LINE.match, lines) if m]
    assert len(found) == 1, lines[:5]
    return found[0]


def python_of(interpreter: str, code: str, **env: str) -> str:
    return subprocess.run(
        [interpreter, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def etl() -> dict:
    result = run_prodml(
        "etl", "--contract", str(CHURN_CONTRACT), "--max-rows-per-file", ROWS_PER_FILE, "--json", timeout=1800
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(1800)  # the first run installs the 3.9 environment; later runs find it cached
def test_glue_job_runs_on_python_39_with_the_pins_and_commits_what_the_311_run_commits(
    shipped_env, churn_contract, tmp_path, pytestconfig
):
    if PYTHON_39 is None:
        pytest.skip(
            "no Python 3.9 interpreter for the executor to run the Glue job with (set PRODML_PYTHON_3_9)"
        )
    s3 = aws.client("s3", shipped_env)
    land(shipped_env, churn_contract, tmp_path / "glue")
    with timed(pytestconfig, "prodml etl through the executor (Python 3.9 environment, cached after once)"):
        glue = etl()

    # The run's log says which environment the executor ran the released script in.
    lines = run_log(shipped_env, glue["job_run_id"])
    match = environment_line(lines)
    release = current_release(s3, Zones(shipped_env))
    assert match["script"] == release["glue_script"]
    assert match["python"] == "3.9"
    python_39 = str(Path(match["root"]) / "bin" / "python")
    assert python_of(python_39, "import sys; print('%d.%d' % sys.version_info[:2])") == "3.9"

    # It holds exactly what the job's --additional-python-modules pin (the Glue lock), nothing more.
    job = aws.client("glue", shipped_env).get_job(
        JobName=naming.glue_job_name(shipped_env.project, shipped_env.env, churn_contract.name)
    )["Job"]
    assert job["Command"]["PythonVersion"] == etl_spec().python_version == "3.9"
    modules = job["DefaultArguments"]["--additional-python-modules"].split(",")
    pins = dict(m.lower().split("==") for m in modules)
    lock = (REPO / etl_spec().requirements).read_text().splitlines()
    assert pins == dict(
        line.lower().split("==") for line in lock if "==" in line and not line.startswith("#")
    )
    assert installed(python_39) == pins, "the job's environment differs from the pinned modules"

    # prodml comes from the released wheel alone: importable zipped, with the checkout's code version.
    wheel = tmp_path / Path(release["glue_wheel"]).name
    s3.download_file(*aws.split_s3_uri(release["glue_wheel"]), str(wheel))
    where = python_of(
        python_39, "import prodml.etl as e; print(e.__file__); print(e.code_version())", PYTHONPATH=str(wheel)
    ).split()
    assert where[0].startswith(str(wheel) + "/") and where[1] == code_version()
    assert glue["etl_code_version"] == where[1]

    # The same raw objects through the checkout's script on the project's Python (3.11), in buckets of their own.
    local_settings = Settings(env="py311")
    bootstrap(local_settings, [churn_contract.name])
    land(local_settings, churn_contract, tmp_path / "py311")
    with timed(pytestconfig, "the Glue script on Python 3.11 (checkout)"):
        argv = job_argv(local_settings, churn_contract)
        argv[argv.index("--max_rows_per_file") + 1] = ROWS_PER_FILE
        local = run_job(argv)

    glue_manifest, glue_rows = committed(shipped_env, churn_contract.name)
    local_manifest, local_rows = committed(local_settings, churn_contract.name)
    assert glue["status"] == local["status"] == "committed"
    assert glue["version"] == local["version"] == glue_manifest["version"] == local_manifest["version"]
    assert glue["etl_code_version"] == local["etl_code_version"]
    assert glue_manifest["rows"] == local_manifest["rows"]
    rows = glue_manifest["rows"]
    assert rows["quarantined"] and rows["exact_duplicates_dropped"] and rows["duplicate_ids_dropped"]
    assert {s: e["rows"] for s, e in glue_manifest["splits"].items()} == {
        s: e["rows"] for s, e in local_manifest["splits"].items()
    }
    assert glue_manifest["quarantine"]["rows"] == local_manifest["quarantine"]["rows"]
    assert glue_rows.equals(local_rows), "the 3.9 job wrote different rows than the 3.11 job"

    again = etl()
    assert (again["status"], again["version"]) == ("noop", glue["version"])
    assert environment_line(run_log(shipped_env, again["job_run_id"]))["root"] == match["root"]
