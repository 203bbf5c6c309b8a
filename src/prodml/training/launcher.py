"""Start a SageMaker training job through the SageMaker Python SDK v2 ``SKLearn`` estimator: on AWS and on
the emulator alike (whose executor runs it as SageMaker would).

The job runs ``pipelines/training/train.py`` in the scikit-learn framework container (Python 3.10), from the
``sourcedir.tar.gz`` of the current release (``prodml ship``). Everything about the job's shape comes from
the job spec (``prodml/jobs/training.yaml``, which Terraform reads too). Channels point at the committed
dataset version's split prefixes; the config channel (contract, run information, baseline profile) is
uploaded under the job's name first. It starts the job and returns; :mod:`prodml.jobs.watch` waits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prodml import artifact, aws, naming
from prodml.contract import Contract
from prodml.datasets import DatasetStore, DatasetVersion
from prodml.jobs import training_spec
from prodml.release import current_release
from prodml.settings import Settings
from prodml.training import CONFIG_CHANNEL, RUN_INFO
from prodml.training.model import Hyperparameters
from prodml.zones import SPLITS, Zones


@dataclass(frozen=True)
class LaunchedJob:
    name: str
    dataset_version: str
    release: str
    model_data_url: str
    description: dict[str, Any]


def _quiet_sagemaker() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import logging

    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    logging.getLogger("sagemaker").setLevel(logging.WARNING)


def new_job_name(settings: Settings, dataset: str, now: datetime | None = None) -> str:
    """Job names end in a UTC timestamp, so the greatest name is the newest job."""
    now = now or datetime.now(UTC)
    return naming.training_job_name(
        settings.project, settings.env, dataset, now.strftime("%Y%m%d-%H%M%S-%f")[:-3]
    )


def default_role_arn(settings: Settings) -> str:
    """The training execution role Terraform creates, by the naming convention."""
    account = aws.client("sts", settings).get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:role/{naming.resource_name(settings.project, settings.env, 'training')}"


def stage_config(
    s3: Any, zones: Zones, contract: Contract, dv: DatasetVersion, job_name: str, release: dict[str, Any]
) -> str:
    """Upload the config channel (contract, run information, the version's baseline profile); its URI."""
    bucket, prefix = zones.bucket("artifacts"), zones.training_config_prefix(job_name)
    info = {
        "dataset": contract.name,
        "dataset_version": dv.version,
        "manifest": dv.manifest,
        "git_sha": release.get("git_sha"),
        "release": release["release"],
        "job_name": job_name,
    }
    s3.put_object(Bucket=bucket, Key=prefix + artifact.CONTRACT, Body=contract.to_yaml().encode())
    s3.put_object(
        Bucket=bucket, Key=prefix + RUN_INFO, Body=json.dumps(info, indent=2, sort_keys=True, default=str)
    )
    profile = zones.version_prefix(contract.name, dv.version) + artifact.BASELINE_PROFILE
    if aws.s3_object_exists(s3, zones.bucket("processed"), profile):
        s3.copy_object(
            Bucket=bucket,
            Key=prefix + artifact.BASELINE_PROFILE,
            CopySource={"Bucket": zones.bucket("processed"), "Key": profile},
        )
    return zones.uri("artifacts", prefix)


def launch(
    contract: Contract,
    settings: Settings,
    hp: Hyperparameters,
    *,
    version: str | None = None,
    role_arn: str | None = None,
    instance_type: str | None = None,
    job_name: str | None = None,
) -> LaunchedJob:
    _quiet_sagemaker()
    import sagemaker
    from sagemaker.inputs import TrainingInput
    from sagemaker.sklearn.estimator import SKLearn

    spec = training_spec()
    s3, zones = aws.client("s3", settings), Zones(settings)
    dv = DatasetStore.of(s3, zones).committed(contract.name, version)
    release = current_release(s3, zones)
    job = job_name or new_job_name(settings, contract.name)
    session = sagemaker.Session(
        boto_session=aws.boto3_session(settings),
        sagemaker_client=aws.client("sagemaker", settings),
        default_bucket=zones.bucket("artifacts"),
        # No SDK telemetry calls to AWS's collector: a locked-down VPC has no route, and the emulator none.
        sagemaker_config={
            "SchemaVersion": "1.0",
            "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
        },
    )
    # The SDK types these None until it makes its own clients; ours honour the configured endpoint.
    session.s3_client = s3  # type: ignore[assignment]  # typed None by the SDK, holds a client
    session.s3_resource = aws.boto3_session(settings).resource(  # type: ignore[assignment]  # likewise
        "s3", endpoint_url=settings.endpoint_url
    )
    config_uri = stage_config(s3, zones, contract, dv, job, release)
    estimator = SKLearn(
        entry_point=spec.entry_point,
        source_dir=release["training_source"],
        framework_version=spec.framework_version,
        py_version="py3",
        role=role_arn or default_role_arn(settings),
        instance_type=instance_type or spec.instance_type,
        instance_count=spec.instance_count,
        volume_size=spec.volume_size_gb,
        max_run=spec.max_runtime_seconds,
        hyperparameters=dict[str, Any](hp.as_strings()),
        metric_definitions=spec.metric_definitions(contract.target.task.value),
        output_path=zones.uri("artifacts", zones.training_output_prefix()),
        sagemaker_session=session,
        tags=[
            {"Key": "prodml:dataset", "Value": dv.dataset},
            {"Key": "prodml:dataset-version", "Value": dv.version},
            {"Key": "prodml:release", "Value": release["release"]},
        ],
    )
    channels = {
        split: TrainingInput(DatasetStore.of(s3, zones).split_uri(dv.dataset, dv.version, split))
        for split in SPLITS
    }
    channels[CONFIG_CHANNEL] = TrainingInput(config_uri)
    estimator.fit(channels, job_name=job, wait=False, logs=False)
    description = aws.client("sagemaker", settings).describe_training_job(TrainingJobName=job)
    return LaunchedJob(
        name=job,
        dataset_version=dv.version,
        release=release["release"],
        model_data_url=zones.uri("artifacts", zones.model_artifact_key(job)),
        description=dict(description),
    )
