"""Registration: a trained artifact → a model package in the SageMaker Model Registry, through the gate.

The champion is evaluated on the candidate's own test split whenever both models share the contract (the
champion's ``model.joblib`` is downloaded and re-scored); otherwise its recorded metrics are used, and only
if it was trained on the same dataset version. Registration never changes another version's status: a new
champion simply outranks the old one, which stays Approved so that rollback can return to it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prodml import artifact, aws
from prodml.contract import Contract
from prodml.registry import ModelRegistry, ModelVersion, RegistryError
from prodml.settings import Settings
from prodml.training import TrainingError
from prodml.training.gate import DEFAULT_MIN_IMPROVEMENT, Decision, decide, default_floor
from prodml.training.report import MODEL_CARD, REPORT_FACTS, model_card
from prodml.zones import Zones

IMAGE_TAG = "latest"


@dataclass(frozen=True)
class Registration:
    job: str
    version: ModelVersion
    decision: Decision
    champion_how: str | None
    model_card: str
    local_report_dir: Path


def job_from_model_data_url(url: str | None) -> str | None:
    """``s3://<artifacts>/training/<job>/output/model.tar.gz`` → ``<job>``."""
    if not url or "/training/" not in url:
        return None
    return url.split("/training/", 1)[1].split("/", 1)[0]


def latest_job(sm, settings: Settings, dataset: str) -> str:
    """The newest training job recorded for ``dataset`` (local runs and SageMaker runs alike)."""
    from prodml import naming

    prefix = naming.resource_name(settings.project, settings.env, dataset) + "-"
    names: list[str] = []
    kwargs = {"NameContains": prefix, "MaxResults": 100}
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
        raise LookupError(f"no training job for {dataset!r} yet; run `prodml train` first")
    # Job names end in a UTC timestamp (see runner.new_job_name), so the greatest name is the newest job.
    return max(names)


def image_uri(settings: Settings) -> str:
    """The serving image the model package names (the ECR repository Terraform creates)."""
    account = aws.client("sts", settings).get_caller_identity()["Account"]
    return f"{account}.dkr.ecr.{settings.region}.amazonaws.com/{settings.ecr_repository}:{IMAGE_TAG}"


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
    from prodml.training.runner import download_split

    test_dir = work / "test"
    download_split(s3, zones, contract.name, dataset_version, "test", test_dir)
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
    model_data_url = zones.uri("artifacts", zones.model_artifact_key(job))
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
        metric = metrics["primary_metric"]
        value = float(metrics["test"][metric])
        the_floor = floor if floor is not None else default_floor(metric, metrics["baseline"]["test"])

        champion = next((v for v in existing if v.status == "Approved"), None)
        champion_metrics, how, comparable = None, None, True
        if champion is not None:
            champion_dir = download_artifact(s3, champion.model_data_url, work / "champion")
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
            "lineage_uri": zones.uri("artifacts", zones.lineage_key(job)),
            f"test_{metric}": f"{value:.6f}",
        }
        registered = registry.register(
            model_data_url=model_data_url,
            image_uri=image_uri(settings),
            metrics_uri=zones.uri("artifacts", f"training/{job}/output/{artifact.METRICS}"),
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
            _report_facts(s3, zones, job),
            champion=None
            if champion_metrics is None
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


def _report_facts(s3, zones: Zones, job: str) -> dict:
    try:
        body = s3.get_object(Bucket=zones.bucket("artifacts"), Key=zones.report_prefix(job) + REPORT_FACTS)
    except s3.exceptions.NoSuchKey:
        return {}
    return json.loads(body["Body"].read())
