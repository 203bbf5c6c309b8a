"""Per-prediction explanations: for every model family, each row's attributions plus the base value are the
model's own margin within 1e-6, keyed by exactly the contract's model features (unit level, on tiny
pipelines built by training's own ``build_pipeline``), through the loaded artifact as serving loads it."""

from __future__ import annotations

import numpy as np
import pytest

from prodml.contract import load_contract
from prodml.training.model import Hyperparameters, build_pipeline
from tests.conftest import REPO

from .conftest import build_artifact, clean_frame

HOUSES = REPO / "contracts" / "house_prices.yaml"
CHURN = REPO / "contracts" / "customer_churn.yaml"


def _margin(pipeline, frame, output: str, target: np.ndarray | None) -> np.ndarray:
    """The pipeline's own margin, computed here from sklearn's public API alone."""
    if target is None:
        return pipeline.predict(frame)
    rows = np.arange(len(frame))
    if output == "probability":
        return pipeline.predict_proba(frame)[rows, target]
    raw = pipeline.decision_function(frame)
    return raw if raw.ndim == 1 else raw[rows, target]


CASES = [
    ("churn", "gradient_boosting", "log_odds", 2),
    ("churn", "random_forest", "probability", 2),
    ("churn", "logistic_regression", "log_odds", 2),
    ("churn", "gradient_boosting", "log_odds", 3),
    ("churn", "logistic_regression", "log_odds", 3),
    ("houses", "gradient_boosting", "value", 0),
    ("houses", "random_forest", "value", 0),
    ("houses", "ridge", "value", 0),
]


@pytest.mark.parametrize(("dataset", "family", "output", "classes"), CASES)
def test_attributions_sum_to_the_margin(dataset, family, output, classes):
    from app.serving.explain import Explainer

    contract = load_contract(CHURN if dataset == "churn" else HOUSES)
    X, y = clean_frame(contract, 400, seed=5)
    if classes == 3:
        y = np.asarray(X[contract.numeric_features[0]].rank(pct=True).mul(2.999).astype(int))
    elif classes == 0:
        y = X[contract.numeric_features[0]].fillna(0).to_numpy() * 2 + np.arange(len(X)) % 7
    hp = Hyperparameters(family=family, n_estimators=12, max_depth=3)
    pipeline = build_pipeline(contract, hp).fit(X, y)
    names = [str(c) for c in getattr(pipeline, "classes_", [])]
    explained = Explainer(pipeline, contract, names).explain(X.iloc[:25])
    assert explained.output == output
    assert explained.features == tuple(contract.model_features)
    sums = explained.base_values + explained.attributions.sum(axis=1)
    assert np.abs(sums - explained.margins).max() < 1e-6
    target = None
    if classes:
        target = np.array([names.index(c) for c in explained.classes]) if classes == 3 else np.ones(25, int)
        if classes == 3:  # a multiclass explanation is of the predicted class
            assert (target == pipeline.predict_proba(X.iloc[:25]).argmax(axis=1)).all()
    assert np.abs(explained.margins - _margin(pipeline, X.iloc[:25], output, target)).max() < 1e-9
    assert np.abs(explained.attributions).sum() > 0
    # A number beyond float32's range (±inf in the model input) is explained, not refused.
    huge = X.iloc[:2].assign(**{contract.numeric_features[0]: [1e308, -1e308]})
    huge = huge.assign(
        **{n: huge[n].astype(np.float32).astype(np.float64) for n in contract.numeric_features}
    )
    extreme = Explainer(pipeline, contract, names).explain(huge)
    assert np.isfinite(extreme.attributions).all()
    first = explained.as_dicts()[0]
    assert set(first["attributions"]) == set(contract.model_features)
    assert abs(first["base_value"] + sum(first["attributions"].values()) - first["margin"]) < 1e-6


def test_the_loaded_artifact_explains_what_it_serves(tmp_path):
    """Through the artifact as serving loads it (ONNX serving, the joblib pipeline explained): the
    explanation's probability margin is the served probability within the ONNX parity tolerance."""
    from app.serving.model import load_artifact
    from app.serving.schema import example_row

    contract = load_contract(CHURN)
    tarball = build_artifact(contract, tmp_path / "m", n_estimators=8, seed=4, rows=300)
    model = load_artifact(tarball, 1, work_dir=tmp_path / "work")
    try:
        assert model.backend == "onnx" and model._explainer is None  # nothing built until asked
        rows = [model.request_model(**example_row(contract)).model_dump()]
        results = model.predict(rows)
        (explanation,) = model.explain_rows(rows, results)
        assert explanation["output"] == "probability" and explanation["class"] == "1"
        import joblib

        pipeline = joblib.load(model.directory / "model.joblib")
        served_by_joblib = pipeline.predict_proba(model.model_inputs(rows).frame())[0, 1]
        assert abs(explanation["margin"] - served_by_joblib) < 1e-9
        assert abs(explanation["margin"] - results[0]["probability"]) < 0.02  # ONNX, within parity
        total = explanation["base_value"] + sum(explanation["attributions"].values())
        assert abs(total - explanation["margin"]) < 1e-6
    finally:
        model.close()


def test_concurrent_explanations_share_a_call_and_a_bad_row_fails_alone():
    import asyncio

    from app.serving.batching import ExplainBatcher

    class Model:
        def __init__(self):
            self.calls: list[int] = []

        def explain_rows(self, rows, results):
            self.calls.append(len(rows))
            if any(r.get("bad") for r in rows):
                raise ValueError("cannot explain")
            return [{"row": r["i"]} for r in rows]

    async def main(model, rows):
        batcher = ExplainBatcher()
        return await asyncio.gather(
            *(batcher.explain(model, row, {}) for row in rows), return_exceptions=True
        )

    model = Model()
    answers = asyncio.run(main(model, [{"i": i} for i in range(5)]))
    assert answers == [{"row": i} for i in range(5)] and model.calls == [5]
    model = Model()
    answers = asyncio.run(main(model, [{"i": 0}, {"i": 1, "bad": True}, {"i": 2}]))
    assert answers[0] == {"row": 0} and answers[2] == {"row": 2}
    assert isinstance(answers[1], ValueError) and model.calls == [3, 1, 1, 1]
