"""The training job as the SageMaker scikit-learn container runs it: `prodml train` against an emulator whose
executor must run each job on the Python its image declares (``PRODML_EXECUTOR_EXACT_PYTHON=1``), so
train.py runs from the released ``sourcedir.tar.gz`` on Python 3.10 over exactly its ``requirements.txt``.
The artifact it writes must load in this (serving's) environment without a version warning and predict what
it predicted there, and what the same job trained on Python 3.11 (the project's environment) predicts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import joblib
import numpy as np
import pytest

from prodml import artifact, aws
from prodml.bootstrap import bootstrap
from prodml.datasets import DatasetStore
from prodml.emulator import Emulator
from prodml.emulator.environments import EXACT_PYTHON_ENV, find_python
from prodml.emulator.sagemaker import LOG_GROUP
from prodml.jobs import training_spec
from prodml.release import ARTIFACT_LIBRARIES, ship
from prodml.settings import Settings
from prodml.training.core import evaluate
from prodml.training.data import load_split
from prodml.training.onnx_export import PROBABILITY_TOLERANCE, onnx_inputs, run_onnx
from prodml.zones import Zones
from tests.conftest import CHURN_CONTRACT, free_port, run_prodml
from tests.runtimes import installed, timed
from tests.training.conftest import publish_dataset

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PYTHON_310 = find_python("3.10")
ENVIRONMENT_LINE = re.compile(r"^prodml emulator: running train\.py with (?P<environment>.+)$")
CACHED = re.compile(r"^cached environment (?P<root>\S+) \(Python (?P<python>[0-9.]+), ")


@pytest.fixture
def exact_python_endpoint(tmp_path_factory, monkeypatch):
    """A second emulator whose executor runs each job on its image's Python (never the project's 3.11)."""
    if PYTHON_310 is None:
        pytest.skip(
            "no Python 3.10 interpreter to stand in for the SageMaker container (set PRODML_PYTHON_3_10)"
        )
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = Emulator(
        Settings(endpoint_url=endpoint), port=port, state_dir=tmp_path_factory.mktemp("exact-emulator")
    )
    with monkeypatch.context() as scoped:
        scoped.setenv(EXACT_PYTHON_ENV, "1")  # read by the emulator's process, which inherits os.environ
        emulator.up()
    try:
        yield endpoint
    finally:
        emulator.down()


def train(settings: Settings, contract, tmp_path: Path) -> tuple[dict, str, artifact.UnpackedArtifact]:
    """`prodml train --json` on ``settings``' endpoint: the job's summary, its environment line, its model."""
    result = run_prodml(
        "train",
        "--contract",
        str(CHURN_CONTRACT),
        "--n-estimators",
        "40",
        "--json",
        env={"AWS_ENDPOINT_URL": settings.endpoint_url},
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    logs = aws.client("logs", settings)
    (stream,) = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{summary['job']}/")[
        "logStreams"
    ]
    lines = [
        e["message"]
        for e in logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True
        )["events"]
    ]
    (environment,) = [m["environment"] for m in map(ENVIRONMENT_LINE.match, lines) if m]
    assert any(line.startswith("training done") for line in lines), "\n".join(lines)
    s3, zones = aws.client("s3", settings), Zones(settings)
    tmp_path.mkdir(parents=True)
    tarball = tmp_path / "model.tar.gz"
    s3.download_file(zones.bucket("artifacts"), zones.model_artifact_key(summary["job"]), str(tarball))
    return summary, environment, artifact.unpack(tarball, tmp_path / "model")


@pytest.mark.timeout(1800)  # the first run installs the 3.10 environment; later runs find it cached
def test_a_310_training_job_artifact_loads_and_predicts_the_same_in_311(
    training_env, exact_python_endpoint, churn_contract, tmp_path, monkeypatch, pytestconfig
):
    publish_dataset(training_env, churn_contract, rows=1500)
    with timed(pytestconfig, "training job on Python 3.11 (the project's environment)"):
        job_311, environment_311, model_311 = train(training_env, churn_contract, tmp_path / "py311")
    assert environment_311.startswith("the project's environment (Python 3.11)"), environment_311

    monkeypatch.setenv("AWS_ENDPOINT_URL", exact_python_endpoint)
    exact = Settings()
    bootstrap(exact, [churn_contract.name])
    ship(exact)
    publish_dataset(exact, churn_contract, rows=1500)
    with timed(pytestconfig, "training job on Python 3.10 (a cached environment, installed on first use)"):
        job_310, environment_310, model_310 = train(exact, churn_contract, tmp_path / "py310")

    # The executor ran train.py on the image's Python, in an environment of requirements.txt alone.
    cached = CACHED.match(environment_310)
    assert cached and cached["python"] == training_spec().python_version == "3.10", environment_310
    python_310 = str(Path(cached["root"]) / "bin" / "python")
    version = subprocess.run(
        [python_310, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "3.10"
    have = installed(python_310)
    for name in ARTIFACT_LIBRARIES:
        assert have[name] == metadata.version(name), name
    assert model_310.lineage["packages"]["python"].startswith("3.10.")
    assert model_311.lineage["packages"]["python"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    for name in ARTIFACT_LIBRARIES:
        if name in model_310.lineage["packages"]:
            assert model_310.lineage["packages"][name] == metadata.version(name)
    assert job_310["dataset_version"] == job_311["dataset_version"] == "v1"

    test_dir = tmp_path / "test"
    DatasetStore.of(aws.client("s3", exact), Zones(exact)).download_split(
        churn_contract.name, "v1", "test", test_dir
    )
    test = load_split(churn_contract, test_dir, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's InconsistentVersionWarning included
        pipeline = joblib.load(model_310.directory / artifact.MODEL_JOBLIB)
        pipeline_311 = joblib.load(model_311.directory / artifact.MODEL_JOBLIB)

    assert evaluate(pipeline, churn_contract, test) == pytest.approx(model_310.metrics["test"], rel=1e-12)

    labels, proba = pipeline.predict(test.X), pipeline.predict_proba(test.X)
    onnx_labels, onnx_proba = run_onnx(
        (model_310.directory / artifact.MODEL_ONNX).read_bytes(), onnx_inputs(churn_contract, test.X)
    )
    assert np.array_equal(onnx_labels.reshape(-1), labels)
    assert np.max(np.abs(onnx_proba - proba)) <= PROBABILITY_TOLERANCE

    assert np.array_equal(pipeline_311.predict(test.X), labels)
    np.testing.assert_allclose(pipeline_311.predict_proba(test.X), proba, rtol=0, atol=1e-9)
