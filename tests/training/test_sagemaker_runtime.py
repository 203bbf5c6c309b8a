"""The training entrypoint as the SageMaker scikit-learn container runs it: the source_dir the launcher
uploads (train.py, the prodml package, requirements.txt) on Python 3.10, over the container's own numpy,
scikit-learn and pyarrow, with the SM_* environment the local runner gives. The artifact it writes must
load in this (serving's) environment without a version warning and predict what it predicted there, and
what the same entrypoint trains on Python 3.11."""

from __future__ import annotations

import json
import sys
import warnings
from importlib import metadata

import joblib
import numpy as np
import pytest

from prodml import artifact, aws
from prodml.training import runner
from prodml.training.core import evaluate
from prodml.training.data import load_split
from prodml.training.launcher import ARTIFACT_LIBRARIES, stage_source_dir
from prodml.training.model import Hyperparameters
from prodml.training.onnx_export import PROBABILITY_TOLERANCE, onnx_inputs, run_onnx
from prodml.zones import SPLITS, Zones
from tests.runtimes import find_python, installed, make_venv, timed, uv
from tests.training.conftest import publish_dataset

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PYTHON_310 = find_python("3.10")
# What the scikit-learn 1.4-2 framework image installs before our requirements.txt goes on top
# (aws/sagemaker-scikit-learn-container, docker/1.4-2/base/Dockerfile.cpu).
CONTAINER_STACK = ("numpy==2.1.0", "scikit-learn==1.4.2", "pyarrow==17.0.0")


@pytest.fixture(scope="module")
def container(tmp_path_factory, pytestconfig):
    """The staged source_dir and a Python 3.10 environment: the container's stack, then requirements.txt."""
    if PYTHON_310 is None:
        pytest.skip(
            "no Python 3.10 interpreter to stand in for the SageMaker container (set PRODML_PYTHON_3_10)"
        )
    source = stage_source_dir(tmp_path_factory.mktemp("source") / "code")
    venv = tmp_path_factory.mktemp("container") / "venv"
    with timed(pytestconfig, "SageMaker Python 3.10 environment (container stack + requirements.txt)"):
        python = make_venv(PYTHON_310, venv, *CONTAINER_STACK)
        uv("pip", "install", "--quiet", "--python", python, "-r", str(source / "requirements.txt"))
    return python, source


def run_job(settings, contract, job: str, root, hp: dict[str, str], **how) -> list[str]:
    """What `prodml train` does around the entrypoint: /opt/ml layout, channels, config, then run it."""
    s3, zones = aws.client("s3", settings), Zones(settings)
    dv = runner.committed_version(s3, zones, contract.name, None)
    runner.build_layout(root, hp, list(runner.CHANNELS), job)
    for split in SPLITS:
        runner.download_split(s3, zones, contract.name, dv.version, split, root / "input" / "data" / split)
    runner.stage_config(s3, zones, contract, dv, job, root / "input" / "data" / runner.CONFIG_CHANNEL)
    lines: list[str] = []
    runner.run_entrypoint(root, job, hp, list(runner.CHANNELS), lines.append, **how)
    return lines


def test_the_container_installs_the_artifact_libraries_at_serving_versions(container):
    python, _ = container
    have = installed(python)
    for name in ARTIFACT_LIBRARIES:
        assert have[name] == metadata.version(name), name
    assert have["numpy"] == "2.1.0", "the container's numpy satisfies prodml and stays"


def test_a_310_container_artifact_loads_and_predicts_the_same_in_311(
    container, training_env, churn_contract, tmp_path, pytestconfig
):
    python_310, source = container
    publish_dataset(training_env, churn_contract, rows=1500)
    hp = Hyperparameters(n_estimators=40).as_strings()
    roots = {"py310": tmp_path / "py310" / "opt" / "ml", "py311": tmp_path / "py311" / "opt" / "ml"}
    with timed(pytestconfig, "train.py on Python 3.10 (staged source_dir)"):
        lines = run_job(
            training_env,
            churn_contract,
            "job-py310",
            roots["py310"],
            hp,
            python=python_310,
            entrypoint=source / "train.py",
        )
    assert any(line.startswith("training done") for line in lines), "\n".join(lines)
    with timed(pytestconfig, "train.py on Python 3.11 (checkout)"):
        run_job(training_env, churn_contract, "job-py311", roots["py311"], hp, python=sys.executable)

    model_310 = roots["py310"] / "model"
    lineage = json.loads((model_310 / artifact.LINEAGE).read_text())
    assert lineage["packages"]["python"].startswith("3.10.")
    for name in ARTIFACT_LIBRARIES:
        if name in lineage["packages"]:
            assert lineage["packages"][name] == metadata.version(name)

    test = load_split(churn_contract, roots["py310"] / "input" / "data" / "test", "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's InconsistentVersionWarning included
        pipeline = joblib.load(model_310 / artifact.MODEL_JOBLIB)
        pipeline_311 = joblib.load(roots["py311"] / "model" / artifact.MODEL_JOBLIB)

    metrics = json.loads((model_310 / artifact.METRICS).read_text())
    assert evaluate(pipeline, churn_contract, test) == pytest.approx(metrics["test"], rel=1e-12)

    labels, proba = pipeline.predict(test.X), pipeline.predict_proba(test.X)
    onnx_labels, onnx_proba = run_onnx(
        (model_310 / artifact.MODEL_ONNX).read_bytes(), onnx_inputs(churn_contract, test.X)
    )
    assert np.array_equal(onnx_labels.reshape(-1), labels)
    assert np.max(np.abs(onnx_proba - proba)) <= PROBABILITY_TOLERANCE

    assert np.array_equal(pipeline_311.predict(test.X), labels)
    np.testing.assert_allclose(pipeline_311.predict_proba(test.X), proba, rtol=0, atol=1e-9)
