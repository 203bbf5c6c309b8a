"""Start jobs through the AWS APIs (as the stage commands and the SageMaker SDK do) and wait for the
emulator's executor to finish them."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile

from prodml import aws

GLUE_DONE = {"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"}
TRAINING_DONE = {"Completed", "Failed", "Stopped"}
PROCESSING_DONE = {"Completed", "Failed", "Stopped"}


def put(settings, bucket: str, key: str, body: bytes) -> str:
    s3 = aws.client("s3", settings)
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def tar_gz_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def wait_glue(glue, job: str, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] in GLUE_DONE:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['JobRunState']} after {timeout}s")


def wait_training(sm, job: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_training_job(TrainingJobName=job)
        if described["TrainingJobStatus"] in TRAINING_DONE:
            return described
        time.sleep(0.1)
    raise AssertionError(f"{job} still {described['TrainingJobStatus']} after {timeout}s")


def log_lines(logs, group: str, stream_prefix: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream_prefix)["logStreams"]
    lines = []
    for stream in streams:
        events = logs.get_log_events(
            logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
        lines += [e["message"] for e in events]
    return lines


def ecr_image(settings, repository: str = "prodml-test-platform", tag: str = "v1") -> str:
    """An image in the emulator's ECR (a manifest with no layers, as `prodml image record` writes); its URI."""
    ecr = aws.client("ecr", settings)
    uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "ab" * 32,
            "size": 0,
        },
        "layers": [],
    }
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    return f"{uri}:{tag}"


def wait_processing(sm, name: str, timeout: float = 60, until=PROCESSING_DONE) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_processing_job(ProcessingJobName=name)
        if described["ProcessingJobStatus"] in until:
            return described
        time.sleep(0.1)
    raise AssertionError(f"{name} still {described['ProcessingJobStatus']} after {timeout}s")
