"""`prodml train --no-wait` against a real moto server: the SDK-built CreateTrainingJob request is accepted and
well formed (framework image and metric definitions from the job spec, the current release's code,
hyperparameters, channels, config, output path, role). The emulator's executor is stopped meanwhile, so the
job is checked as it was created, before anything runs it."""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlparse

import pytest

from prodml import aws, naming
from prodml.datasets import DatasetStore
from prodml.emulator import Emulator
from prodml.emulator.sagemaker import image_python
from prodml.jobs import training_spec
from prodml.release import current_release
from prodml.settings import Settings
from prodml.training import CONFIG_CHANNEL, RUN_INFO
from prodml.training.metrics import METRIC_LINE, format_metric_lines, metric_definitions
from prodml.training.model import Hyperparameters
from prodml.zones import SPLITS, Zones
from tests.conftest import CHURN_CONTRACT, run_prodml
from tests.training.conftest import publish_dataset

pytestmark = pytest.mark.integration


def test_metric_definitions_match_what_the_entrypoint_prints(churn_contract):
    lines = format_metric_lines("test", {"roc_auc": 0.8123456, "log_loss": 0.41})
    definitions = {d["Name"]: d["Regex"] for d in metric_definitions(churn_contract.target.task)}
    assert float(re.search(definitions["test:roc_auc"], lines[0]).group(1)) == pytest.approx(0.812346)
    assert re.search(definitions["test:log_loss"], lines[0]) is None
    assert METRIC_LINE.match(lines[1]).group("name") == "log_loss"


@pytest.fixture
def executor_stopped(moto_server):
    """The session emulator with its job executor stopped: created jobs stay InProgress, unrun. Afterwards the
    emulator forgets them (reset) before the executor starts again, so no test's job runs in another's."""
    emulator = Emulator(Settings(endpoint_url=moto_server), port=urlparse(moto_server).port)
    assert emulator.executor("stop")["running"] is False
    try:
        yield emulator
    finally:
        urllib.request.urlopen(
            urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10
        )
        emulator.executor("start")


def test_train_no_wait_builds_a_well_formed_sagemaker_job(training_env, churn_contract, executor_stopped):
    publish_dataset(training_env, churn_contract, rows=300)
    result = run_prodml(
        "train", "--contract", str(CHURN_CONTRACT), "--n-estimators", "50", "--no-wait", "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    started = json.loads(result.stdout)
    spec, zones = training_spec(), Zones(training_env)
    sm, s3 = aws.client("sagemaker", training_env), aws.client("s3", training_env)
    release = current_release(s3, zones)
    assert started["status"] == "InProgress" and started["release"] == release["release"]
    assert started["dataset_version"] == "v1"
    (summary,) = sm.list_training_jobs()["TrainingJobSummaries"]
    assert summary["TrainingJobName"] == started["job"]
    job = sm.describe_training_job(TrainingJobName=started["job"])
    assert job["TrainingJobStatus"] == "InProgress", "the stopped executor ran the job"

    algorithm = job["AlgorithmSpecification"]
    image = algorithm["TrainingImage"]
    assert image.endswith(f"/sagemaker-scikit-learn:{spec.framework_version}-cpu-py3")
    assert image_python(image) == spec.python_version  # the executor reads the image as the spec means it
    assert algorithm["TrainingInputMode"] == "File"
    # moto would answer a sample list; the emulator keeps the spec's definitions, as SageMaker does.
    assert algorithm["MetricDefinitions"] == spec.metric_definitions(churn_contract.target.task.value)

    hp = dict(job["HyperParameters"])
    # Framework estimators JSON-encode every value; the training toolkit decodes them into --name value args.
    assert hp["n_estimators"] == '"50"' and hp["family"] == '"gradient_boosting"'
    framework = {k: json.loads(hp.pop(k)) for k in list(hp) if k.startswith("sagemaker_")}
    assert {k: json.loads(v) for k, v in hp.items()} == Hyperparameters(n_estimators=50).as_strings()
    assert framework["sagemaker_program"] == spec.entry_point
    assert framework["sagemaker_region"] == training_env.region
    # The code is the current release's source dir, uploaded by `prodml ship`, not re-uploaded by the SDK.
    assert framework["sagemaker_submit_directory"] == release["training_source"]
    bucket, key = aws.split_s3_uri(release["training_source"])
    assert key == zones.training_source_key(release["release"])
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert set(channels) == {*SPLITS, CONFIG_CHANNEL}
    store = DatasetStore.of(s3, zones)
    for split in SPLITS:
        assert channels[split] == store.split_uri(churn_contract.name, "v1", split)
    assert channels[CONFIG_CHANNEL] == zones.uri("artifacts", zones.training_config_prefix(started["job"]))
    config_bucket, config_prefix = aws.split_s3_uri(channels[CONFIG_CHANNEL])
    config = {
        o["Key"].removeprefix(config_prefix)
        for o in s3.list_objects_v2(Bucket=config_bucket, Prefix=config_prefix)["Contents"]
    }
    assert config == {"contract.yaml", RUN_INFO, "baseline_profile.json"}
    run_info = json.loads(s3.get_object(Bucket=config_bucket, Key=config_prefix + RUN_INFO)["Body"].read())
    assert (run_info["dataset_version"], run_info["release"], run_info["job_name"]) == (
        "v1",
        release["release"],
        started["job"],
    )

    assert job["OutputDataConfig"]["S3OutputPath"].rstrip("/") == zones.uri(
        "artifacts", zones.training_output_prefix()
    ).rstrip("/")
    assert started["model_data_url"] == zones.uri("artifacts", zones.model_artifact_key(started["job"]))
    role = naming.resource_name(training_env.project, training_env.env, "training")
    assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/{role}", job["RoleArn"])
    assert job["ResourceConfig"]["InstanceType"] == spec.instance_type
    assert job["ResourceConfig"]["InstanceCount"] == spec.instance_count
    assert job["ResourceConfig"]["VolumeSizeInGB"] == spec.volume_size_gb
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == spec.max_runtime_seconds


def test_requirements_pin_the_artifact_libraries_and_give_the_rest_declared_ranges():
    from importlib import metadata

    from prodml.release import ARTIFACT_LIBRARIES, requirements

    lines = requirements().splitlines()
    pinned = dict(line.split("==") for line in lines if "==" in line)
    assert pinned == {name: metadata.version(name) for name in ARTIFACT_LIBRARIES}
    ranged = {re.split(r"[<>=!~\[]", line, maxsplit=1)[0] for line in lines if "==" not in line}
    # The lock's own numpy/pandas/pyarrow/onnxruntime need Python 3.11+; the container runs 3.10.
    assert {"numpy", "pandas", "pyarrow", "onnxruntime", "matplotlib", "pydantic", "pyyaml"} <= ranged
    assert all(any(op in line for op in "<>") for line in lines if "==" not in line)
