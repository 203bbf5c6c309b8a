"""The evaluation report: PNG plots and a Markdown model card a person would rather look at than read.

Training writes the plots and a first model card (no champion yet) into its output directory; registration
rewrites the card with the champion comparison and the gate's decision. Plots use matplotlib's Agg backend,
never a display.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from prodml.contract import LOWER_IS_BETTER, Contract, Task
from prodml.training.data import Split
from prodml.training.metrics import positive_class

MODEL_CARD = "model_card.md"
REPORT_FACTS = "report.json"
IMPORTANCE_ROWS = 2000


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _plt().close(fig)
    return path.name


def plot_confusion_matrix(y_true, y_pred, classes: list, path: Path) -> str:
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    matrix = confusion_matrix(y_true, y_pred, labels=classes)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    names = [str(c) for c in classes]
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{value:,}",
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test)")
    return _save(fig, path)


def plot_roc_pr(y_true, proba: np.ndarray, classes: list, positive, path: Path) -> str:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _plt()
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(9, 4))
    targets = [positive] if positive is not None else list(classes)
    for label in targets:
        hit = np.asarray(y_true) == label
        if hit.all() or not hit.any():
            continue
        scores = proba[:, list(classes).index(label)]
        fpr, tpr, _ = roc_curve(hit, scores)
        precision, recall, _ = precision_recall_curve(hit, scores)
        roc_ax.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
        pr_ax.plot(recall, precision, label=f"{label}")
    roc_ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    roc_ax.legend(loc="lower right", fontsize=8)
    pr_ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def plot_residuals(y_true, y_pred, path: Path) -> str:
    plt = _plt()
    residuals = np.asarray(y_true) - np.asarray(y_pred)
    fig, (scatter_ax, hist_ax) = plt.subplots(1, 2, figsize=(9, 4))
    scatter_ax.scatter(y_pred, residuals, s=4, alpha=0.4)
    scatter_ax.axhline(0, color="grey", linestyle="--")
    scatter_ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test)")
    hist_ax.hist(residuals, bins=50)
    hist_ax.set(xlabel="residual", ylabel="rows", title="Residual distribution (test)")
    return _save(fig, path)


def permutation_importance(pipeline, contract: Contract, split: Split, seed: int) -> dict[str, float]:
    """Model-agnostic importance on the contract's features (not one-hot columns), on a test sample."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    n = min(len(split), IMPORTANCE_ROWS)
    rows = np.random.default_rng(seed).choice(len(split), size=n, replace=False) if n < len(split) else None
    X = split.X.iloc[rows] if rows is not None else split.X
    y = split.y[rows] if rows is not None else split.y
    scoring = "r2" if contract.target.task is Task.REGRESSION else "accuracy"
    result = sk_permutation_importance(
        pipeline, X, y, scoring=scoring, n_repeats=3, random_state=seed, n_jobs=1
    )
    return dict(
        sorted(zip(X.columns, map(float, result.importances_mean), strict=True), key=lambda kv: -kv[1])
    )


def plot_importance(importance: dict[str, float], path: Path) -> str:
    plt = _plt()
    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names])
    ax.set(xlabel="mean drop in score when shuffled", title="Permutation feature importance (test)")
    return _save(fig, path)


def write_training_report(
    pipeline, contract: Contract, test: Split, metrics: dict, lineage: dict, out: Path, *, seed: int
) -> dict:
    """Plots and the first model card into ``out``; returns the report facts (also written as report.json)."""
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    predicted = pipeline.predict(test.X)
    if contract.target.task is Task.REGRESSION:
        plots.append(plot_residuals(test.y, predicted, out / "residuals.png"))
    else:
        classes = list(pipeline.classes_)
        proba = pipeline.predict_proba(test.X)
        positive = positive_class(contract, classes) if contract.target.task is Task.BINARY else None
        plots.append(plot_confusion_matrix(test.y, predicted, classes, out / "confusion_matrix.png"))
        plots.append(plot_roc_pr(test.y, proba, classes, positive, out / "roc_pr.png"))
    importance = permutation_importance(pipeline, contract, test, seed)
    plots.append(plot_importance(importance, out / "feature_importance.png"))
    facts = {"plots": plots, "feature_importance": importance}
    (out / REPORT_FACTS).write_text(json.dumps(facts, indent=2))
    (out / MODEL_CARD).write_text(model_card(contract, metrics, lineage, facts))
    return facts


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    return str(value)


def model_card(
    contract: Contract,
    metrics: dict,
    lineage: dict,
    facts: dict,
    *,
    champion: dict | None = None,
    decision: dict | None = None,
    model_version: int | None = None,
) -> str:
    """The Markdown model card. ``champion``: {"version", "metrics" (on this test split), "how"}."""
    primary = metrics["primary_metric"]
    direction = "lower is better" if primary in LOWER_IS_BETTER else "higher is better"
    hp = lineage.get("hyperparameters", {})
    title = f"# Model card: {contract.name}" + (f" v{model_version}" if model_version else "")
    lines = [
        title,
        "",
        f"*{contract.description or contract.name}*",
        "",
        f"- **Task:** {metrics['task']}, target `{contract.target.name}`",
        f"- **Model:** {metrics['family']} ({', '.join(f'{k}={v}' for k, v in hp.items() if k != 'family')})",
        f"- **Primary metric:** {primary} ({direction})",
        f"- **Training job:** {lineage.get('training_job') or '-'}",
        "",
    ]
    if decision:
        lines += ["## Registry decision", "", f"**{decision['status']}**: {decision['reason']}", ""]
    lines += ["## Metrics", "", "| metric | validation | test | naive baseline (test) |", "|---|---|---|---|"]
    baseline = metrics.get("baseline", {}).get("test", {})
    for name in metrics["test"]:
        marker = " ★" if name == primary else ""
        lines.append(
            f"| {name}{marker} | {_fmt(metrics['validation'].get(name))} | {_fmt(metrics['test'][name])} | {_fmt(baseline.get(name))} |"
        )
    lines.append("")
    if champion:
        lines += [
            "## Comparison with the champion",
            "",
            f"Champion: version {champion['version']} ({champion['how']}).",
            "",
            "| metric | candidate | champion |",
            "|---|---|---|",
        ]
        for name, value in metrics["test"].items():
            lines.append(f"| {name} | {_fmt(value)} | {_fmt(champion['metrics'].get(name))} |")
        lines.append("")
    elif decision:
        lines += ["## Comparison with the champion", "", "No champion yet: this is the first candidate.", ""]
    rows = metrics.get("rows", {})
    parity = metrics.get("onnx_parity", {})
    lines += [
        "## Data",
        "",
        f"- Dataset `{lineage.get('dataset')}` version `{lineage.get('dataset_version')}`",
        f"- Rows: train {rows.get('train', 0):,}, validation {rows.get('validation', 0):,}, test {rows.get('test', 0):,}",
        f"- Features ({len(contract.model_features)}): numeric {', '.join(contract.numeric_features) or '-'}; "
        f"categorical {', '.join(contract.categorical_features) or '-'}",
        "",
        "## ONNX",
        "",
        f"- Exported: {'yes' if parity.get('passed') else 'no'} (converted {parity.get('converted')}, "
        f"label agreement {_fmt(parity.get('label_agreement'))}, max prob diff {_fmt(parity.get('max_abs_prob_diff'))}, "
        f"max relative prediction diff {_fmt(parity.get('max_rel_pred_diff'))}, tolerance {parity.get('tolerance')})",
        *([f"- Conversion error: {parity['error']}"] if parity.get("error") else []),
        "",
        "## Lineage",
        "",
        f"- Git SHA: `{lineage.get('git_sha') or 'unknown'}`",
        f"- Contract fingerprint: `{lineage.get('contract_fingerprint')}`",
        f"- Packages: {', '.join(f'{k} {v}' for k, v in sorted(lineage.get('packages', {}).items()))}",
        f"- Training time: {lineage.get('training_seconds')} s (fit {lineage.get('fit_seconds')} s)",
        "",
        "## Plots",
        "",
    ]
    lines += [f"![{Path(p).stem}]({p})" for p in facts.get("plots", [])]
    importance = facts.get("feature_importance", {})
    if importance:
        top = list(importance.items())[:5]
        lines += ["", "Top features: " + ", ".join(f"{k} ({v:.3f})" for k, v in top)]
    return "\n".join(lines) + "\n"
