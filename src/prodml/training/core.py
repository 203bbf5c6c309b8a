"""One training run: read the channels, fit, evaluate, export, and write the model directory.

Pure with respect to AWS: it reads local directories and writes local directories, exactly what a SageMaker
training container offers, so the same function runs in SageMaker, in the emulator's executor and in tests.
The model directory it writes is the artifact layout of :mod:`prodml.artifact`.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import joblib
import numpy as np

from prodml import artifact
from prodml.contract import Contract, Task, load_contract
from prodml.training import CONFIG_CHANNEL, RUN_INFO, TrainingError
from prodml.training.data import Split, load_split
from prodml.training.metrics import (
    classification_metrics,
    format_metric_lines,
    naive_baseline,
    regression_metrics,
)
from prodml.training.model import Hyperparameters, build_pipeline, check_family
from prodml.training.onnx_export import export_with_parity

LINEAGE_PACKAGES = (
    "prodml",
    "scikit-learn",
    "numpy",
    "pandas",
    "pyarrow",
    "joblib",
    "skl2onnx",
    "onnxruntime",
)


@dataclass(frozen=True)
class Channels:
    train: Path | None
    validation: Path | None
    test: Path | None
    config: Path | None


@dataclass(frozen=True)
class TrainingResult:
    model_dir: Path
    metrics: dict
    lineage: dict
    seconds: float


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LINEAGE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def load_config(config_dir: Path | None) -> tuple[Contract, dict]:
    """The contract and run information from the config channel."""
    if config_dir is None or not Path(config_dir).is_dir():
        raise TrainingError(f"missing channel {CONFIG_CHANNEL!r} (the contract and run information)")
    config_dir = Path(config_dir)
    contract = load_contract(config_dir / artifact.CONTRACT)
    info_path = config_dir / RUN_INFO
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    return contract, info


def predict(pipeline, contract: Contract, split: Split) -> tuple[np.ndarray, np.ndarray | None]:
    labels = pipeline.predict(split.X)
    proba = None if contract.target.task is Task.REGRESSION else pipeline.predict_proba(split.X)
    return labels, proba


def evaluate(pipeline, contract: Contract, split: Split) -> dict[str, float]:
    labels, proba = predict(pipeline, contract, split)
    if proba is None:  # predict() has probabilities for classifiers only
        return regression_metrics(split.y, labels)
    return classification_metrics(contract, split.y, labels, proba, list(pipeline.classes_))


def _check_target(contract: Contract, train: Split) -> None:
    if contract.target.task is Task.REGRESSION:
        if np.unique(train.y).size < 2:
            raise TrainingError("the regression target is constant in the training split: nothing to learn")
        return
    classes = np.unique(train.y)
    if classes.size < 2:
        raise TrainingError(
            f"target {contract.target.name!r} has one class ({classes[0]!r}) in the training split; "
            "a classifier needs at least two"
        )


def train(
    channels: Channels,
    model_dir: Path,
    output_dir: Path,
    hp: Hyperparameters,
    *,
    log: Callable[[str], None] = print,
) -> TrainingResult:
    """Train on ``channels`` and write the artifact directory ``model_dir`` plus the report to ``output_dir``."""
    started = time.perf_counter()
    contract, info = load_config(channels.config)
    # Validate the family before reading any data so a typo fails fast.
    check_family(contract.target.task, hp.family)
    train_split = load_split(contract, channels.train, "train")
    validation = load_split(contract, channels.validation, "validation")
    test = load_split(contract, channels.test, "test")
    _check_target(contract, train_split)
    log(
        f"training {hp.family} on {len(train_split):,} rows "
        f"({len(validation):,} validation, {len(test):,} test), {len(contract.model_features)} features"
    )

    pipeline = build_pipeline(contract, hp)
    fit_started = time.perf_counter()
    pipeline.fit(train_split.X, train_split.y)
    fit_seconds = time.perf_counter() - fit_started

    evaluated = {}
    for split in (validation, test):
        evaluated[split.name] = evaluate(pipeline, contract, split)
        for line in format_metric_lines(split.name, evaluated[split.name]):
            log(line)

    onnx_bytes, parity = export_with_parity(pipeline, contract, test.X)
    log(
        f"onnx: {'kept' if onnx_bytes else 'dropped'} (converted={parity.converted}, "
        f"label agreement={parity.label_agreement:.4f}, max prob diff={parity.max_abs_prob_diff}, "
        f"max rel pred diff={parity.max_rel_pred_diff})"
    )

    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / artifact.MODEL_JOBLIB)
    if onnx_bytes:
        (model_dir / artifact.MODEL_ONNX).write_bytes(onnx_bytes)
    classes = [] if contract.target.task is Task.REGRESSION else [_plain(c) for c in pipeline.classes_]
    metrics = {
        "task": contract.target.task.value,
        "primary_metric": contract.target.metric,
        "family": hp.family,
        "classes": classes,
        "rows": {"train": len(train_split), "validation": len(validation), "test": len(test)},
        "validation": evaluated["validation"],
        "test": evaluated["test"],
        "baseline": {"test": naive_baseline(contract, train_split.y, test.y)},
        "onnx_parity": parity.as_dict(),
    }
    (model_dir / artifact.METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (model_dir / artifact.CONTRACT).write_text(contract.to_yaml())
    baseline_profile = channels.config / artifact.BASELINE_PROFILE if channels.config else None
    if baseline_profile is not None and baseline_profile.exists():
        shutil.copyfile(baseline_profile, model_dir / artifact.BASELINE_PROFILE)
    else:
        log("warning: the dataset version has no baseline_profile.json; the artifact ships without one")
    seconds = time.perf_counter() - started
    lineage = {
        "dataset": contract.name,
        "dataset_version": info.get("dataset_version"),
        "dataset_manifest": info.get("manifest"),
        "git_sha": info.get("git_sha"),
        "training_job": info.get("job_name"),
        "hyperparameters": hp.as_dict(),
        "contract_fingerprint": contract.fingerprint,
        "contract_version": contract.version,
        "packages": package_versions(),
        "fit_seconds": round(fit_seconds, 3),
        "training_seconds": round(seconds, 3),
    }
    artifact.write_lineage(model_dir, lineage)

    from prodml.training.report import write_training_report

    write_training_report(pipeline, contract, test, metrics, lineage, output_dir, seed=hp.seed)
    log(f"training done in {seconds:.1f}s (fit {fit_seconds:.1f}s)")
    return TrainingResult(model_dir, metrics, json.loads((model_dir / artifact.LINEAGE).read_text()), seconds)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
