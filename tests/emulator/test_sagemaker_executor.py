"""The emulator's executor runs SageMaker training jobs with SageMaker's contract: channels in an
/opt/ml-shaped root, string hyperparameters, the toolkit's SM_* environment and arguments, the source from
sourcedir.tar.gz, model.tar.gz and output.tar.gz, the failure file as FailureReason, the status, the log
and FinalMetricDataList from MetricDefinitions."""

from __future__ import annotations

import json

import pytest

from prodml import aws
from tests.emulator.helpers import log_lines, put, tar_gz_of, tar_members, wait_training

pytestmark = pytest.mark.integration

BUCKET = "prodml-test-sm-code"
ENTRY = """
import json, os, sys
from pathlib import Path
config = Path(os.environ["SM_INPUT_CONFIG_DIR"])
print("ARGV " + json.dumps(sys.argv[1:]))
print("HPS_FILE " + (config / "hyperparameters.json").read_text())
print("SM_HPS " + os.environ["SM_HPS"])
print("CHANNELS " + os.environ["SM_CHANNELS"])
train = Path(os.environ["SM_CHANNEL_TRAIN"])
print("TRAIN_FILES " + json.dumps(sorted(str(p.relative_to(train)) for p in train.rglob("*") if p.is_file())))
import helper
print("HELPER " + helper.VALUE)
if os.environ.get("SM_HP_BEHAVIOUR") == "fail":
    Path(os.environ["SM_OUTPUT_DIR"], "failure").write_text("the train channel is empty")
    sys.exit(2)
for epoch, loss in enumerate([0.9, 0.5, 0.25]):
    print(f"epoch={epoch} loss={loss}")
print("metric test:auc=0.875")
Path(os.environ["SM_MODEL_DIR"], "model.bin").write_text("weights")
Path(os.environ["SM_MODEL_DIR"], "nested").mkdir()
Path(os.environ["SM_MODEL_DIR"], "nested", "meta.json").write_text("{}")
Path(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt").write_text("plots here")
"""


@pytest.fixture
def start_job(aws_env):
    source = put(
        aws_env,
        BUCKET,
        "code/sourcedir.tar.gz",
        tar_gz_of({"entry.py": ENTRY, "helper.py": "VALUE = 'ok'\n"}),
    )
    put(aws_env, BUCKET, "data/train/part-0.csv", b"a,b\n1,2\n")
    put(aws_env, BUCKET, "data/train/sub/part-1.csv", b"a,b\n3,4\n")
    put(aws_env, BUCKET, "data/extra.csv", b"x\n")
    sm = aws.client("sagemaker", aws_env)

    def start(name: str, behaviour: str = "ok", channels: dict[str, str] | None = None):
        # As the SDK's framework estimators send them: every value JSON-encoded into a string.
        hyperparameters = {
            "behaviour": json.dumps(behaviour),
            "n_estimators": json.dumps("50"),
            "learning_rate": "0.1",
            "C": "1.5",
            "sagemaker_program": json.dumps("entry.py"),
            "sagemaker_submit_directory": json.dumps(source),
            "sagemaker_region": json.dumps("us-east-1"),
        }
        sm.create_training_job(
            TrainingJobName=name,
            HyperParameters=hyperparameters,
            AlgorithmSpecification={
                "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                    {"Name": "test:auc", "Regex": r"metric test:auc=([0-9.]+)"},
                    {"Name": "never:seen", "Regex": r"nothing prints this=([0-9.]+)"},
                ],
            },
            RoleArn="arn:aws:iam::123456789012:role/training",
            InputDataConfig=[
                {
                    "ChannelName": channel,
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                }
                for channel, uri in (channels or {"train": f"s3://{BUCKET}/data/train/"}).items()
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output/"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
        return sm

    return start


def _line(lines: list[str], prefix: str) -> str:
    return next(line for line in lines if line.startswith(prefix))[len(prefix) :]


def test_a_job_runs_as_the_framework_container_runs_it(aws_env, start_job):
    sm = start_job("sm-executor-ok")
    assert sm.describe_training_job(TrainingJobName="sm-executor-ok")["TrainingJobStatus"] == "InProgress"
    job = wait_training(sm, "sm-executor-ok")
    assert job["TrainingJobStatus"] == "Completed" and job["SecondaryStatus"] == "Completed", job.get(
        "FailureReason"
    )
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Uploading", "Completed"]
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]

    lines = log_lines(aws.client("logs", aws_env), "/aws/sagemaker/TrainingJobs", "sm-executor-ok/")
    # hyperparameters.json holds the strings the job was created with; the toolkit decodes them.
    assert json.loads(_line(lines, "HPS_FILE "))["n_estimators"] == '"50"'
    assert json.loads(_line(lines, "SM_HPS ")) == {
        "behaviour": "ok",
        "n_estimators": "50",
        "learning_rate": 0.1,
        "C": 1.5,
    }
    # User hyperparameters as arguments, names sorted, a one-letter name with one dash.
    assert json.loads(_line(lines, "ARGV ")) == [
        "-C", "1.5", "--behaviour", "ok", "--learning_rate", "0.1", "--n_estimators", "50",
    ]  # fmt: skip
    assert json.loads(_line(lines, "CHANNELS ")) == ["train"]
    assert json.loads(_line(lines, "TRAIN_FILES ")) == ["part-0.csv", "sub/part-1.csv"]
    assert _line(lines, "HELPER ") == "ok"

    # FinalMetricDataList: the last value each definition matched; nothing for one that never matched.
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics == {"train:loss": 0.25, "test:auc": 0.875}

    s3 = aws.client("s3", aws_env)
    assert (
        job["ModelArtifacts"]["S3ModelArtifacts"]
        == f"s3://{BUCKET}/output/sm-executor-ok/output/model.tar.gz"
    )
    model = tar_members(
        s3.get_object(Bucket=BUCKET, Key="output/sm-executor-ok/output/model.tar.gz")["Body"].read()
    )
    assert model == {"model.bin": b"weights", "nested/meta.json": b"{}"}
    output = tar_members(
        s3.get_object(Bucket=BUCKET, Key="output/sm-executor-ok/output/output.tar.gz")["Body"].read()
    )
    assert output == {"report.txt": b"plots here"}


def test_the_failure_file_becomes_the_failure_reason(aws_env, start_job):
    sm = start_job("sm-executor-fail", behaviour="fail")
    job = wait_training(sm, "sm-executor-fail")
    assert job["TrainingJobStatus"] == "Failed" and job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: the train channel is empty"
    s3 = aws.client("s3", aws_env)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="output/sm-executor-fail/").get("Contents", [])
    assert not [o for o in listed if o["Key"].endswith("model.tar.gz")], "a failed job uploads no model"


def test_a_channel_whose_prefix_has_no_objects_fails_the_job(aws_env, start_job):
    sm = start_job("sm-executor-empty", channels={"train": f"s3://{BUCKET}/data/nothing-here/"})
    job = wait_training(sm, "sm-executor-empty")
    assert job["TrainingJobStatus"] == "Failed"
    assert "No S3 objects found" in job["FailureReason"] and "nothing-here" in job["FailureReason"]
