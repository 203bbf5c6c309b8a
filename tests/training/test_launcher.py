"""`prodml train --on aws` against a real moto server: the SDK-built CreateTrainingJob request is accepted and
well formed (framework image, our code, hyperparameters, metric definitions, channels, output path)."""

from __future__ import annotations

import re

import pytest

from prodml import aws
from prodml.training.launcher import FRAMEWORK_VERSION
from prodml.training.metrics import METRIC_LINE, format_metric_lines, metric_definitions
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, run_prodml
from tests.training.conftest import publish_dataset

pytestmark = pytest.mark.integration


def test_metric_definitions_match_what_the_entrypoint_prints(churn_contract):
    lines = format_metric_lines("test", {"roc_auc": 0.8123456, "log_loss": 0.41})
    definitions = {d["Name"]: d["Regex"] for d in metric_definitions(churn_contract.target.task)}
    assert float(re.search(definitions["test:roc_auc"], lines[0]).group(1)) == pytest.approx(0.812346)
    assert re.search(definitions["test:log_loss"], lines[0]) is None
    assert METRIC_LINE.match(lines[1]).group("name") == "log_loss"


def test_train_on_aws_builds_a_well_formed_sagemaker_job(training_env, churn_contract):
    publish_dataset(training_env, churn_contract, rows=300)
    result = run_prodml("train", "--on", "aws", "--contract", str(CHURN_CONTRACT), "--n-estimators", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    sm, s3, zones = aws.client("sagemaker", training_env), aws.client("s3", training_env), Zones(training_env)
    (summary,) = sm.list_training_jobs()["TrainingJobSummaries"]
    job = sm.describe_training_job(TrainingJobName=summary["TrainingJobName"])

    assert job["AlgorithmSpecification"]["TrainingImage"].endswith(
        f"sagemaker-scikit-learn:{FRAMEWORK_VERSION}-cpu-py3"
    )
    hp = job["HyperParameters"]
    # framework estimators JSON-encode values; the training toolkit decodes them into --name value args
    assert hp["n_estimators"] == '"50"' and hp["family"] == '"gradient_boosting"'
    assert hp["sagemaker_program"] == '"train.py"'
    source = hp["sagemaker_submit_directory"].strip('"')
    bucket, key = aws.split_s3_uri(source)
    assert bucket == zones.bucket("artifacts") and s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "test", "config"}
    assert channels["train"] == zones.uri("processed", zones.split_prefix(churn_contract.name, "v1", "train"))
    config = s3.list_objects_v2(
        Bucket=zones.bucket("artifacts"), Prefix=aws.split_s3_uri(channels["config"])[1]
    )
    assert {o["Key"].rsplit("/", 1)[-1] for o in config["Contents"]} >= {"contract.yaml", "run.json"}
    assert job["OutputDataConfig"]["S3OutputPath"] == zones.uri("artifacts", "training/")
    assert job["RoleArn"].endswith(":role/prodml-dev-training")
    # moto answers a fixed MetricDefinitions list, so the definitions are checked by the regex test above.


def test_requirements_pin_the_artifact_libraries_and_give_the_rest_declared_ranges():
    from importlib import metadata

    from prodml.training.launcher import ARTIFACT_LIBRARIES, requirements

    lines = requirements().splitlines()
    pinned = dict(line.split("==") for line in lines if "==" in line)
    assert pinned == {name: metadata.version(name) for name in ARTIFACT_LIBRARIES}
    ranged = {re.split(r"[<>=!~\[]", line, maxsplit=1)[0] for line in lines if "==" not in line}
    # The lock's own numpy/pandas/pyarrow/onnxruntime need Python 3.11+; the container runs 3.10.
    assert {"numpy", "pandas", "pyarrow", "onnxruntime", "matplotlib", "pydantic", "pyyaml"} <= ranged
    assert all(any(op in line for op in "<>") for line in lines if "==" not in line)
