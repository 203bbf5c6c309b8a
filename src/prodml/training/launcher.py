"""The AWS launcher: a real SageMaker training job through the SageMaker Python SDK v2 ``SKLearn`` estimator.

The job runs the same ``pipelines/training/train.py`` in the scikit-learn framework container, whose Python is
3.10. The source directory is staged from this checkout: the entrypoint, the ``prodml`` package and a
``requirements.txt`` (see :func:`requirements`) that the container installs before it runs the entrypoint.
Channels point at the committed dataset version's split prefixes; the config channel (contract, run
information, baseline profile) is uploaded to the artifacts bucket under the job's name first. It never
waits for the job (``wait=False``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from prodml import aws
from prodml.contract import Contract
from prodml.settings import Settings
from prodml.training import CONFIG_CHANNEL
from prodml.training.metrics import metric_definitions
from prodml.training.model import Hyperparameters
from prodml.zones import SPLITS, Zones

FRAMEWORK_VERSION = "1.4-2"  # the newest scikit-learn framework container the SDK knows; it runs Python 3.10
INSTANCE_TYPE = "ml.m5.large"
# The libraries whose versions decide the artifact: pinned to this environment's (the lock's, which serving runs
# too), so the pickled pipeline loads in serving unchanged and the ONNX graph is the one parity was checked on.
ARTIFACT_LIBRARIES = ("scikit-learn", "joblib", "skl2onnx", "onnx")
# Everything else comes at prodml's declared ranges (pyproject): the lock's own versions of numpy, pandas,
# pyarrow, ... need Python 3.11+, while these ranges resolve on the container's 3.10. onnxruntime is among
# them: training uses it only for the parity check, and the lock's version has no Python 3.10 build.
REQUIREMENTS_EXTRA = "training"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LaunchedJob:
    name: str
    dataset_version: str
    model_data_url: str
    description: dict


def _quiet_sagemaker() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import logging

    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)


def framework_image_uri(region: str) -> str:
    """The scikit-learn training container for ``region`` (also recorded for local runs).

    Read from the SDK's own image table rather than through ``sagemaker.image_uris``: importing the SDK
    takes many seconds, and the local runner only needs the name.
    """
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or spec.origin is None:
        return f"sagemaker-scikit-learn:{FRAMEWORK_VERSION}-cpu-py3"
    table = json.loads((Path(spec.origin).parent / "image_uri_config" / "sklearn.json").read_text())
    entry = table["training"]["versions"][FRAMEWORK_VERSION]
    account = entry["registries"].get(region) or entry["registries"]["us-east-1"]
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{FRAMEWORK_VERSION}-cpu-py3"


def requirements() -> str:
    """``requirements.txt`` for the container: the artifact's libraries pinned, the rest of prodml's core and
    training dependencies at their declared ranges."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = []
    for name in ARTIFACT_LIBRARIES:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise RuntimeError(
                f"cannot pin {name}: it is not installed here (install prodml with the training extra)"
            ) from None
    pinned = {canonicalize_name(name) for name in ARTIFACT_LIBRARIES}
    for spec in metadata.requires("prodml") or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": REQUIREMENTS_EXTRA}):
            continue
        if canonicalize_name(req.name) not in pinned:
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            lines.append(f"{req.name}{extras}{req.specifier}")
    return "\n".join(lines) + "\n"


def stage_source_dir(into: Path) -> Path:
    """``source_dir`` for the estimator: train.py, the prodml package and requirements.txt."""
    from prodml.training.runner import ENTRYPOINT

    into.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ENTRYPOINT, into / ENTRYPOINT.name)
    shutil.copytree(PACKAGE_DIR, into / "prodml", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (into / "requirements.txt").write_text(requirements())
    return into


def launch(
    contract: Contract,
    settings: Settings,
    hp: Hyperparameters,
    *,
    version: str | None = None,
    role_arn: str | None = None,
    instance_type: str = INSTANCE_TYPE,
    job_name: str | None = None,
) -> LaunchedJob:
    _quiet_sagemaker()
    import boto3
    import sagemaker
    from sagemaker.inputs import TrainingInput
    from sagemaker.sklearn.estimator import SKLearn

    from prodml.training import runner

    s3, zones = aws.client("s3", settings), Zones(settings)
    dv = runner.committed_version(s3, zones, contract.name, version)
    job = job_name or runner.new_job_name(settings, contract.name)
    role = role_arn or runner.default_role_arn(settings)

    boto_session = aws.boto3_session(settings)
    assert isinstance(boto_session, boto3.session.Session)
    session = sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=aws.client("sagemaker", settings),
        default_bucket=zones.bucket("artifacts"),
        default_bucket_prefix=None,
    )
    session.s3_client = s3
    session.s3_resource = boto_session.resource("s3", endpoint_url=settings.endpoint_url)
    with tempfile.TemporaryDirectory(prefix="prodml-launch-") as tmp:
        config_dir = runner.stage_config(s3, zones, contract, dv, job, Path(tmp) / "config")
        config_prefix = f"training/{job}/input/{CONFIG_CHANNEL}/"
        for path in sorted(config_dir.iterdir()):
            s3.upload_file(str(path), zones.bucket("artifacts"), config_prefix + path.name)
        source_dir = stage_source_dir(Path(tmp) / "source")
        estimator = SKLearn(
            entry_point=runner.ENTRYPOINT.name,
            source_dir=str(source_dir),
            framework_version=FRAMEWORK_VERSION,
            py_version="py3",
            role=role,
            instance_type=instance_type,
            instance_count=1,
            hyperparameters=hp.as_strings(),
            metric_definitions=metric_definitions(contract.target.task),
            output_path=zones.uri("artifacts", zones.training_output_prefix()),
            code_location=zones.uri("artifacts", "code/training"),
            base_job_name=job,
            sagemaker_session=session,
            max_run=3600,
            tags=[
                {"Key": "prodml:runner", "Value": "sagemaker"},
                {"Key": "prodml:dataset", "Value": dv.dataset},
                {"Key": "prodml:dataset-version", "Value": dv.version},
            ],
        )
        channels = {
            split: TrainingInput(zones.uri("processed", zones.split_prefix(contract.name, dv.version, split)))
            for split in SPLITS
        }
        channels[CONFIG_CHANNEL] = TrainingInput(zones.uri("artifacts", config_prefix))
        estimator.fit(channels, job_name=job, wait=False, logs=False)
    description = aws.client("sagemaker", settings).describe_training_job(TrainingJobName=job)
    return LaunchedJob(
        name=job,
        dataset_version=dv.version,
        model_data_url=zones.uri("artifacts", zones.model_artifact_key(job)),
        description=description,
    )
