"""Per-prediction explanations: each model feature's additive share of the prediction's margin, by shap.

What is explained is the artifact's ``model.joblib`` pipeline (impute and scale the numeric features, one-hot
the categoricals, then the estimator; see :mod:`prodml.training.model`), on the very inputs serving encodes
(:class:`prodml.encoding.ModelInputs`). ``model.onnx``, which serves when the artifact has one, matches the
pipeline within the artifact's parity check, so the attributions explain the served prediction to that
precision. The estimator is explained over the pipeline's transformed columns, and each one-hot column's
attribution is summed back into its source feature, so the keys are exactly the contract's
``model_features``. For every row ``base_value + sum(attributions) == margin`` (to float rounding), where
the margin is, per family:

- gradient boosting: the raw score, ``decision_function`` (log-odds for a binary target; a class's logit for
  a multiclass one); shap's ``TreeExplainer`` (path-dependent: the base value is the trees' expected value
  over their training data). shap has no multiclass gradient boosting, so there each class's trees are
  explained one by one and summed (Shapley values add over an ensemble's trees).
- random forest: the class probability (``predict_proba``), or the value for a regressor; ``TreeExplainer``.
- logistic regression: the decision function (log-odds, a class's logit); ridge: the value.
  ``LinearExplainer``, exact for a linear model: ``coef * (x - reference)``, where the reference is the
  pipeline's transform of a row with every feature missing (numeric features at their training median,
  scaled; no category), so the base value is the model's margin there.

A binary classifier's explanation is of its positive class (the second class, the one ``probability`` is
of); a multiclass one's is of the predicted class. Explaining costs far more than predicting, so it is built
once a model, on the first request that asks (:meth:`app.serving.model.LoadedModel.explain`), never on the
plain prediction path. This module never names a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prodml.contract import Contract, Task

TREE_ESTIMATORS = {
    "GradientBoostingClassifier": "log_odds",
    "GradientBoostingRegressor": "value",
    "RandomForestClassifier": "probability",
    "RandomForestRegressor": "value",
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
LINEAR_ESTIMATORS = {"LogisticRegression": "log_odds", "Ridge": "value", "LinearRegression": "value"}


class ExplainError(RuntimeError):
    """The model cannot be explained (an estimator or transformer this module does not know)."""


@dataclass(frozen=True)
class Explanations:
    """Explanations of some rows: ``attributions[i, j]`` is feature ``features[j]``'s share of row i's margin."""

    output: str  # "log_odds" | "probability" | "value": what the margin is
    features: tuple[str, ...]  # the contract's model_features
    base_values: np.ndarray  # [rows]
    margins: np.ndarray  # [rows]: the pipeline's own output, not the sum below
    attributions: np.ndarray  # [rows, features]
    classes: list[Any] | None  # the class each row's explanation is of (None for a regressor)

    def as_dicts(self) -> list[dict[str, Any]]:
        """One ``{"base_value", "margin", "output", "attributions": {feature: value}, "class"}`` a row
        (``class`` only for a classifier); full float precision, so the sum holds to 1e-6 in JSON too."""
        rows = []
        base, margin, values = self.base_values.tolist(), self.margins.tolist(), self.attributions.tolist()
        for i in range(len(base)):
            row: dict[str, Any] = {
                "output": self.output,
                "base_value": base[i],
                "margin": margin[i],
                "attributions": dict(zip(self.features, values[i], strict=True)),
            }
            if self.classes is not None:
                row["class"] = self.classes[i]
            rows.append(row)
        return rows


def _column_sources(features: Any, model_features: tuple[str, ...]) -> np.ndarray:
    """For each column the pipeline's ``ColumnTransformer`` outputs, the index of its source feature."""
    index = {name: i for i, name in enumerate(model_features)}
    sources = np.full(sum(s.stop - s.start for s in features.output_indices_.values()), -1, dtype=np.int64)
    for name, transformer, columns in features.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        where = features.output_indices_[name]
        columns = list(columns)
        if hasattr(transformer, "categories_"):  # a one-hot encoder: one column a (kept) category
            widths = [len(c) for c in transformer.categories_]
            if getattr(transformer, "drop_idx_", None) is not None:
                widths = [w - (d is not None) for w, d in zip(widths, transformer.drop_idx_, strict=True)]
            owners = [
                index[column] for column, width in zip(columns, widths, strict=True) for _ in range(width)
            ]
        else:  # one column a feature it keeps (an imputer drops a feature never seen in training)
            owners = [index[str(out)] for out in transformer.get_feature_names_out(columns)]
        if len(owners) != where.stop - where.start:
            raise ExplainError(f"cannot map the {name!r} transformer's columns back to features")
        sources[where] = owners
    if (sources < 0).any():
        raise ExplainError("the pipeline outputs columns of no known feature")
    return sources


class Explainer:
    """shap's explainer for one fitted pipeline; :meth:`explain` takes the pipeline's input frame."""

    def __init__(self, pipeline: Any, contract: Contract, profile_classes: list[Any]):
        import shap

        self.features = tuple(contract.model_features)
        self._numeric = list(contract.numeric_features)
        self.regression = contract.target.task is Task.REGRESSION
        self._transform = pipeline[:-1]
        self._estimator = estimator = pipeline.steps[-1][1]
        self._sources = _column_sources(pipeline.named_steps["features"], self.features)
        kind = type(estimator).__name__
        self._classes = [
            c.item() if isinstance(c, np.generic) else c for c in getattr(estimator, "classes_", [])
        ]
        self._class_names = profile_classes or self._classes
        self._tree = kind in TREE_ESTIMATORS
        if kind not in TREE_ESTIMATORS and kind not in LINEAR_ESTIMATORS:
            raise ExplainError(f"no explainer for a {kind}")
        self.output = TREE_ESTIMATORS.get(kind) or LINEAR_ESTIMATORS[kind]
        self._per_tree: list[list[Any]] | None = None
        self._explainer: Any = None  # shap's explainer (None: one a tree, in _per_tree)
        if kind == "GradientBoostingClassifier" and len(self._classes) > 2:
            # shap explains binary gradient boosting only: one explainer a tree, summed by class.
            self._per_tree = [
                [shap.TreeExplainer(tree) for tree in estimator.estimators_[:, k]]
                for k in range(estimator.estimators_.shape[1])
            ]
        elif self._tree:
            self._explainer = shap.TreeExplainer(estimator)
        else:
            reference = self._columns(self._missing_row(contract))[0]
            zero = np.zeros((reference.size, reference.size))
            self._explainer = shap.LinearExplainer(estimator, (reference, zero))

    def _missing_row(self, contract: Contract) -> Any:
        import pandas as pd

        row: dict[str, list[Any]] = {n: [np.nan] for n in contract.numeric_features}
        row.update({n: [""] for n in contract.categorical_features})
        return pd.DataFrame(row, columns=list(self.features))

    def _columns(self, frame: Any) -> np.ndarray:
        if self._numeric:
            # A number beyond float32's range is ±inf in the model input (ONNX takes it; sklearn's checks
            # refuse it): float32's largest value takes every tree split the same way.
            frame = frame.assign(**{n: frame[n].clip(-_FLOAT32_MAX, _FLOAT32_MAX) for n in self._numeric})
        transformed = np.asarray(self._transform.transform(frame), dtype=np.float64)
        if self._tree:  # trees compare float32 inputs: give shap exactly the values sklearn's trees see
            transformed = transformed.astype(np.float32).astype(np.float64)
        return transformed

    def explain(self, frame: Any, labels: np.ndarray | None = None) -> Explanations:
        """Explain ``frame``'s rows (the ``model.joblib`` input); ``labels`` are the served predictions, whose
        class a multiclass explanation is of (default: the pipeline's own)."""
        X = self._columns(frame)
        rows = X.shape[0]
        estimator = self._estimator
        target: np.ndarray | None = None  # the explained class's column, a row
        if not self.regression:
            k = len(self._classes)
            if k == 2:
                target = np.ones(rows, dtype=np.int64)
            elif labels is not None:
                position = {str(c): i for i, c in enumerate(self._class_names)}
                target = np.array([position[str(v)] for v in np.asarray(labels).tolist()], dtype=np.int64)
            else:
                target = np.asarray(estimator.predict_proba(X)).argmax(axis=1)
        values, base = self._shap(X, target)
        per_column = np.asarray(values, dtype=np.float64)
        attributions = np.zeros((rows, len(self.features)))
        np.add.at(attributions.T, self._sources, per_column.T)
        return Explanations(
            output=self.output,
            features=self.features,
            base_values=np.broadcast_to(np.asarray(base, dtype=np.float64), (rows,)).copy(),
            margins=self._margins(X, target),
            attributions=attributions,
            classes=None if target is None else [self._class_names[i] for i in target.tolist()],
        )

    def _shap(self, X: np.ndarray, target: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per-column attributions [rows, columns] and the base value a row, for each row's target class."""
        rows = np.arange(X.shape[0])
        if self._per_tree is not None:
            assert target is not None
            rate = self._estimator.learning_rate
            raw = np.asarray(self._estimator.decision_function(X))
            values = np.zeros_like(X)
            base = np.zeros(X.shape[0])
            for k, explainers in enumerate(self._per_tree):
                chosen = target == k
                if not chosen.any():
                    continue
                part = X[chosen]
                tree_sum = np.zeros(part.shape[0])
                for tree, explainer in zip(self._estimator.estimators_[:, k], explainers, strict=True):
                    values[chosen] += rate * np.asarray(explainer.shap_values(part, check_additivity=False))
                    tree_sum += tree.predict(part)
                # The constant the ensemble starts from (the class prior's log-odds), read off the model.
                base[chosen] = (
                    raw[chosen, k]
                    - rate * tree_sum
                    + rate * sum(float(np.ravel(e.expected_value)[0]) for e in explainers)
                )
            return values, base
        if self._tree:
            values = np.asarray(self._explainer.shap_values(X, check_additivity=False))
        else:
            values = np.asarray(self._explainer.shap_values(X))
        expected = np.ravel(np.asarray(self._explainer.expected_value, dtype=np.float64))
        if values.ndim == 3:  # [rows, columns, classes]
            assert target is not None
            return values[rows, :, target], expected[target]
        return values, np.full(X.shape[0], expected[-1])

    def _margins(self, X: np.ndarray, target: np.ndarray | None) -> np.ndarray:
        """The estimator's own output. For trees, shap's evaluation of the very trees (its C code, the
        output sklearn's ``predict_proba``/``decision_function``/``predict`` compute, in a thousandth of the
        time: a 200-tree forest costs sklearn ~10 ms a row in Python overhead)."""
        estimator = self._estimator
        if self._tree and self._per_tree is None:
            raw = np.asarray(self._explainer.model.predict(X), dtype=np.float64)
        elif self.regression:
            raw = np.asarray(estimator.predict(X), dtype=np.float64)
        elif self.output == "probability":
            raw = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        else:
            raw = np.asarray(estimator.decision_function(X), dtype=np.float64)
        if raw.ndim == 1 or raw.shape[1] == 1:
            return raw.reshape(-1)
        assert target is not None
        return raw[np.arange(X.shape[0]), target]
