"""The training library in-process on local SageMaker-style channels: reproducibility, every task type,
ONNX parity, and each bad input as a clear TrainingError."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import artifact
from prodml.contract import Contract, parse_contract
from prodml.sample_data import generate_table
from prodml.training import TrainingError
from prodml.training.core import Channels, train
from prodml.training.data import load_split
from prodml.training.model import Hyperparameters
from prodml.training.onnx_export import onnx_inputs, run_onnx
from tests.training.conftest import split_of, typed_table

SMALL = {"n_estimators": "15"}


def write_channels(root: Path, contract: Contract, rows: int = 1500, transform=None) -> Channels:
    table = typed_table(contract, generate_table(contract, rows, seed=5, dirty_fraction=0.0))
    assignment = np.array([split_of(i, contract) for i in table.column(contract.id).to_pylist()])
    dirs = {}
    for split in ("train", "validation", "test"):
        part = table.filter(pa.array(assignment == split))
        if transform:
            part = transform(split, part)
        dirs[split] = root / "input" / "data" / split
        dirs[split].mkdir(parents=True)
        pq.write_table(part, dirs[split] / "part-00000.parquet")
    config = root / "input" / "data" / "config"
    config.mkdir(parents=True)
    (config / artifact.CONTRACT).write_text(contract.to_yaml())
    (config / "run.json").write_text(json.dumps({"dataset_version": "v1", "git_sha": "abc", "job_name": "j"}))
    (config / artifact.BASELINE_PROFILE).write_text("{}")
    return Channels(dirs["train"], dirs["validation"], dirs["test"], config)


def run(channels: Channels, out: Path, **hp) -> dict:
    result = train(
        channels, out / "model", out / "output", Hyperparameters.parse({**SMALL, **hp}), log=lambda _: None
    )
    return result.metrics


def multiclass_contract(churn: Contract) -> Contract:
    data = churn.model_dump(mode="json", exclude_none=True)
    data["name"] = "customer_tier"
    data["target"] = {
        "name": "tier",
        "task": "multiclass_classification",
        "values": ["bronze", "silver", "gold"],
    }
    return parse_contract(data)


def test_same_data_code_and_hyperparameters_give_identical_predictions_and_metrics(tmp_path, churn_contract):
    channels = write_channels(tmp_path / "data", churn_contract)
    first, second = run(channels, tmp_path / "a"), run(channels, tmp_path / "b")
    assert first == second
    assert (tmp_path / "a/model/metrics.json").read_bytes() == (
        tmp_path / "b/model/metrics.json"
    ).read_bytes()
    test = load_split(churn_contract, channels.test, "test")
    a, b = (joblib.load(tmp_path / f"{x}/model/model.joblib") for x in "ab")
    assert np.array_equal(a.predict_proba(test.X), b.predict_proba(test.X))
    # a different seed is a different model, so the check above can fail
    other = run(channels, tmp_path / "c", family="random_forest", seed="1")
    again = run(channels, tmp_path / "d", family="random_forest", seed="2")
    assert other["test"] != again["test"]


@pytest.mark.parametrize("family", ["gradient_boosting", "random_forest", "logistic_regression"])
def test_binary_families_write_the_artifact_with_onnx_parity(tmp_path, churn_contract, family):
    channels = write_channels(tmp_path / "data", churn_contract)
    metrics = run(channels, tmp_path / "run", family=family)
    model_dir = tmp_path / "run" / "model"
    assert set(metrics["test"]) == {"accuracy", "f1", "roc_auc", "log_loss"}
    assert metrics["onnx_parity"]["passed"], metrics["onnx_parity"]
    assert (model_dir / artifact.MODEL_ONNX).exists()
    lineage = json.loads((model_dir / artifact.LINEAGE).read_text())
    assert set(lineage["files"]) == {
        "model.joblib",
        "model.onnx",
        "metrics.json",
        "baseline_profile.json",
        "contract.yaml",
    }
    # the documented ONNX signature: one input per model feature, float or string [None, 1]
    test = load_split(churn_contract, channels.test, "test")
    labels, proba = run_onnx(
        (model_dir / artifact.MODEL_ONNX).read_bytes(), onnx_inputs(churn_contract, test.X)
    )
    model = joblib.load(model_dir / artifact.MODEL_JOBLIB)
    assert np.array_equal(labels, model.predict(test.X))
    assert np.abs(proba - model.predict_proba(test.X)).max() < 1e-5


def test_multiclass_contract(tmp_path, churn_contract):
    contract = multiclass_contract(churn_contract)
    metrics = run(write_channels(tmp_path / "data", contract), tmp_path / "run")
    assert metrics["classes"] == ["bronze", "gold", "silver"]
    assert metrics["test"]["f1_macro"] > metrics["baseline"]["test"]["f1_macro"]
    assert metrics["onnx_parity"]["passed"]
    assert (tmp_path / "run/output/confusion_matrix.png").exists()


@pytest.mark.parametrize("family", ["gradient_boosting", "ridge"])
def test_regression_contract(tmp_path, house_contract, family):
    metrics = run(write_channels(tmp_path / "data", house_contract), tmp_path / "run", family=family)
    assert set(metrics["test"]) == {"rmse", "mae", "r2"}
    assert metrics["test"]["rmse"] < metrics["baseline"]["test"]["rmse"]
    assert metrics["onnx_parity"]["passed"], metrics["onnx_parity"]
    assert (tmp_path / "run/output/residuals.png").exists()
    assert "rmse" in (tmp_path / "run/output/model_card.md").read_text()


def _one_class(split, table):
    column = pa.array([False] * table.num_rows)
    return table.set_column(table.column_names.index("churned"), "churned", column)


@pytest.mark.parametrize(
    ("breakage", "hp", "message"),
    [
        ("no_validation", {}, "missing channel 'validation'"),
        ("empty_train", {}, "the train split is empty"),
        ("none", {"family": "xgboost"}, "unknown model family 'xgboost'"),
        ("one_class", {}, "has one class"),
        ("none", {"depth": "3"}, "unknown hyperparameter(s) depth"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_no_model(tmp_path, churn_contract, breakage, hp, message):
    transform = {
        "empty_train": lambda split, t: t.slice(0, 0) if split == "train" else t,
        "one_class": _one_class,
    }.get(breakage)
    channels = write_channels(tmp_path / "data", churn_contract, rows=300, transform=transform)
    if breakage == "no_validation":
        channels = Channels(channels.train, None, channels.test, channels.config)
    with pytest.raises(TrainingError) as excinfo:
        run(channels, tmp_path / "run", **hp)
    assert message in str(excinfo.value)
    assert not (tmp_path / "run" / "model" / artifact.MODEL_JOBLIB).exists()


def test_derived_features_come_from_their_source_through_the_one_encoding(tmp_path, churn_contract):
    # Training computes derived features from the source timestamp (prodml.encoding, as serving does), so a
    # split's stored derived columns are never what the model sees: without them, the model is the same.
    derived = [d.name for d in churn_contract.derived]
    channels = write_channels(tmp_path / "data", churn_contract, rows=600)
    stripped = write_channels(
        tmp_path / "stripped", churn_contract, rows=600, transform=lambda split, t: t.drop_columns(derived)
    )
    assert run(channels, tmp_path / "a") == run(stripped, tmp_path / "b")
    assert (tmp_path / "a/model/metrics.json").read_bytes() == (
        tmp_path / "b/model/metrics.json"
    ).read_bytes()
    without = load_split(churn_contract, stripped.test, "test")
    assert without.X.equals(load_split(churn_contract, channels.test, "test").X)
    source = churn_contract.derived[0].source
    no_source = tmp_path / "no_source"
    no_source.mkdir()
    table = pq.read_table(next(Path(channels.test).glob("*.parquet")))
    pq.write_table(table.drop_columns([source]), no_source / "part-00000.parquet")
    with pytest.raises(TrainingError, match=rf"lacks feature column\(s\) {source}"):
        load_split(churn_contract, no_source, "test")
