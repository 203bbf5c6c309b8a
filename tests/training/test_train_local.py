"""`prodml train` (local runner) against a real moto server: the artifact, the recorded job, the report."""

from __future__ import annotations

import json
import tarfile

import pytest

from prodml import artifact, aws
from prodml.zones import Zones
from tests.conftest import run_prodml
from tests.training.conftest import publish_dataset

pytestmark = pytest.mark.integration
FAST = ("--n-estimators", "20")


def test_train_local_writes_artifact_lineage_report_and_job(training_env, churn_contract, tmp_path):
    publish_dataset(training_env, churn_contract, rows=3000)
    result = run_prodml("train", "--contract", "contracts/customer_churn.yaml", *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "metric test:roc_auc=" in result.stdout

    s3, sm, zones = aws.client("s3", training_env), aws.client("sagemaker", training_env), Zones(training_env)
    jobs = sm.list_training_jobs()["TrainingJobSummaries"]
    assert len(jobs) == 1
    job = jobs[0]["TrainingJobName"]
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["HyperParameters"]["family"] == "gradient_boosting"
    assert described["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith(
        "version=v1/split=train/"
    )

    tarball = tmp_path / "model.tar.gz"
    s3.download_file(zones.bucket("artifacts"), zones.model_artifact_key(job), str(tarball))
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {
        "model.joblib",
        "model.onnx",
        "metrics.json",
        "lineage.json",
        "baseline_profile.json",
        "contract.yaml",
    } <= names
    unpacked = artifact.unpack(tarball, tmp_path / "model")
    assert unpacked.lineage["dataset_version"] == "v1"
    assert unpacked.lineage["contract_fingerprint"] == churn_contract.fingerprint
    assert unpacked.lineage["hyperparameters"]["n_estimators"] == 20
    assert unpacked.lineage["packages"]["scikit-learn"]
    assert unpacked.lineage["git_sha"]
    assert unpacked.metrics["onnx_parity"]["passed"] is True
    assert unpacked.metrics["test"]["roc_auc"] > 0.6
    beside = json.loads(
        s3.get_object(Bucket=zones.bucket("artifacts"), Key=zones.lineage_key(job))["Body"].read()
    )
    assert beside["files"] == unpacked.lineage["files"]

    report = s3.list_objects_v2(Bucket=zones.bucket("artifacts"), Prefix=zones.report_prefix(job))
    report_names = {obj["Key"].rsplit("/", 1)[-1] for obj in report["Contents"]}
    assert {"confusion_matrix.png", "roc_pr.png", "feature_importance.png", "model_card.md"} <= report_names
