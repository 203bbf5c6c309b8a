"""The drift job: one model's baseline against a window of captured requests or a dataset, with its outputs.

:func:`run_drift` is the whole job as a library call (the entrypoint ``python -m prodml.monitoring``, the CLI
and the benchmark call it): it finds the model (the registry's champion, or a named version), reads the
baseline profile and contract packed in its ``model.tar.gz``, streams the current rows through
:class:`~prodml.monitoring.drift.DriftDetector`, writes ``drift.json`` and ``drift.html`` to the output
folder, and publishes ``DriftScore`` to CloudWatch exactly as ``prodml/jobs/monitoring.yaml`` names it (the
metric the Terraform drift alarm watches). Progress and the result are reported through ``on_event``.

A captured window is compared with the model that served it: rows another model version served are counted,
not compared. Thresholds come from the dataset's contract in the current code release (``prodml ship``), so
tuning them needs no retraining (they are not part of the contract fingerprint), else from the model's own
contract. An ``insufficient_data`` verdict publishes nothing: the alarm treats missing data as not breaching.
It never writes to the capture, processed or raw zones.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from botocore.config import Config

from prodml import artifact, aws
from prodml.contract import Contract, ContractError, DriftThresholds, load_contract
from prodml.jobs import monitoring_spec
from prodml.monitoring.drift import INSUFFICIENT_DATA, BaselineError, DriftDetector, DriftResult
from prodml.monitoring.sources import CaptureStats, Chunk, capture_chunks, dataset_chunks
from prodml.registry import ModelRegistry, ModelVersion, RegistryError
from prodml.settings import Settings, get_settings

UTC = timezone.utc  # noqa: UP017 - one spelling for the whole module
RESULT_JSON = "drift.json"
REPORT_HTML = "drift.html"
# CloudWatch takes at most 1000 values a PutMetricData call; 20 keeps each request small everywhere.
METRICS_PER_CALL = 20
PROGRESS_EVERY_ROWS = 100_000

Event = dict[str, Any]


class DriftJobError(RuntimeError):
    """The job cannot run: no model, no baseline, nothing to read. The message says what to do."""


@dataclass(frozen=True)
class DriftRequest:
    """What to compare. Exactly one of: a window of captured requests (``window_hours`` back from now, or
    ``since``/``until``), or a dataset ``source`` (s3:// URI or local path)."""

    dataset: str
    window_hours: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    model_version: int | None = None
    capture_root: str | None = None  # default: the capture bucket, s3://<capture>/

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        if self.since is not None or self.until is not None:
            until = self.until or now
            since = self.since or until - timedelta(hours=self.window_hours or monitoring_spec().window_hours)
        else:
            until = now
            since = now - timedelta(hours=self.window_hours or monitoring_spec().window_hours)
        return _aware(since), _aware(until)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------------
# The model and its baseline
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelBaseline:
    version: ModelVersion
    contract: Contract
    profile: dict[str, Any]


def load_baseline(settings: Settings, dataset: str, version: int | None, workdir: Path) -> ModelBaseline:
    """The champion's (or ``version``'s) contract and baseline profile, from its verified model.tar.gz."""
    import json

    registry = ModelRegistry(aws.client("sagemaker", settings), settings.model_package_group(dataset))
    try:
        model = registry.describe(version) if version is not None else registry.champion()
    except RegistryError as exc:
        raise DriftJobError(str(exc)) from None
    if model is None:
        raise DriftJobError(
            f"no approved model for {dataset!r} in {registry.group}: drift compares with the champion's "
            "baseline (or name one with --model-version)"
        )
    if not model.model_data_url:
        raise DriftJobError(f"model version {model.version} of {dataset!r} has no model artifact")
    bucket, key = aws.split_s3_uri(model.model_data_url)
    tarball = workdir / "model.tar.gz"
    aws.client("s3", settings).download_file(bucket, key, str(tarball))
    try:
        unpacked = artifact.unpack(tarball, workdir / "model")
    except artifact.ArtifactError as exc:
        raise DriftJobError(str(exc)) from None
    profile_path = unpacked.path(artifact.BASELINE_PROFILE)
    if not profile_path.exists():
        raise DriftJobError(
            f"model version {model.version} of {dataset!r} has no {artifact.BASELINE_PROFILE}; "
            "drift needs the baseline training packs into every model"
        )
    contract = load_contract(unpacked.path(artifact.CONTRACT))
    return ModelBaseline(model, contract, json.loads(profile_path.read_text()))


def released_thresholds(settings: Settings, dataset: str) -> tuple[DriftThresholds, str] | None:
    """The drift thresholds of the dataset's contract in the current code release, and its URI."""
    from prodml.release import current_release
    from prodml.zones import Zones

    try:
        uri = current_release(aws.client("s3", settings), Zones(settings)).get("contracts", {}).get(dataset)
        if not uri:
            return None
        return load_contract(uri).drift, uri
    except (LookupError, ContractError):
        return None


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------


def metric_data(result: DriftResult, timestamp: datetime) -> list[dict[str, Any]]:
    """The DriftScore values of a result, as ``PutMetricData`` takes them: the overall score with the
    dataset's dimensions, then one a feature with the feature dimension added (monitoring.yaml)."""
    spec = monitoring_spec()
    if result.overall_score is None:
        return []
    data = [
        {
            "MetricName": spec.metric_name,
            "Dimensions": spec.metric_dimensions(result.dataset),
            "Value": float(result.overall_score),
            "Unit": "None",
            "Timestamp": timestamp,
        }
    ]
    data += [
        {
            "MetricName": spec.metric_name,
            "Dimensions": spec.metric_dimensions(result.dataset, feature.feature),
            "Value": float(feature.score),
            "Unit": "None",
            "Timestamp": timestamp,
        }
        for feature in result.features
        if feature.score is not None
    ]
    return data


def publish_metrics(result: DriftResult, settings: Settings, timestamp: datetime | None = None) -> int:
    """Publish the result's DriftScore values (none for ``insufficient_data``); returns how many."""
    if result.verdict == INSUFFICIENT_DATA:
        return 0
    data = metric_data(result, timestamp or datetime.now(UTC))
    cloudwatch = aws.boto3_session(settings).client(
        "cloudwatch", endpoint_url=settings.endpoint_url, config=Config(retries={"mode": "standard"})
    )
    namespace = monitoring_spec().namespace
    for start in range(0, len(data), METRICS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + METRICS_PER_CALL])
    return len(data)


# ---------------------------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------------------------


def _with_progress(
    chunks: Iterable[Chunk], on_event: Callable[[Event], None], started: float
) -> Iterator[Chunk]:
    rows, reported = 0, 0
    for chunk in chunks:
        rows += chunk.rows
        if rows - reported >= PROGRESS_EVERY_ROWS:
            reported = rows
            on_event({"event": "progress", "rows": rows, "seconds": round(time.monotonic() - started, 2)})
        yield chunk


def run_drift(
    request: DriftRequest,
    output_dir: Path | None,
    *,
    settings: Settings | None = None,
    publish: bool = True,
    on_event: Callable[[Event], None] = lambda event: None,
    now: datetime | None = None,
) -> DriftResult:
    """Run the drift job (see the module docstring); ``output_dir`` None writes no files."""
    settings = settings or get_settings()
    started = time.monotonic()
    now = _aware(now or datetime.now(UTC))
    if request.source is not None and (request.since or request.until or request.window_hours):
        raise DriftJobError("compare either a capture window or a dataset source, not both")
    with tempfile.TemporaryDirectory(prefix="prodml-drift-") as scratch:
        baseline = load_baseline(settings, request.dataset, request.model_version, Path(scratch))
    if baseline.contract.name != request.dataset:
        raise DriftJobError(
            f"model version {baseline.version.version} was trained on {baseline.contract.name!r}, "
            f"not {request.dataset!r}"
        )
    released = released_thresholds(settings, request.dataset)
    thresholds, thresholds_from = released or (baseline.contract.drift, "model contract.yaml")
    try:
        detector = DriftDetector(baseline.contract, baseline.profile, thresholds)
    except BaselineError as exc:
        raise DriftJobError(f"model version {baseline.version.version}: {exc}") from None
    on_event(
        {
            "event": "baseline",
            "dataset": request.dataset,
            "model_version": baseline.version.version,
            "dataset_version": baseline.profile.get("dataset_version"),
            "thresholds_from": thresholds_from,
        }
    )

    details: dict[str, Any] = {"thresholds_from": thresholds_from}
    stats = CaptureStats()
    source: dict[str, Any]
    if request.source is not None:
        source = {"kind": "dataset", "uri": request.source}
        chunks: Iterable[Chunk] = dataset_chunks(baseline.contract, request.source, settings=settings)
    else:
        since, until = request.window(now)
        root = request.capture_root or f"s3://{settings.bucket('capture')}/"
        source = {"kind": "capture", "since": since.isoformat(), "until": until.isoformat(), "root": root}
        chunks = capture_chunks(
            baseline.contract,
            root,
            since,
            until,
            model_version=baseline.version.version,
            stats=stats,
            settings=settings,
        )
    on_event({"event": "reading", **source})
    try:
        for chunk in _with_progress(chunks, on_event, started):
            detector.add_columns(chunk.columns, chunk.rows)
    except ValueError as exc:  # SourceError and malformed windows
        raise DriftJobError(str(exc)) from None
    if source["kind"] == "capture":
        details |= {
            "capture_objects": stats.objects,
            "rows_read": stats.rows_read,
            "rows_outside_window": stats.rows_outside_window,
            "rows_other_model_versions": stats.rows_other_model_versions,
            "unreadable_lines": stats.unreadable_lines,
            "variants": stats.variants,
            "cache_hits": stats.cache_hits,
        }
    result = detector.result(
        dataset=request.dataset,
        model_version=baseline.version.version,
        source=source,
        computed_at=now.isoformat(),
        details=details,
    )
    result.details["seconds"] = round(time.monotonic() - started, 3)
    # The metric first: it is what the alarm reads, and no trouble with the report may keep it back.
    published = publish_metrics(result, settings, now) if publish else 0
    outputs: dict[str, str] = {}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / RESULT_JSON).write_text(result.to_json())
        outputs["json"] = str(output_dir / RESULT_JSON)
        try:
            from prodml.monitoring.report import render_html

            page = render_html(result)
        except ImportError as exc:  # matplotlib: in the platform image's dependencies
            raise DriftJobError(f"drift.json written, metric published, but no report: {exc}") from None
        (output_dir / REPORT_HTML).write_text(page, encoding="utf-8")
        outputs["html"] = str(output_dir / REPORT_HTML)
    on_event({"event": "result", **result.summary(), "metrics_published": published, "outputs": outputs})
    return result
