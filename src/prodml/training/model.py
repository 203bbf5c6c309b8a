"""The model: hyperparameters and the scikit-learn pipeline built from a contract.

The pipeline takes a DataFrame with exactly ``contract.model_features`` as columns, prepared by
:func:`prodml.training.data.model_frame` (numeric as float64 with NaN for missing and bool as 0/1,
categoricals as str with "" for missing). Every step is convertible by skl2onnx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from prodml.contract import Contract, Task
from prodml.training import TrainingError

CLASSIFIER_FAMILIES = ("gradient_boosting", "random_forest", "logistic_regression")
REGRESSOR_FAMILIES = ("gradient_boosting", "random_forest", "ridge")
TREE_FAMILIES = frozenset({"gradient_boosting", "random_forest"})


def families(task: Task) -> tuple[str, ...]:
    return REGRESSOR_FAMILIES if task is Task.REGRESSION else CLASSIFIER_FAMILIES


@dataclass(frozen=True)
class Hyperparameters:
    """The knobs a training job takes. SageMaker passes every value as a string; :meth:`parse` types them."""

    family: str = "gradient_boosting"
    n_estimators: int = 100
    max_depth: int = 3  # 0 means unlimited (random forest)
    learning_rate: float = 0.1
    C: float = 1.0
    alpha: float = 1.0
    seed: int = 42

    @classmethod
    def parse(cls, raw: Mapping[str, str | int | float]) -> Hyperparameters:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise TrainingError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
        typed: dict[str, Any] = {}
        for name, value in raw.items():
            kind = {"int": int, "float": float, "str": str}[str(known[name].type)]
            try:
                typed[name] = kind(float(value)) if kind is int and str(value).endswith(".0") else kind(value)
            except (TypeError, ValueError):
                raise TrainingError(
                    f"hyperparameter {name}={value!r} is not a valid {kind.__name__}"
                ) from None
        hp = cls(**typed)
        if hp.n_estimators < 1:
            raise TrainingError(f"n_estimators must be at least 1, got {hp.n_estimators}")
        if hp.max_depth < 0:
            raise TrainingError(f"max_depth must be 0 (unlimited) or more, got {hp.max_depth}")
        if hp.learning_rate <= 0 or hp.C <= 0 or hp.alpha < 0:
            raise TrainingError("learning_rate and C must be positive, alpha non-negative")
        return hp

    def as_strings(self) -> dict[str, str]:
        """The SageMaker form: every value a string."""
        return {k: str(v) for k, v in asdict(self).items()}

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_family(task: Task, family: str) -> None:
    if family not in families(task):
        raise TrainingError(
            f"unknown model family {family!r} for {task.value}; choose one of {', '.join(families(task))}"
        )


def _estimator(task: Task, hp: Hyperparameters):
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    check_family(task, hp.family)
    depth = hp.max_depth or None
    if task is Task.REGRESSION:
        return {
            "gradient_boosting": lambda: GradientBoostingRegressor(
                n_estimators=hp.n_estimators,
                max_depth=depth,
                learning_rate=hp.learning_rate,
                random_state=hp.seed,
            ),
            "random_forest": lambda: RandomForestRegressor(
                n_estimators=hp.n_estimators, max_depth=depth, random_state=hp.seed, n_jobs=1
            ),
            "ridge": lambda: Ridge(alpha=hp.alpha, random_state=hp.seed),
        }[hp.family]()
    return {
        "gradient_boosting": lambda: GradientBoostingClassifier(
            n_estimators=hp.n_estimators,
            max_depth=depth,
            learning_rate=hp.learning_rate,
            random_state=hp.seed,
        ),
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=hp.n_estimators, max_depth=depth, random_state=hp.seed, n_jobs=1
        ),
        "logistic_regression": lambda: LogisticRegression(C=hp.C, max_iter=2000, random_state=hp.seed),
    }[hp.family]()


def build_pipeline(contract: Contract, hp: Hyperparameters):
    """Impute (median) and scale the numeric features, one-hot the categoricals (unknowns ignored).

    Tree families skip the scaler: splits are scale-invariant, and scaling in float64 while ONNX runs in
    float32 moves rows across split thresholds, which breaks ONNX parity.
    """
    # Imported here: the runner and launcher use this module's hyperparameters without loading sklearn.
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if contract.numeric_features:
        steps = [("impute", SimpleImputer(strategy="median"))]
        if hp.family not in TREE_FAMILIES:
            steps.append(("scale", StandardScaler()))
        numeric = Pipeline(steps)
        transformers.append(("numeric", numeric, contract.numeric_features))
    if contract.categorical_features:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", onehot, contract.categorical_features))
    features = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
    return Pipeline([("features", features), ("model", _estimator(contract.target.task, hp))])
