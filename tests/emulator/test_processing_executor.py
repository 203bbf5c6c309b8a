"""The emulator's executor runs SageMaker Processing jobs with SageMaker's contract: the image from the
emulator's ECR, the entrypoint and arguments run with the project's environment in the image's WORKDIR,
/opt/ml mapped to a per-job root, inputs downloaded and outputs uploaded, the log, the status with
FailureReason and ExitMessage, StopProcessingJob and MaxRuntimeInSeconds."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from prodml import aws
from prodml.emulator import Emulator
from prodml.settings import Settings
from tests.conftest import REPO
from tests.emulator.helpers import ecr_image, log_lines, put, wait_processing

pytestmark = pytest.mark.integration

BUCKET = "prodml-test-processing"
REPOSITORY = "prodml-test-platform"
# The container's program: what a job sees, printed; then what its arguments ask for.
PROGRAM = r"""
import json, os, shutil, sys, time
from pathlib import Path
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
inputs = Path(args["--input"])
print("SEEN " + json.dumps({
    "args": sys.argv[1:],
    "cwd": os.getcwd(),
    "python": sys.executable,
    "which_prodml": shutil.which("prodml"),
    "env": {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_REGION", "PRODML_ENV", "OUT_DIR",
                                            "PRODML_CONTAINER_ROOT", "AWS_ACCESS_KEY_ID")},
    "inputs": sorted(str(p.relative_to(inputs)) for p in inputs.rglob("*") if p.is_file()),
}), flush=True)
behaviour = args.get("--behaviour", "ok")
if behaviour == "sleep":
    time.sleep(60)
if behaviour == "message":
    Path("/opt/ml/output/message".replace("/opt/ml", os.environ["PRODML_CONTAINER_ROOT"])).write_text(
        "the window holds no rows")
    sys.exit(2)
if behaviour == "crash":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("ValueError: the baseline is missing", file=sys.stderr)
    sys.exit(3)
out = Path(os.environ["OUT_DIR"])
(out / "nested").mkdir(parents=True, exist_ok=True)
(out / "report.json").write_text(json.dumps({"rows": 3}))
(out / "nested" / "plot.txt").write_text("plot")
"""


@pytest.fixture
def image_uri(aws_env) -> str:
    return ecr_image(aws_env, REPOSITORY)


@pytest.fixture
def start(aws_env, image_uri):
    put(aws_env, BUCKET, "in/a.csv", b"x\n1\n")
    put(aws_env, BUCKET, "in/sub/b.csv", b"x\n2\n")
    sm = aws.client("sagemaker", aws_env)

    def start_job(name: str, behaviour: str = "ok", *, image: str | None = None, max_runtime: int = 300,
                  input_mode: str = "File") -> dict:  # fmt: skip
        sm.create_processing_job(
            ProcessingJobName=name,
            ProcessingResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
            },
            StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
            AppSpecification={
                "ImageUri": image or image_uri,
                "ContainerEntrypoint": ["python", "-c", PROGRAM],
                "ContainerArguments": ["--input", "/opt/ml/processing/input/data", "--behaviour", behaviour],
            },
            Environment={"PRODML_ENV": "dev", "OUT_DIR": "/opt/ml/processing/output"},
            ProcessingInputs=[
                {
                    "InputName": "data",
                    "S3Input": {
                        "S3Uri": f"s3://{BUCKET}/in/",
                        "LocalPath": "/opt/ml/processing/input/data",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": input_mode,
                    },
                }
            ],
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "report",
                        "S3Output": {
                            "S3Uri": f"s3://{BUCKET}/out/{name}",
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            RoleArn="arn:aws:iam::123456789012:role/processing",
            Tags=[{"Key": "team", "Value": "ml"}],
        )
        return sm.describe_processing_job(ProcessingJobName=name)

    return start_job


def _seen(aws_env, name: str) -> dict:
    lines = log_lines(aws.client("logs", aws_env), "/aws/sagemaker/ProcessingJobs", f"{name}/algo-1-")
    return json.loads(next(line for line in lines if line.startswith("SEEN "))[5:])


def test_a_job_runs_the_platform_image_with_sagemakers_contract(aws_env, start):
    created = start("proc-ok")
    assert created["ProcessingJobStatus"] == "InProgress"
    assert not {"ProcessingEndTime", "FailureReason", "ExitMessage", "Tags"} & set(created)
    job = wait_processing(aws.client("sagemaker", aws_env), "proc-ok")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"] >= job["CreationTime"]
    assert job["Environment"] == {"PRODML_ENV": "dev", "OUT_DIR": "/opt/ml/processing/output"}
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert "FailureReason" not in job

    seen = _seen(aws_env, "proc-ok")
    root = seen["env"]["PRODML_CONTAINER_ROOT"]
    assert Path(root).name == "ml" and not root.startswith("/opt/ml")
    # /opt/ml is the job's own root in the arguments and in Environment values.
    assert seen["args"] == ["--input", f"{root}/processing/input/data", "--behaviour", "ok"]
    assert seen["env"]["OUT_DIR"] == f"{root}/processing/output"
    assert seen["env"]["PRODML_ENV"] == "dev" and seen["env"]["AWS_ENDPOINT_URL"].startswith("http://")
    assert seen["env"]["AWS_ACCESS_KEY_ID"] == "testing" and seen["env"]["AWS_REGION"] == "us-east-1"
    # The project's environment runs it, in the platform image's WORKDIR.
    assert Path(seen["python"]).parent == Path(sys.executable).parent
    assert seen["which_prodml"] == str(Path(sys.executable).parent / "prodml")
    assert Path(seen["cwd"]) == REPO / "services" / "inference"
    assert seen["inputs"] == ["a.csv", "sub/b.csv"]

    s3 = aws.client("s3", aws_env)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/proc-ok/")["Contents"])
    assert keys == ["out/proc-ok/nested/plot.txt", "out/proc-ok/report.json"]
    summary = aws.client("sagemaker", aws_env).list_processing_jobs()["ProcessingJobSummaries"]
    assert [(s["ProcessingJobName"], s["ProcessingJobStatus"]) for s in summary] == [("proc-ok", "Completed")]


def test_the_message_file_is_the_exit_message_and_the_failure_reason(aws_env, start):
    start("proc-message", "message")
    job = wait_processing(aws.client("sagemaker", aws_env), "proc-message")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: the window holds no rows"
    assert job["ExitMessage"] == "the window holds no rows"
    (summary,) = aws.client("sagemaker", aws_env).list_processing_jobs(StatusEquals="Failed")[
        "ProcessingJobSummaries"
    ]
    assert (summary["FailureReason"], summary["ExitMessage"]) == (job["FailureReason"], job["ExitMessage"])
    listed = aws.client("s3", aws_env).list_objects_v2(Bucket=BUCKET, Prefix="out/proc-message/")
    assert listed.get("KeyCount", 0) == 0, "a failed job uploads no outputs"


def test_without_a_message_the_failure_reason_is_the_exit_code_and_stderr(aws_env, start):
    start("proc-crash", "crash")
    job = wait_processing(aws.client("sagemaker", aws_env), "proc-crash")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: the container exited with code 3")
    assert "ValueError: the baseline is missing" in job["FailureReason"]


@pytest.mark.parametrize(
    ("case", "image", "mode", "expected"),
    [
        ("untagged", "missing-tag", "File", "not in the emulator's ECR"),
        ("pipe", None, "Pipe", "S3InputMode Pipe is not supported"),
    ],
)
def test_what_the_emulator_cannot_run_fails_with_a_client_error(
    aws_env, start, image_uri, case, image, mode, expected
):
    name = f"proc-{case}"
    start(name, image=image_uri.replace(":v1", f":{image}") if image else None, input_mode=mode)
    job = wait_processing(aws.client("sagemaker", aws_env), name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: ") and expected in job["FailureReason"]


def test_an_image_named_by_digest_runs(aws_env, start, image_uri):
    ecr = aws.client("ecr", aws_env)
    digest = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"][0]["imageDigest"]
    start("proc-digest", image=image_uri.rsplit(":", 1)[0] + "@" + digest)
    job = wait_processing(aws.client("sagemaker", aws_env), "proc-digest")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")


def test_stop_and_max_runtime_stop_the_container(aws_env, start):
    sm = aws.client("sagemaker", aws_env)
    start("proc-stop", "sleep")
    start("proc-slow", "sleep", max_runtime=2)
    _wait_started(sm, "proc-stop")
    sm.stop_processing_job(ProcessingJobName="proc-stop")
    assert sm.describe_processing_job(ProcessingJobName="proc-stop")["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    stopped = wait_processing(sm, "proc-stop", timeout=20)
    assert stopped["ProcessingJobStatus"] == "Stopped" and "FailureReason" not in stopped
    with pytest.raises(sm.exceptions.ClientError, match="terminal state"):
        sm.stop_processing_job(ProcessingJobName="proc-stop")
    slow = wait_processing(sm, "proc-slow", timeout=30)
    assert slow["ProcessingJobStatus"] == "Stopped"
    assert slow["FailureReason"].startswith("MaxRuntimeExceeded")
    assert (slow["ProcessingEndTime"] - slow["ProcessingStartTime"]).total_seconds() < 20


def _wait_started(sm, name: str) -> None:
    deadline = time.monotonic() + 30
    while "ProcessingStartTime" not in sm.describe_processing_job(ProcessingJobName=name):
        assert time.monotonic() < deadline, f"{name} never started"
        time.sleep(0.1)
    time.sleep(1)  # its container is running by now


def test_a_job_name_is_unique(aws_env, start):
    start("proc-twice")
    with pytest.raises(aws.client("sagemaker", aws_env).exceptions.ClientError, match="ResourceInUse"):
        start("proc-twice")


def test_with_the_executor_stopped_a_job_waits_and_can_be_stopped_before_it_starts(
    aws_env, start, moto_server, request
):
    emulator = Emulator(Settings(endpoint_url=moto_server))
    emulator.executor("stop")
    request.addfinalizer(lambda: emulator.executor("start"))
    start("proc-waiting")
    time.sleep(1)
    sm = aws.client("sagemaker", aws_env)
    waiting = sm.describe_processing_job(ProcessingJobName="proc-waiting")
    assert waiting["ProcessingJobStatus"] == "InProgress" and "ProcessingStartTime" not in waiting
    sm.stop_processing_job(ProcessingJobName="proc-waiting")
    emulator.executor("start")
    time.sleep(1)
    stopped = sm.describe_processing_job(ProcessingJobName="proc-waiting")
    assert stopped["ProcessingJobStatus"] == "Stopped" and "ProcessingStartTime" not in stopped
