"""`prodml train` and `prodml register` against a real moto server whose executor runs the training job as
SageMaker does: the job's own outputs (model.tar.gz, output.tar.gz, FinalMetricDataList, the log) are all
registration reads."""

from __future__ import annotations

import json
import tarfile

import pytest

from prodml import artifact, aws
from prodml.registry import ModelRegistry
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, run_prodml
from tests.training.conftest import publish_dataset

pytestmark = pytest.mark.integration


def test_a_training_job_leaves_what_sagemaker_leaves_and_registration_reads_only_that(
    training_env, churn_contract, tmp_path
):
    publish_dataset(training_env, churn_contract, rows=3000)
    result = run_prodml("train", "--contract", str(CHURN_CONTRACT), "--n-estimators", "20", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    job = summary["job"]
    s3, sm, zones = aws.client("s3", training_env), aws.client("sagemaker", training_env), Zones(training_env)
    bucket = zones.bucket("artifacts")

    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed" and described["SecondaryStatus"] == "Completed"
    # The SDK JSON-encodes every hyperparameter; the job holds those strings as it was created with them.
    assert described["HyperParameters"]["n_estimators"] == '"20"'
    definitions = {d["Name"] for d in described["AlgorithmSpecification"]["MetricDefinitions"]}
    assert "test:roc_auc" in definitions  # the spec's definitions, not moto's sample
    scraped = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(scraped) == definitions
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == zones.uri(
        bucket and "artifacts", zones.model_artifact_key(job)
    )

    model = tmp_path / "model.tar.gz"
    s3.download_file(bucket, zones.model_artifact_key(job), str(model))
    with tarfile.open(model) as tar:
        names = set(tar.getnames())
    assert {"model.joblib", "model.onnx", "metrics.json", "lineage.json", "contract.yaml"} <= names
    unpacked = artifact.unpack(model, tmp_path / "model")
    assert unpacked.lineage["dataset_version"] == "v1"
    assert unpacked.lineage["hyperparameters"]["n_estimators"] == 20
    assert unpacked.metrics["test"]["roc_auc"] == pytest.approx(scraped["test:roc_auc"], abs=1e-6)
    output = tmp_path / "output.tar.gz"
    s3.download_file(bucket, zones.output_archive_key(job), str(output))
    with tarfile.open(output) as tar:
        assert {"confusion_matrix.png", "roc_pr.png", "feature_importance.png", "report.json"} <= set(
            tar.getnames()
        )
    logs = aws.client("logs", training_env)
    (stream,) = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job}/"
    )["logStreams"]
    lines = [
        e["message"]
        for e in logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=stream["logStreamName"],
            startFromHead=True,
        )["events"]
    ]
    assert any(line.startswith("metric test:roc_auc=") for line in lines)
    # Nothing but the job's own outputs exists for the job before registration.
    assert {
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"training/{job}/output/")["Contents"]
    } == {
        zones.model_artifact_key(job),
        zones.output_archive_key(job),
    }

    registered = run_prodml("register", "--contract", str(CHURN_CONTRACT), "--job", job)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    registry = ModelRegistry(sm, training_env.model_package_group(churn_contract.name))
    (version,) = registry.versions()
    package = sm.describe_model_package(ModelPackageName=version.arn)
    metrics_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert json.loads(aws.read_s3_text(metrics_uri, training_env)) == unpacked.metrics
    lineage = json.loads(aws.read_s3_text(zones.uri("artifacts", zones.lineage_key(job)), training_env))
    assert lineage == unpacked.lineage
    report = {
        o["Key"].rsplit("/", 1)[-1]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=zones.report_prefix(job))["Contents"]
    }
    assert {"roc_pr.png", "feature_importance.png", "model_card.md", "metrics.json", "lineage.json"} <= report
    # The image the package names exists in ECR, by digest.
    image = package["InferenceSpecification"]["Containers"][0]["Image"]
    repository, digest = image.split("/", 1)[1].split("@")
    ecr = aws.client("ecr", training_env)
    assert ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])["imageDetails"]


def test_registering_a_job_that_failed_says_why(training_env, churn_contract):
    publish_dataset(training_env, churn_contract, rows=300, transform=lambda split, t: t.slice(0, 0))
    failed = run_prodml("train", "--contract", str(CHURN_CONTRACT), "--json")
    assert failed.returncode == 1
    job = json.loads(failed.stdout)["job"]
    result = run_prodml("register", "--contract", str(CHURN_CONTRACT), "--job", job)
    assert result.returncode == 1
    assert (
        f"training job {job} is Failed, not Completed" in result.stderr and "split is empty" in result.stderr
    )


def test_a_champion_that_names_no_model_artifact_is_not_compared_and_does_not_crash(
    training_env, churn_contract
):
    """A package registered by hand without an artifact may be the champion; registration used to pass its
    missing ModelDataUrl on as None and fail on it (found by mypy)."""
    publish_dataset(training_env, churn_contract, rows=600)
    sm = aws.client("sagemaker", training_env)
    group = training_env.model_package_group(churn_contract.name)
    sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="registered by hand, no artifact",
        ModelApprovalStatus="Approved",
    )
    trained = run_prodml("train", "--contract", str(CHURN_CONTRACT), "--n-estimators", "5", "--json")
    assert trained.returncode == 0, trained.stderr
    result = run_prodml(
        "register", "--contract", str(CHURN_CONTRACT), "--job", json.loads(trained.stdout)["job"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not comparable: champion v1 names no model artifact" in result.stdout
    newest = ModelRegistry(sm, group).versions()[0]
    assert newest.version == 2 and newest.status != "Approved"
