"""Registration: a trained artifact → a model package in the SageMaker Model Registry, through the gate.

The champion is evaluated on the candidate's own test split whenever both models share the contract (the
champion's ``model.joblib`` is downloaded and re-scored); otherwise its recorded metrics are used, and only
if it was trained on the same dataset version. Registration never changes another version's status: a new
champion simply outranks the old one, which stays Approved so that rollback can return to it.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodml import artifact, aws
from prodml.contract import Contract
from prodml.datasets import DatasetStore
from prodml.registry import ModelRegistry, ModelVersion, RegistryError
from prodml.settings import Settings
from prodml.training import TrainingError
from prodml.training.gate import DEFAULT_MIN_IMPROVEMENT, Decision, decide, default_floor
from prodml.training.report import MODEL_CARD, REPORT_FACTS, model_card
from prodml.zones import Zones


@dataclass(frozen=True)
class Registration:
    job: str
    version: ModelVersion
    decision: Decision
    champion_how: str | None
    model_card: str
    local_report_dir: Path


def latest_job(sm, settings: Settings, dataset: str) -> str:
    """The newest completed training job for ``dataset``."""
    from prodml import naming

    prefix = naming.resource_name(settings.project, settings.env, dataset) + "-"
    names: list[str] = []
    kwargs = {"NameContains": prefix, "MaxResults": 100, "StatusEquals": "Completed"}
    while True:
        page = sm.list_training_jobs(**kwargs)
        names += [
            s["TrainingJobName"]
            for s in page["TrainingJobSummaries"]
            if s["TrainingJobName"].startswith(prefix)
        ]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    if not names:
        raise LookupError(f"no completed training job for {dataset!r} yet; run `prodml train` first")
    # Job names end in a UTC timestamp (see launcher.new_job_name), so the greatest name is the newest job.
    return max(names)


def completed_job(sm, job: str) -> dict:
    """The training job's description; RegistryError unless it completed."""
    try:
        description = sm.describe_training_job(TrainingJobName=job)
    except sm.exceptions.ClientError as exc:
        raise RegistryError(f"no training job {job}: {exc.response['Error'].get('Message')}") from None
    status = description["TrainingJobStatus"]
    if status != "Completed":
        reason = description.get("FailureReason") or "it has not finished"
        raise RegistryError(f"training job {job} is {status}, not Completed: {reason}")
    return description


def image_uri(settings: Settings, git_sha: str | None) -> str:
    """The serving image the model package names, by digest: the image pushed for the commit the model was
    trained from when there is one, else the newest image in the service's ECR repository."""
    ecr = aws.client("ecr", settings)
    repository = settings.ecr_repository
    images: list[Any] = []
    try:
        for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository):
            images += page.get("imageDetails", [])
    except ecr.exceptions.RepositoryNotFoundException:
        raise RegistryError(f"no ECR repository {repository}; provision it (`make apply`)") from None
    if not images:
        raise RegistryError(
            f"ECR repository {repository} holds no image yet: the model package must name one that exists; "
            "the deploy workflow pushes it (`docker push`), or, on the emulator with no Docker, `prodml image record`"
        )
    sha = (git_sha or "").removesuffix("-dirty")
    tagged = [i for i in images if sha and sha in (i.get("imageTags") or [])]
    chosen = (tagged or sorted(images, key=lambda i: i.get("imagePushedAt") or 0))[-1]
    registry = f"{chosen['registryId']}.dkr.ecr.{settings.region}.amazonaws.com"
    return f"{registry}/{repository}@{chosen['imageDigest']}"


def publish_report(s3, zones: Zones, job: str, candidate_dir: Path, output_dir: Path) -> dict[str, str]:
    """Copy what registration and the CLI read out of the job's archives to ``training/<job>/report/``: the
    metrics and lineage from ``model.tar.gz``, the plots and report facts from ``output.tar.gz``."""
    bucket = zones.bucket("artifacts")
    s3.upload_file(str(candidate_dir / artifact.METRICS), bucket, zones.metrics_key(job))
    s3.upload_file(str(candidate_dir / artifact.LINEAGE), bucket, zones.lineage_key(job))
    for path in sorted(output_dir.glob("*")) if output_dir.is_dir() else []:
        if path.is_file() and path.name not in (MODEL_CARD,):
            s3.upload_file(str(path), bucket, zones.report_prefix(job) + path.name)
    return {
        "metrics": zones.uri("artifacts", zones.metrics_key(job)),
        "lineage": zones.uri("artifacts", zones.lineage_key(job)),
    }


def download_output(s3, zones: Zones, job: str, into: Path) -> Path:
    """Unpack the job's ``output.tar.gz`` (``/opt/ml/output/data``) into ``into``; empty when it has none."""
    into.mkdir(parents=True, exist_ok=True)
    bucket, key = zones.bucket("artifacts"), zones.output_archive_key(job)
    if not aws.s3_object_exists(s3, bucket, key):
        return into
    tarball = into.parent / "output.tar.gz"
    s3.download_file(bucket, key, str(tarball))
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    return into


def check_scraped(metrics: dict, job: dict) -> dict[str, float]:
    """The metrics SageMaker scraped from the log (``FinalMetricDataList``) must be the artifact's own."""
    scraped = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList") or []}
    for name, value in scraped.items():
        split, _, metric = name.partition(":")
        recorded = metrics.get(split, {}).get(metric)
        if recorded is not None and value == value and abs(float(recorded) - value) > 1e-5:
            raise RegistryError(
                f"{job['TrainingJobName']}: {name} is {value} in the job's log but {recorded} in its model "
                "artifact; the artifact is not this job's"
            )
    return scraped


def download_artifact(s3, url: str, into: Path) -> artifact.UnpackedArtifact:
    bucket, key = aws.split_s3_uri(url)
    tarball = into / "model.tar.gz"
    into.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(tarball))
    except Exception as exc:
        raise TrainingError(f"cannot download the model artifact {url}: {exc}") from None
    return artifact.unpack(tarball, into / "model")


def score_champion_on(
    s3,
    zones: Zones,
    contract: Contract,
    champion_dir: artifact.UnpackedArtifact,
    dataset_version: str,
    work: Path,
) -> dict[str, float]:
    """The champion's metrics on the candidate's test split."""
    import joblib

    from prodml.training.core import evaluate
    from prodml.training.data import load_split

    test_dir = work / "test"
    DatasetStore.of(s3, zones).download_split(contract.name, dataset_version, "test", test_dir)
    split = load_split(contract, test_dir, "test")
    return evaluate(joblib.load(champion_dir.path(artifact.MODEL_JOBLIB)), contract, split)


def register_job(
    contract: Contract,
    settings: Settings,
    job: str | None = None,
    *,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
    floor: float | None = None,
) -> Registration:
    s3, sm, zones = aws.client("s3", settings), aws.client("sagemaker", settings), Zones(settings)
    job = job or latest_job(sm, settings, contract.name)
    description = completed_job(sm, job)
    model_data_url = description["ModelArtifacts"]["S3ModelArtifacts"]
    registry = ModelRegistry(sm, settings.model_package_group(contract.name))
    registry.ensure_group(contract.description or contract.name)
    existing = registry.versions()
    for version in existing:
        if version.model_data_url == model_data_url:
            raise RegistryError(f"training job {job} is already registered as version {version.version}")

    with tempfile.TemporaryDirectory(prefix="prodml-register-") as tmp:
        work = Path(tmp)
        candidate = download_artifact(s3, model_data_url, work / "candidate")
        if candidate.lineage.get("contract_fingerprint") != contract.fingerprint:
            raise RegistryError(
                f"training job {job} was trained on another version of contract {contract.name!r} "
                "(fingerprints differ); register it with the contract it was trained on"
            )
        metrics, lineage = candidate.metrics, candidate.lineage
        scraped = check_scraped(metrics, description)
        output_dir = download_output(s3, zones, job, work / "output")
        uris = publish_report(s3, zones, job, candidate.directory, output_dir)
        metric = metrics["primary_metric"]
        value = float(metrics["test"][metric])
        the_floor = floor if floor is not None else default_floor(metric, metrics["baseline"]["test"])

        champion = next((v for v in existing if v.status == "Approved"), None)
        champion_metrics: dict[str, float] | None = None
        how: str | None = None
        comparable = True
        champion_url = champion.model_data_url if champion is not None else None
        if champion is not None and not champion_url:
            comparable, how = False, f"not comparable: champion v{champion.version} names no model artifact"
        elif champion is not None and champion_url:
            champion_dir = download_artifact(s3, champion_url, work / "champion")
            if champion_dir.lineage.get("contract_fingerprint") == contract.fingerprint:
                champion_metrics = score_champion_on(
                    s3, zones, contract, champion_dir, lineage["dataset_version"], work
                )
                how = f"re-evaluated on this candidate's test split (dataset version {lineage['dataset_version']})"
            elif champion_dir.lineage.get("dataset_version") == lineage.get("dataset_version"):
                champion_metrics = champion_dir.metrics["test"]
                how = "its recorded test metrics (same dataset version, different contract)"
            else:
                comparable, how = False, "not comparable: different contract and dataset version"

        decision = decide(
            metric,
            value,
            floor=the_floor,
            champion=None if champion_metrics is None else float(champion_metrics[metric]),
            champion_version=champion.version if champion else None,
            comparable=comparable,
            min_improvement=min_improvement,
        )
        summary = {
            "job": job,
            "dataset_version": lineage.get("dataset_version"),
            "family": metrics.get("family"),
            "primary_metric": metric,
            metric: round(value, 6),
            "onnx": bool(metrics.get("onnx_parity", {}).get("passed")),
        }
        metadata = {
            "dataset": contract.name,
            "dataset_version": str(lineage.get("dataset_version")),
            "training_job": job,
            "git_sha": str(lineage.get("git_sha")),
            "contract_fingerprint": contract.fingerprint,
            "lineage_uri": uris["lineage"],
            f"test_{metric}": f"{value:.6f}",
            **{f"scraped:{name}": f"{v:.6f}" for name, v in sorted(scraped.items())[:20]},
        }
        registered = registry.register(
            model_data_url=model_data_url,
            image_uri=image_uri(settings, lineage.get("git_sha")),
            metrics_uri=uris["metrics"],
            summary=summary,
            metadata=metadata,
            status=decision.status,
        )
        # The status is set again so the gate's reason lands in ApprovalDescription.
        registered = registry.set_status(registered.arn, decision.status, f"gate: {decision.reason}")

        card = model_card(
            contract,
            metrics,
            lineage,
            _report_facts(output_dir),
            champion=None
            if champion is None or champion_metrics is None
            else {"version": champion.version, "metrics": champion_metrics, "how": how},
            decision={"status": decision.status, "reason": decision.reason},
            model_version=registered.version,
        )
    local_report_dir = settings.state_dir / "reports" / job
    local_report_dir.mkdir(parents=True, exist_ok=True)
    (local_report_dir / MODEL_CARD).write_text(card)
    s3.put_object(
        Bucket=zones.bucket("artifacts"),
        Key=zones.report_prefix(job) + MODEL_CARD,
        Body=card.encode(),
        ContentType="text/markdown",
    )
    return Registration(job, registered, decision, how, card, local_report_dir)


def _report_facts(output_dir: Path) -> dict:
    path = output_dir / REPORT_FACTS
    return json.loads(path.read_text()) if path.is_file() else {}
