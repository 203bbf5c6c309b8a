"""With the job executor stopped, the stage commands start their job and wait for it, or return at once with
--no-wait; nothing runs until the executor runs it. Then the same waiting commands finish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from prodml import aws, sample_data
from prodml.emulator import Emulator
from prodml.ingest import ingest
from prodml.settings import Settings
from tests.conftest import CHURN_CONTRACT, REPO, run_prodml
from tests.training.conftest import publish_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def stopped_executor(moto_server, shipped_env):
    emulator = Emulator(Settings(endpoint_url=moto_server))
    assert emulator.executor("stop")["running"] is False
    try:
        yield emulator
    finally:
        emulator.executor("start")


def _background(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "prodml", *args],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_etl_and_train_start_jobs_that_wait_for_the_executor(
    shipped_env, churn_contract, stopped_executor, tmp_path
):
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 1500)
    ingest(data, churn_contract, shipped_env)
    s3, glue = aws.client("s3", shipped_env), aws.client("glue", shipped_env)
    processed = shipped_env.bucket("processed")

    waiting_etl = _background("etl", "--contract", str(CHURN_CONTRACT), "--json")
    time.sleep(3)
    assert waiting_etl.poll() is None, "prodml etl waits for its run"
    (run,) = glue.get_job_runs(JobName="prodml-dev-etl-customer-churn")["JobRuns"]
    assert run["JobRunState"] == "STARTING"
    assert s3.list_objects_v2(Bucket=processed).get("KeyCount", 0) == 0, "no script ran"
    # A second run is refused while the first waits: MaxConcurrentRuns 1, from the job spec.
    refused = run_prodml("etl", "--contract", str(CHURN_CONTRACT), "--no-wait")
    assert refused.returncode == 1 and "ConcurrentRunsExceededException" in refused.stderr

    publish_dataset(shipped_env, churn_contract, rows=300, version="v-train")
    started = time.monotonic()
    no_wait = run_prodml(
        "train", "--contract", str(CHURN_CONTRACT), "--no-wait", "--json", "--n-estimators", "5"
    )
    assert no_wait.returncode == 0, no_wait.stderr
    launched = json.loads(no_wait.stdout)
    assert launched["status"] == "InProgress" and time.monotonic() - started < 60
    waiting_train = _background("train", "--contract", str(CHURN_CONTRACT), "--json", "--n-estimators", "5")
    time.sleep(3)
    assert waiting_train.poll() is None, "prodml train waits for its job"
    sm = aws.client("sagemaker", shipped_env)
    assert sm.describe_training_job(TrainingJobName=launched["job"])["TrainingJobStatus"] == "InProgress"
    assert not aws.s3_object_exists(
        s3, shipped_env.bucket("artifacts"), f"training/{launched['job']}/output/model.tar.gz"
    )

    assert stopped_executor.executor("start")["running"] is True
    etl_out, etl_err = waiting_etl.communicate(timeout=300)
    assert waiting_etl.returncode == 0, etl_err
    assert json.loads(etl_out)["status"] == "committed"
    train_out, train_err = waiting_train.communicate(timeout=300)
    assert waiting_train.returncode == 0, train_err
    assert json.loads(train_out)["status"] == "Completed"
    deadline = time.monotonic() + 120
    while sm.describe_training_job(TrainingJobName=launched["job"])["TrainingJobStatus"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert sm.describe_training_job(TrainingJobName=launched["job"])["TrainingJobStatus"] == "Completed"
