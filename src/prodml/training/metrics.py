"""Evaluation metrics, their printed form, and the regexes SageMaker metric definitions use to scrape them.

Each metric is printed on its own line as ``metric <split>:<name>=<value>`` (for example
``metric test:roc_auc=0.812345``); :func:`metric_definitions` gives the matching SageMaker definitions.
"""

from __future__ import annotations

import math
import re

import numpy as np

from prodml.contract import LOWER_IS_BETTER, Contract, Task, canonical_category

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc", "log_loss")
MULTICLASS_METRICS = ("accuracy", "f1_macro", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
EVALUATED_SPLITS = ("validation", "test")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan)"
METRIC_LINE = re.compile(
    r"^metric (?P<split>[a-z]+):(?P<name>[a-z0-9_]+)=" + _NUMBER.replace("(", "(?P<value>", 1)
)


def metric_names(task: Task) -> tuple[str, ...]:
    return {
        Task.BINARY: CLASSIFICATION_METRICS,
        Task.MULTICLASS: MULTICLASS_METRICS,
        Task.REGRESSION: REGRESSION_METRICS,
    }[task]


def metric_definitions(task: Task) -> list[dict[str, str]]:
    """SageMaker ``metric_definitions``: one per split and metric, matching :func:`format_metric_lines`."""
    return [
        {"Name": f"{split}:{name}", "Regex": rf"metric {split}:{name}={_NUMBER}"}
        for split in EVALUATED_SPLITS
        for name in metric_names(task)
    ]


def format_metric_lines(split: str, values: dict[str, float]) -> list[str]:
    return [f"metric {split}:{name}={value:.6f}" for name, value in values.items()]


def is_better(metric: str, candidate: float, reference: float, margin: float = 0.0) -> bool:
    """True when ``candidate`` beats ``reference`` by at least ``margin`` in the metric's direction."""
    if metric in LOWER_IS_BETTER:
        return candidate <= reference - margin
    return candidate >= reference + margin


def improvement(metric: str, candidate: float, reference: float) -> float:
    """How much better ``candidate`` is, positive when better, in the metric's direction."""
    return reference - candidate if metric in LOWER_IS_BETTER else candidate - reference


def classification_metrics(
    contract: Contract, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list
) -> dict[str, float]:
    from sklearn import metrics as skm

    labels = list(classes)
    result = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    if contract.target.task is Task.BINARY:
        positive = positive_class(contract, labels)
        p = proba[:, labels.index(positive)]
        result["f1"] = float(skm.f1_score(y_true, y_pred, pos_label=positive))
        result["roc_auc"] = _safe(lambda: skm.roc_auc_score(np.asarray(y_true) == positive, p))
    else:
        result["f1_macro"] = float(
            skm.f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)
        )
        result["roc_auc"] = _safe(
            lambda: skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
        )
    result["log_loss"] = _safe(lambda: skm.log_loss(y_true, proba, labels=labels))
    return result


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as skm

    return {
        "rmse": float(math.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def naive_baseline(contract: Contract, y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """What a model that ignores the features scores on the test split: the floor for scale-bound metrics."""
    if contract.target.task is Task.REGRESSION:
        return regression_metrics(y_test, np.full(len(y_test), float(np.mean(y_train))))
    labels, counts = np.unique(y_train, return_counts=True)
    prior = counts / counts.sum()
    majority = labels[int(np.argmax(counts))]
    proba = np.tile(prior, (len(y_test), 1))
    return classification_metrics(
        contract,
        y_test,
        np.full(len(y_test), majority, dtype=object if labels.dtype == object else labels.dtype),
        proba,
        list(labels),
    )


def positive_class(contract: Contract, labels: list):
    if contract.target.values is None:
        return 1
    declared = contract.target.values[1]
    return declared if declared in labels else canonical_category(declared)


def _safe(compute) -> float:
    """A metric undefined on this split (e.g. ROC AUC with one class present) is NaN, not a crash."""
    try:
        return float(compute())
    except ValueError:
        return float("nan")
