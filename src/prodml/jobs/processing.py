"""Start a SageMaker Processing job running the platform image, follow it, and read what it wrote: on AWS
and on the emulator alike (the emulator's executor runs it as SageMaker would). Only AWS APIs; the caller
presents.

The job's shape comes from ``processing.yaml`` (:func:`prodml.jobs.processing_spec`, which Terraform reads
too); its image from the SSM parameter :func:`prodml.naming.image_parameter_name` (the deploy workflow writes
it after a push, ``prodml image record`` on the emulator); its role is the processing role Terraform creates
(:func:`prodml.naming.processing_role_name`). Containers get ``PRODML_PROJECT``/``ENV``/``REGION``.

Batch scoring (``prodml batch-score``) is :func:`start_batch_scoring`: the caller's S3 input prefix is
downloaded to ``<local_root>/input/data``, ``python -m app.batch`` scores it into ``<local_root>/output``,
and that is uploaded to the caller's S3 output prefix (see ``services/inference/app/batch``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prodml import aws, naming
from prodml.jobs import processing_spec, watch
from prodml.settings import Settings

BATCH_STEP = "batch"
BATCH_ENTRYPOINT = ("python", "-m", "app.batch")
SUMMARY_FILE = "summary.json"  # what app.batch writes at the top of its output


@dataclass(frozen=True)
class ProcessingInput:
    name: str
    s3_uri: str  # a prefix: every object under it is downloaded
    local_path: str


@dataclass(frozen=True)
class ProcessingOutput:
    name: str
    local_path: str
    s3_uri: str  # a prefix: the local directory's files land under it, relative paths kept


@dataclass(frozen=True)
class StartedJob:
    name: str
    request: dict[str, Any]


def container_path(*parts: str) -> str:
    """A path inside the processing container, under the spec's ``local_root`` (/opt/ml/processing)."""
    return "/".join([processing_spec().local_root.rstrip("/"), *parts])


def run_id(now: datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: UTC time (the greatest name is the newest) and 4 hex digits, as the state
    machines name their runs."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def image_uri(settings: Settings) -> str:
    """The platform image every processing job runs, from its SSM parameter."""
    ssm = aws.client("ssm", settings)  # type: ignore[call-overload]  # no typed overload for ssm
    name = naming.image_parameter_name(settings.project, settings.env)
    try:
        value: str = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise LookupError(
            f"no platform image recorded in SSM parameter {name}: deploy the service (on AWS) or run "
            "`prodml image record` (on the emulator)"
        ) from None
    return value


def role_arn(settings: Settings) -> str:
    """The processing execution role Terraform creates, by the naming convention."""
    account = aws.client("sts", settings).get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:role/{naming.processing_role_name(settings.project, settings.env)}"


def processing_job_request(
    settings: Settings,
    *,
    job_name: str,
    image: str,
    role: str,
    entrypoint: list[str],
    inputs: Sequence[ProcessingInput] = (),
    outputs: Sequence[ProcessingOutput] = (),
    tags: dict[str, str] | None = None,
    instance_type: str | None = None,
) -> dict[str, Any]:
    """A ``CreateProcessingJob`` request for the platform image, shaped by ``processing.yaml``."""
    spec = processing_spec()
    request: dict[str, Any] = {
        "ProcessingJobName": job_name,
        "RoleArn": role,
        "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": list(entrypoint)},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": spec.instance_count,
                "InstanceType": instance_type or spec.instance_type,
                "VolumeSizeInGB": spec.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
        "Environment": {
            "PRODML_PROJECT": settings.project,
            "PRODML_ENV": settings.env,
            "PRODML_REGION": settings.region,
        },
    }
    if inputs:
        request["ProcessingInputs"] = [
            {
                "InputName": i.name,
                "S3Input": {
                    "S3Uri": i.s3_uri,
                    "LocalPath": i.local_path,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
            for i in inputs
        ]
    if outputs:
        request["ProcessingOutputConfig"] = {
            "Outputs": [
                {
                    "OutputName": o.name,
                    "S3Output": {"S3Uri": o.s3_uri, "LocalPath": o.local_path, "S3UploadMode": "EndOfJob"},
                }
                for o in outputs
            ]
        }
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return request


def _prefix(uri: str) -> str:
    aws.split_s3_uri(uri)  # refuses anything but s3://bucket/...
    return uri if uri.endswith("/") else uri + "/"


def batch_scoring_request(
    settings: Settings,
    *,
    dataset: str,
    input_uri: str,
    output_uri: str,
    model_version: int | None = None,
    explain: bool = False,
    chunk_rows: int | None = None,
    job_name: str | None = None,
    image: str | None = None,
    role: str | None = None,
    instance_type: str | None = None,
) -> dict[str, Any]:
    """The ``CreateProcessingJob`` request of a batch scoring job (``python -m app.batch``)."""
    job_name = job_name or naming.processing_job_name(
        settings.project, settings.env, dataset, BATCH_STEP, run_id()
    )
    local_input, local_output = container_path("input", "data"), container_path("output")
    entrypoint = [*BATCH_ENTRYPOINT, "--dataset", dataset, "--input", local_input, "--output", local_output]
    if model_version is not None:
        entrypoint += ["--model-version", str(model_version)]
    if explain:
        entrypoint.append("--explain")
    if chunk_rows is not None:
        entrypoint += ["--chunk-rows", str(chunk_rows)]
    return processing_job_request(
        settings,
        job_name=job_name,
        image=image or image_uri(settings),
        role=role or role_arn(settings),
        entrypoint=entrypoint,
        inputs=[ProcessingInput("data", _prefix(input_uri), local_input)],
        outputs=[ProcessingOutput("scores", local_output, _prefix(output_uri))],
        tags={"prodml:dataset": dataset, "prodml:step": BATCH_STEP},
        instance_type=instance_type,
    )


def start(settings: Settings, request: dict[str, Any]) -> StartedJob:
    aws.client("sagemaker", settings).create_processing_job(**request)
    return StartedJob(request["ProcessingJobName"], request)


def start_batch_scoring(settings: Settings, **options: Any) -> StartedJob:
    """Start a batch scoring job (options as :func:`batch_scoring_request` takes them)."""
    return start(settings, batch_scoring_request(settings, **options))


def wait(
    settings: Settings,
    job_name: str,
    *,
    on_state: Callable[[str, dict[str, Any]], None] = lambda state, description: None,
    on_line: Callable[[str], None] = lambda line: None,
    on_event: Callable[[dict[str, Any]], None] = lambda event: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Wait for the job, streaming its log (``PRODML_EVENT`` lines to ``on_event``, other lines to
    ``on_line``); its final description. A failed job raises :class:`watch.JobFailed`."""

    def line(text: str) -> None:
        event = watch.parse_event(text)
        if event is None:
            on_line(text)
        else:
            on_event(event)

    return watch.wait_processing_job(
        aws.client("sagemaker", settings),
        aws.client("logs", settings),
        job_name,
        on_state=on_state,
        on_line=line,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
    )


def output_uri(description: dict[str, Any], name: str) -> str:
    """Where the job's output ``name`` was uploaded (from its description)."""
    for output in description.get("ProcessingOutputConfig", {}).get("Outputs", []):
        if output["OutputName"] == name:
            return str(output["S3Output"]["S3Uri"])
    raise LookupError(f"processing job {description.get('ProcessingJobName')} has no output {name!r}")


def read_summary(settings: Settings, description: dict[str, Any]) -> dict[str, Any]:
    """A finished batch scoring job's ``summary.json``, read from its output prefix."""
    bucket, key = aws.split_s3_uri(_prefix(output_uri(description, "scores")) + SUMMARY_FILE)
    body = aws.client("s3", settings).get_object(Bucket=bucket, Key=key)["Body"].read()
    summary: dict[str, Any] = json.loads(body)
    return summary
