"""`prodml etl` and the Glue job script against a real moto server: commit, catalog, no-op reruns, appends,
the quality gate, raw objects that bypassed ingest, and runs killed half-way."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prodml import aws, naming, sample_data
from prodml.datasets import DatasetStore
from prodml.etl.publish import sweep_stale_staging
from prodml.ingest import ingest
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, REPO, run_prodml
from tests.etl.helpers import HEADER, csv_text
from tests.etl.job_runs import job_argv

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(shipped_env, churn_contract, tmp_path):
    """A provisioned emulator with code shipped and 3,000 sample rows landed."""
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 3000)
    ingest(data, churn_contract, shipped_env)
    return shipped_env


def read_committed_manifest(s3, zones: Zones, dataset: str) -> dict:
    return DatasetStore.of(s3, zones).committed(dataset).manifest


def list_versions(s3, bucket: str, dataset: str) -> list[dict]:
    return DatasetStore(s3, bucket).versions(dataset)


def run_etl(settings) -> dict:
    """`prodml etl --json` as a user runs it: the job run's result."""
    result = run_prodml("etl", "--contract", str(CHURN_CONTRACT), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def split_of_ids(s3, settings, manifest) -> dict[str, str]:
    out = {}
    for split, entry in manifest["splits"].items():
        for key in entry["files"]:
            body = s3.get_object(Bucket=settings.bucket("processed"), Key=key)["Body"].read()
            out |= dict.fromkeys(pq.read_table(io.BytesIO(body)).column("customer_id").to_pylist(), split)
    return out


def test_etl_commits_a_version_registers_the_catalog_and_reruns_as_a_noop(landed, churn_contract):
    s3 = aws.client("s3", landed)
    result = run_prodml("etl", "--contract", str(CHURN_CONTRACT))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "committed version" in result.stdout and "quality gate" in result.stdout

    manifest = read_committed_manifest(s3, Zones(landed), churn_contract.name)
    rows = manifest["rows"]
    assert (
        rows["in"]
        == rows["out"]
        + rows["quarantined"]
        + rows["exact_duplicates_dropped"]
        + rows["duplicate_ids_dropped"]
    )
    assert rows["quarantined"] > 0 and rows["exact_duplicates_dropped"] > 0
    processed = landed.bucket("processed")
    for key in (manifest["quality_report"], manifest["baseline_profile"], *manifest["quarantine"]["files"]):
        s3.head_object(Bucket=processed, Key=key)
    profile = json.loads(s3.get_object(Bucket=processed, Key=manifest["baseline_profile"])["Body"].read())
    assert set(profile["numeric"]) == set(churn_contract.numeric_features)  # derived features included
    assert set(profile["categorical"]) == set(churn_contract.categorical_features)
    assert profile["rows"] == manifest["splits"]["train"]["rows"]
    hist = profile["numeric"]["signup_year"]["histogram"]
    assert sum(hist["counts"]) == profile["numeric"]["signup_year"]["count"]
    assert not keys(s3, processed, f"{churn_contract.name}/_staging/")

    glue = aws.client("glue", landed)
    job_name = naming.glue_job_name(landed.project, landed.env, churn_contract.name)
    assert glue.get_job_runs(JobName=job_name)["JobRuns"], "the run is recorded in the Glue API"
    partitions = glue.get_partitions(DatabaseName=landed.glue_database, TableName=churn_contract.name)[
        "Partitions"
    ]
    assert sorted(p["Values"][1] for p in partitions) == ["test", "train", "validation"]
    assert glue.get_table(DatabaseName=landed.glue_database, Name=f"{churn_contract.name}_quarantine")

    before = keys(s3, processed)
    again = run_etl(landed)
    assert (again["status"], again["version"]) == ("noop", manifest["version"])
    assert keys(s3, processed) == before

    listing = run_prodml("datasets", "--contract", str(CHURN_CONTRACT))
    assert manifest["version"] in listing.stdout and "latest" in listing.stdout
    shown = run_prodml("quarantine", "--contract", str(CHURN_CONTRACT), "--limit", "3")
    assert shown.returncode == 0 and "source_row" in shown.stdout and "quarantined rows" in shown.stdout


@pytest.mark.slow  # the split's stability is also unit-tested in test_dedup
def test_an_append_makes_a_new_version_and_no_row_changes_split(landed, churn_contract, tmp_path):
    s3 = aws.client("s3", landed)
    assert run_etl(landed)["status"] == "committed"
    first = read_committed_manifest(s3, Zones(landed), churn_contract.name)
    more = tmp_path / "more.csv"
    table = sample_data.generate_table(churn_contract, 500, seed=11, id_offset=3000)
    pacsv.write_csv(table, more)
    ingest(more, churn_contract, landed)
    assert run_etl(landed)["status"] == "committed"
    second = read_committed_manifest(s3, Zones(landed), churn_contract.name)
    assert second["version"] != first["version"] and len(second["raw_objects"]) == 2
    old, new = split_of_ids(s3, landed, first), split_of_ids(s3, landed, second)
    assert {i: new[i] for i in old} == old
    assert second["rows"]["out"] > first["rows"]["out"]


def test_failed_quality_gate_publishes_nothing(shipped_env, churn_contract, tmp_path):
    aws_env = shipped_env
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(*[f"C{i},-1,basic,1,2020-01-01,na,0,true,1,false" for i in range(20)]))
    ingest(bad, churn_contract, aws_env)
    result = run_prodml("etl", "--contract", str(CHURN_CONTRACT))
    assert result.returncode != 0
    assert "quality gate failed" in result.stderr and "20 of 20 rows rejected" in result.stderr
    assert "Traceback" not in result.stderr
    assert keys(aws.client("s3", aws_env), aws_env.bucket("processed")) == []


def test_a_raw_object_that_bypassed_ingest_gets_a_clear_outcome(landed, churn_contract):
    s3 = aws.client("s3", landed)
    s3.put_object(
        Bucket=landed.bucket("raw"),
        Key=f"{churn_contract.name}/manual/export.csv",
        Body=csv_text("1,2", "3,4", header="id,value").encode(),
    )
    s3.put_object(Bucket=landed.bucket("raw"), Key=f"{churn_contract.name}/manual/empty.csv", Body=b"")
    result = run_prodml("etl", "--contract", str(CHURN_CONTRACT))
    assert result.returncode == 0, result.stderr
    assert "header_mismatch" in result.stdout and "no landing record" in result.stdout
    report_key = read_committed_manifest(s3, Zones(landed), churn_contract.name)["quality_report"]
    report = json.loads(s3.get_object(Bucket=landed.bucket("processed"), Key=report_key)["Body"].read())
    outcomes = {o["name"].rsplit("/", 1)[-1]: o for o in report["objects"]}
    assert outcomes["export.csv"]["outcome"] == "header_mismatch" and outcomes["export.csv"]["rows_in"] == 2
    assert outcomes["empty.csv"]["outcome"] == "empty" and not outcomes["empty.csv"]["landed"]
    assert report["quarantined_by_reason"]["header_mismatch"] == 2


@pytest.mark.parametrize(
    "kill_when",
    [
        pytest.param("_staging/", marks=pytest.mark.slow, id="while-staging"),
        pytest.param("version=", id="while-copying"),
    ],
)
def test_a_run_killed_half_way_leaves_nothing_a_reader_takes_as_a_dataset(landed, churn_contract, kill_when):
    s3 = aws.client("s3", landed)
    processed = landed.bucket("processed")
    argv = job_argv(landed, churn_contract, job_name="kill-test")
    job = subprocess.Popen(
        argv, cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    prefix = f"{churn_contract.name}/{kill_when}"
    while time.monotonic() < deadline and job.poll() is None:
        if keys(s3, processed, prefix):
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert keys(s3, processed, prefix), "it was killed after writing output"
    assert not [k for k in keys(s3, processed) if k.endswith("_MANIFEST.json") or k.endswith("_LATEST")]
    with pytest.raises(LookupError):
        read_committed_manifest(s3, Zones(landed), churn_contract.name)
    assert all(v["manifest"] is None for v in list_versions(s3, processed, churn_contract.name))

    rerun = subprocess.run(argv, cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    manifest = read_committed_manifest(s3, Zones(landed), churn_contract.name)
    assert manifest["rows"]["in"] > 0
    committed = keys(s3, processed, f"{churn_contract.name}/version={manifest['version']}/")
    assert sorted(f for e in manifest["splits"].values() for f in e["files"]) == sorted(
        k for k in committed if "/split=" in k
    ), "a rerun rewrites the same keys: no duplicate output"
    # The killed run's staging is kept for a day (it might be a live run), then swept.
    assert (
        sweep_stale_staging(s3, processed, churn_contract.name, older_than=timedelta(0))
        or kill_when != "_staging/"
    )
    assert not keys(s3, processed, f"{churn_contract.name}/_staging/")


def test_job_script_rejects_missing_arguments_clearly():
    result = subprocess.run(
        [sys.executable, str(REPO / "pipelines" / "etl" / "glue_job.py"), "--JOB_NAME", "x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "required" in result.stderr


def test_header_of_helpers_matches_the_contract(churn_contract):
    assert HEADER.split(",") == churn_contract.raw_columns


def test_etl_help():
    result = run_prodml("etl", "--help")
    assert result.returncode == 0 and "--no-wait" in result.stdout and "--json" in result.stdout
