"""ONNX export of the fitted pipeline, kept only when it agrees with scikit-learn on the test split.

The ONNX input signature (serving depends on it, see ``prodml.artifact``): one input per model feature,
named exactly as the feature, in ``contract.model_features`` order; numeric features (int, float, bool as
0/1, derived) are ``tensor(float)`` of shape ``[None, 1]`` with NaN for missing; categorical features are
``tensor(string)`` of shape ``[None, 1]`` with "" for missing. Outputs: ``label`` and, for classifiers,
``probabilities`` (``[None, n_classes]`` in ``metrics.json["classes"]`` order; no ZipMap); regressors
output ``variable`` (``[None, 1]``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from prodml.contract import Contract, Task

PROBABILITY_TOLERANCE = 1e-5
REGRESSION_RELATIVE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ParityResult:
    converted: bool
    passed: bool
    rows: int = 0
    label_agreement: float = 0.0
    max_abs_prob_diff: float | None = None
    max_rel_pred_diff: float | None = None
    tolerance: float = PROBABILITY_TOLERANCE
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def onnx_inputs(contract: Contract, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ONNX feed for a prepared model frame (see the module docstring)."""
    feed = {}
    for name in contract.numeric_features:
        feed[name] = X[name].to_numpy(dtype=np.float32).reshape(-1, 1)
    for name in contract.categorical_features:
        feed[name] = X[name].astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return feed


def convert(pipeline, contract: Contract) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [(name, FloatTensorType([None, 1])) for name in contract.numeric_features]
    initial_types += [(name, StringTensorType([None, 1])) for name in contract.categorical_features]
    options = {}
    if contract.target.task is not Task.REGRESSION:
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
    onx = convert_sklearn(pipeline, initial_types=initial_types, options=options, target_opset=17)
    return onx.SerializeToString()


def run_onnx(model_bytes: bytes, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def export_with_parity(
    pipeline, contract: Contract, X_test: pd.DataFrame
) -> tuple[bytes | None, ParityResult]:
    """Convert and compare with scikit-learn on ``X_test``; the ONNX bytes only when parity holds."""
    try:
        model_bytes = convert(pipeline, contract)
        outputs = run_onnx(model_bytes, onnx_inputs(contract, X_test))
    except Exception as exc:  # any converter or runtime failure means: ship joblib only
        return None, ParityResult(converted=False, passed=False, error=f"{type(exc).__name__}: {exc}"[:500])
    rows = len(X_test)
    if contract.target.task is Task.REGRESSION:
        expected = pipeline.predict(X_test).astype(np.float64)
        got = outputs[0].reshape(-1).astype(np.float64)
        rel = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected)))) if rows else 0.0
        passed = rel <= REGRESSION_RELATIVE_TOLERANCE
        result = ParityResult(True, passed, rows, 1.0, None, rel, REGRESSION_RELATIVE_TOLERANCE)
    else:
        expected_labels = pipeline.predict(X_test)
        expected_proba = pipeline.predict_proba(X_test)
        labels, proba = outputs[0].reshape(-1), outputs[1]
        agreement = float(np.mean(labels.astype(str) == expected_labels.astype(str))) if rows else 1.0
        diff = float(np.max(np.abs(proba - expected_proba))) if rows else 0.0
        passed = agreement == 1.0 and diff <= PROBABILITY_TOLERANCE
        result = ParityResult(True, passed, rows, agreement, diff, None, PROBABILITY_TOLERANCE)
    return (model_bytes if result.passed else None), result
