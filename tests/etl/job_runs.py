"""Run the Glue job script as a separate process, as Glue (or `prodml etl`) would, for the ETL tests."""

from __future__ import annotations

import json
import subprocess
import sys

from prodml import aws
from prodml.etl.job import EVENT_PREFIX
from tests.conftest import CHURN_CONTRACT, REPO


def job_argv(settings, contract, job_name: str = "etl-test") -> list[str]:
    """The job's command line; uploads the contract it names."""
    s3 = aws.client("s3", settings)
    key = f"code/contracts/{contract.name}.yaml"
    s3.put_object(Bucket=settings.bucket("artifacts"), Key=key, Body=CHURN_CONTRACT.read_bytes())
    return [
        sys.executable,
        str(REPO / "pipelines" / "etl" / "glue_job.py"),
        "--JOB_NAME", job_name,
        "--dataset", contract.name,
        "--raw_uri", f"s3://{settings.bucket('raw')}/{contract.name}/",
        "--processed_uri", f"s3://{settings.bucket('processed')}/",
        "--contract_uri", f"s3://{settings.bucket('artifacts')}/{key}",
        "--glue_database", settings.glue_database,
        "--max_rows_per_file", "200",
    ]  # fmt: skip


def run_job(argv: list[str], env: dict | None = None) -> dict:
    """Run the job to its end; returns its result event."""
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    events = [
        json.loads(line[len(EVENT_PREFIX) :])
        for line in done.stdout.splitlines()
        if line.startswith(EVENT_PREFIX)
    ]
    results = [e for e in events if e["event"] == "result"]
    assert results, f"no result (exit {done.returncode}): {done.stderr}"
    return results[-1]
