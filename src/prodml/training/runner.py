"""The local runner: a SageMaker training job without SageMaker or Docker.

It builds the container's ``/opt/ml`` layout in a temporary directory, downloads the committed dataset
version's splits as channels, runs ``pipelines/training/train.py`` as a subprocess with the ``SM_*``
environment and ``--name value`` hyperparameters the sagemaker-training toolkit would give it, then uploads
``model.tar.gz`` (plus lineage, metrics and report) to the artifacts bucket under the job's name and records
the job in the SageMaker API. It reads only committed dataset versions and never writes to the processed zone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prodml import artifact, aws, naming
from prodml.contract import Contract
from prodml.settings import Settings
from prodml.training import CONFIG_CHANNEL, RUN_INFO, TrainingError
from prodml.training.model import Hyperparameters
from prodml.zones import SPLITS, Zones, read_committed_manifest

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "pipelines" / "training" / "train.py"
CHANNELS = (*SPLITS, CONFIG_CHANNEL)
INSTANCE_TYPE = "ml.m5.large"


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: str
    manifest: dict


@dataclass(frozen=True)
class TrainingJob:
    name: str
    dataset_version: DatasetVersion
    model_data_url: str
    lineage_uri: str
    metrics_uri: str
    report_uri: str
    local_report_dir: Path
    metrics: dict
    lineage: dict
    seconds: float


def new_job_name(settings: Settings, dataset: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return naming.training_job_name(
        settings.project, settings.env, dataset, now.strftime("%Y%m%d-%H%M%S-%f")[:-3]
    )


def git_sha() -> str | None:
    """HEAD of the checkout the code comes from, marked ``-dirty`` when the training code has local edits."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src/prodml", "pipelines/training"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def committed_version(s3, zones: Zones, dataset: str, version: str | None) -> DatasetVersion:
    """The committed dataset version to train on: ``version``, or the newest one. Uncommitted runs never count."""
    if version is None:
        try:
            version = (
                s3.get_object(Bucket=zones.bucket("processed"), Key=zones.latest_key(dataset))["Body"]
                .read()
                .decode()
                .strip()
            )
        except s3.exceptions.NoSuchKey:
            raise LookupError(
                f"no committed dataset {dataset!r} in s3://{zones.bucket('processed')}/; run `prodml etl` first"
            ) from None
    manifest = read_committed_manifest(s3, zones, dataset, version)
    return DatasetVersion(dataset, str(version), manifest)


def stage_config(
    s3, zones: Zones, contract: Contract, dataset_version: DatasetVersion, job_name: str, into: Path
) -> Path:
    """The config channel: contract, run information and the version's baseline profile."""
    into.mkdir(parents=True, exist_ok=True)
    (into / artifact.CONTRACT).write_text(contract.to_yaml())
    info = {
        "dataset": contract.name,
        "dataset_version": dataset_version.version,
        "manifest": dataset_version.manifest,
        "git_sha": git_sha(),
        "job_name": job_name,
    }
    (into / RUN_INFO).write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    key = zones.version_prefix(contract.name, dataset_version.version) + artifact.BASELINE_PROFILE
    if aws.s3_object_exists(s3, zones.bucket("processed"), key):
        s3.download_file(zones.bucket("processed"), key, str(into / artifact.BASELINE_PROFILE))
    return into


def download_split(s3, zones: Zones, dataset: str, version: str, split: str, into: Path) -> int:
    """Every object under the split's prefix into ``into``; returns the number of files."""
    bucket, prefix = zones.bucket("processed"), zones.split_prefix(dataset, version, split)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            count += 1
    return count


def container_environment(
    root: Path, job_name: str, hp: dict[str, str], channels: list[str]
) -> dict[str, str]:
    """The ``SM_*`` environment a SageMaker training container gives the entrypoint."""
    env = {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_DATA_DIR": str(root / "input" / "data"),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(hp, sort_keys=True),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_CURRENT_HOST": "algo-1",
        "SM_USER_ENTRY_POINT": ENTRYPOINT.name,
        "SM_USER_ARGS": json.dumps(hyperparameter_args(hp)),
        "TRAINING_JOB_NAME": job_name,
    }
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(root / "input" / "data" / channel)
    for name, value in hp.items():
        env[f"SM_HP_{name.upper()}"] = value
    return env


def hyperparameter_args(hp: dict[str, str]) -> list[str]:
    return [item for name, value in sorted(hp.items()) for item in (f"--{name}", value)]


def build_layout(root: Path, hp: dict[str, str], channels: list[str], job_name: str) -> None:
    for path in ("model", "output/data", "input/config", *(f"input/data/{c}" for c in channels)):
        (root / path).mkdir(parents=True, exist_ok=True)
    config = root / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(hp, sort_keys=True))
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {c: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"} for c in channels}
        )
    )
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    (config / "trainingjobconfig.json").write_text(json.dumps({"TrainingJobName": job_name}))


def run_entrypoint(
    root: Path,
    job_name: str,
    hp: dict[str, str],
    channels: list[str],
    on_line: Callable[[str], None],
    *,
    python: str = sys.executable,
    entrypoint: Path = ENTRYPOINT,
) -> None:
    """Run train.py as the container would; a failure raises with the entrypoint's own reason.

    ``python`` and ``entrypoint`` default to this interpreter and the checkout's train.py; a staged
    ``source_dir`` (:func:`prodml.training.launcher.stage_source_dir`) and another interpreter run the way
    the SageMaker container runs them."""
    if not entrypoint.is_file():
        raise TrainingError(f"training entrypoint {entrypoint} not found (run from a prodml checkout)")
    env = {**os.environ, **container_environment(root, job_name, hp, channels), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [python, str(entrypoint), *hyperparameter_args(hp)],
        cwd=entrypoint.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail = [*tail[-19:], line]
        on_line(line)
    if process.wait() != 0:
        failure = root / "output" / "failure"
        reason = failure.read_text().strip() if failure.exists() else "\n".join(tail)
        raise TrainingError(reason or f"the training entrypoint exited with {process.returncode}")


def account_id(settings: Settings) -> str:
    return aws.client("sts", settings).get_caller_identity()["Account"]


def default_role_arn(settings: Settings) -> str:
    """The training execution role Terraform creates, by the naming convention."""
    return f"arn:aws:iam::{account_id(settings)}:role/{naming.resource_name(settings.project, settings.env, 'training')}"


def record_training_job(
    sm, zones: Zones, job: str, dv: DatasetVersion, hp: dict[str, str], image_uri: str, role_arn: str
) -> None:
    """Record the finished local job in the SageMaker API, so `describe-training-job` knows it."""
    sm.create_training_job(
        TrainingJobName=job,
        HyperParameters=hp,
        AlgorithmSpecification={"TrainingImage": image_uri, "TrainingInputMode": "File"},
        RoleArn=role_arn,
        InputDataConfig=[
            {
                "ChannelName": split,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": zones.uri("processed", zones.split_prefix(dv.dataset, dv.version, split)),
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for split in SPLITS
        ],
        OutputDataConfig={"S3OutputPath": zones.uri("artifacts", zones.training_output_prefix())},
        ResourceConfig={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=[
            {"Key": "prodml:runner", "Value": "local"},
            {"Key": "prodml:dataset", "Value": dv.dataset},
            {"Key": "prodml:dataset-version", "Value": dv.version},
        ],
    )


def upload_outputs(s3, zones: Zones, job: str, root: Path, local_report_dir: Path) -> dict[str, str]:
    bucket = zones.bucket("artifacts")
    tarball = artifact.pack(root / "model", root / "output" / "model.tar.gz")
    model_key = zones.model_artifact_key(job)
    s3.upload_file(str(tarball), bucket, model_key)
    s3.upload_file(str(root / "model" / artifact.LINEAGE), bucket, zones.lineage_key(job))
    metrics_key = metrics_key_for(job)
    s3.upload_file(str(root / "model" / artifact.METRICS), bucket, metrics_key)
    local_report_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted((root / "output" / "data").iterdir()):
        if path.is_file():
            s3.upload_file(str(path), bucket, zones.report_prefix(job) + path.name)
            (local_report_dir / path.name).write_bytes(path.read_bytes())
    return {
        "model": zones.uri("artifacts", model_key),
        "lineage": zones.uri("artifacts", zones.lineage_key(job)),
        "metrics": zones.uri("artifacts", metrics_key),
        "report": zones.uri("artifacts", zones.report_prefix(job)),
    }


def metrics_key_for(job: str) -> str:
    return f"training/{job}/output/{artifact.METRICS}"


def train_local(
    contract: Contract,
    settings: Settings,
    hp: Hyperparameters,
    *,
    version: str | None = None,
    role_arn: str | None = None,
    job_name: str | None = None,
    on_line: Callable[[str], None] = lambda line: None,
    on_phase: Callable[[str], None] = lambda phase: None,
) -> TrainingJob:
    started = time.perf_counter()
    s3, sm, zones = aws.client("s3", settings), aws.client("sagemaker", settings), Zones(settings)
    dv = committed_version(s3, zones, contract.name, version)
    job = job_name or new_job_name(settings, contract.name)
    hp_strings = hp.as_strings()
    with tempfile.TemporaryDirectory(prefix="prodml-train-") as tmp:
        root = Path(tmp) / "opt" / "ml"
        build_layout(root, hp_strings, list(CHANNELS), job)
        on_phase(f"downloading dataset {contract.name} version {dv.version}")
        for split in SPLITS:
            download_split(s3, zones, contract.name, dv.version, split, root / "input" / "data" / split)
        stage_config(s3, zones, contract, dv, job, root / "input" / "data" / CONFIG_CHANNEL)
        on_phase(f"running {ENTRYPOINT.relative_to(REPO)} ({hp.family})")
        run_entrypoint(root, job, hp_strings, list(CHANNELS), on_line)
        on_phase("uploading the artifact")
        local_report_dir = settings.state_dir / "reports" / job
        uris = upload_outputs(s3, zones, job, root, local_report_dir)
        metrics = json.loads((root / "model" / artifact.METRICS).read_text())
        lineage = json.loads((root / "model" / artifact.LINEAGE).read_text())
    from prodml.training.launcher import framework_image_uri

    record_training_job(
        sm,
        zones,
        job,
        dv,
        hp_strings,
        framework_image_uri(settings.region),
        role_arn or default_role_arn(settings),
    )
    return TrainingJob(
        name=job,
        dataset_version=dv,
        model_data_url=uris["model"],
        lineage_uri=uris["lineage"],
        metrics_uri=uris["metrics"],
        report_uri=uris["report"],
        local_report_dir=local_report_dir,
        metrics=metrics,
        lineage=lineage,
        seconds=time.perf_counter() - started,
    )
