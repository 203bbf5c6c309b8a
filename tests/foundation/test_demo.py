"""`prodml demo` end to end, as `make demo` runs it: every stage on the emulator, the jobs executed by its
executor from shipped code, then the approved model served by gunicorn."""

from __future__ import annotations

import pytest

from prodml import aws, sample_data
from prodml.registry import ModelRegistry
from tests.conftest import CHURN_CONTRACT, run_prodml

pytestmark = pytest.mark.integration


def test_demo_runs_every_stage_end_to_end(aws_env, churn_contract, tmp_path):
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 4000)
    result = run_prodml("demo", "--contract", str(CHURN_CONTRACT), "--data", str(data), timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    out = result.stdout
    for step in ("emulator", "bootstrap", "ingest", "ship", "etl", "train", "register", "serve"):
        assert f" {step} " in out or f" {step}\n" in out, f"no {step} step"
    assert "demo complete" in out
    assert "started Glue job prodml-dev-etl-customer-churn run jr_" in out
    assert "started SageMaker training job prodml-dev-customer-churn-" in out
    assert "POST /predict (contract example) → 200" in out

    glue, sm = aws.client("glue", aws_env), aws.client("sagemaker", aws_env)
    (run,) = glue.get_job_runs(JobName="prodml-dev-etl-customer-churn")["JobRuns"]
    assert run["JobRunState"] == "SUCCEEDED" and "/code/releases/" in run["Arguments"]["--extra-py-files"]
    (job,) = sm.list_training_jobs()["TrainingJobSummaries"]
    assert job["TrainingJobStatus"] == "Completed"
    champion = ModelRegistry(sm, aws_env.model_package_group(churn_contract.name)).champion()
    assert champion is not None and job["TrainingJobName"] in champion.model_data_url
