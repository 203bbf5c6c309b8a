"""Fixtures for the inference service: real model artifacts in a real (moto) registry, and the service run
exactly as the Dockerfile runs it (``gunicorn -c gunicorn.conf.py app.main:app``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from prodml import artifact, aws
from prodml.bootstrap import bootstrap
from prodml.contract import Contract, FeatureType, canonical_category, load_contract
from prodml.features import derive_columns
from prodml.registry import APPROVED, ModelRegistry, ModelVersion
from prodml.sample_data import generate_table
from prodml.settings import Settings
from tests.conftest import CHURN_CONTRACT, REPO, free_port

SERVICE_DIR = REPO / "services" / "inference"
if str(SERVICE_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICE_DIR))

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
# A valid churn request row, for the tests that send one.
ROW: dict[str, Any] = {
    "tenure_months": 12,
    "plan": "pro",
    "monthly_spend": 50.5,
    "signup_date": "2023-02-01T00:00:00Z",
    "region": "emea",
    "support_tickets_90d": 2,
    "autopay": True,
    "last_login_days": 3,
}
AUTH_VARIABLES = frozenset({"PRODML_AUTH", "PRODML_API_KEY", "PRODML_API_KEY_SECRET"})


# ---- model artifacts ------------------------------------------------------------------------------------
def clean_frame(contract: Contract, rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Sample rows typed as ETL would type them, then the documented model frame (see prodml.artifact)."""
    text = generate_table(contract, rows, seed=seed, dirty_fraction=0.0)
    columns = {}
    for feature in contract.features:
        raw = pc.if_else(pc.equal(text.column(feature.name), ""), None, text.column(feature.name))
        if feature.type is FeatureType.CATEGORY:
            columns[feature.name] = pa.array(
                [None if v is None else canonical_category(v) for v in raw.to_pylist()]
            )
        elif feature.type is FeatureType.BOOL:
            columns[feature.name] = pa.array(
                [None if v is None else v.strip().lower() in ("true", "1") for v in raw.to_pylist()]
            )
        elif feature.type is FeatureType.TIMESTAMP:
            parsed = pd.to_datetime(pd.Series(raw.to_pylist()), utc=True)
            naive = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
            columns[feature.name] = pa.array(naive).cast(pa.timestamp("us", tz="UTC"))
        else:
            columns[feature.name] = pc.cast(pc.cast(raw, pa.float64()), feature.arrow_type)
    table = derive_columns(contract, pa.table(columns))
    frame = table.to_pandas()
    X = pd.DataFrame(
        {
            **{
                n: frame[n].astype("float64").astype(np.float32).astype(np.float64)
                for n in contract.numeric_features
            },
            **{n: frame[n].fillna("").astype(str).astype(object) for n in contract.categorical_features},
        },
        columns=contract.model_features,
    )
    target = text.column(contract.target.name).to_pylist()
    y = np.array([1 if str(v).strip().lower() in ("true", "1") else 0 for v in target])
    return X, y


def build_artifact(
    contract: Contract, out: Path, *, n_estimators: int, seed: int, with_onnx: bool = True, rows: int = 1500
) -> Path:
    """A real model.tar.gz in the artifact layout: fitted pipeline, parity-checked ONNX, hashed lineage."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = clean_frame(contract, rows, seed)
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        (
                            "numeric",
                            Pipeline(
                                [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                            ),
                            contract.numeric_features,
                        ),
                        (
                            "categorical",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                            contract.categorical_features,
                        ),
                    ]
                ),
            ),
            (
                "model",
                RandomForestClassifier(n_estimators=n_estimators, max_depth=8, random_state=seed, n_jobs=1),
            ),
        ]
    ).fit(X, y)
    model_dir = out / "model"
    model_dir.mkdir(parents=True)
    import joblib

    joblib.dump(pipeline, model_dir / artifact.MODEL_JOBLIB)
    parity = {"converted": False, "passed": False}
    if with_onnx:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        types = [(n, FloatTensorType([None, 1])) for n in contract.numeric_features]
        types += [(n, StringTensorType([None, 1])) for n in contract.categorical_features]
        onx = convert_sklearn(
            pipeline,
            initial_types=types,
            options={id(pipeline.steps[-1][1]): {"zipmap": False}},
            target_opset=17,
        )
        (model_dir / artifact.MODEL_ONNX).write_bytes(onx.SerializeToString())
        parity = {"converted": True, "passed": True}
    metrics = {
        "classes": [int(c) for c in pipeline.classes_],
        "primary_metric": contract.target.metric,
        "test": {"roc_auc": 0.7},
        "validation": {"roc_auc": 0.7},
        "onnx_parity": parity,
    }
    (model_dir / artifact.METRICS).write_text(json.dumps(metrics))
    (model_dir / artifact.CONTRACT).write_text(contract.to_yaml())
    (model_dir / artifact.LINEAGE).write_text(
        json.dumps(
            {
                "contract_fingerprint": contract.fingerprint,
                "hyperparameters": {"n_estimators": n_estimators, "seed": seed},
            }
        )
    )
    artifact.record_hashes(model_dir)
    return artifact.pack(model_dir, out / "model.tar.gz")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """Two different models of the churn contract (built once a session) and one joblib-only model."""
    contract = load_contract(CHURN_CONTRACT)
    root = tmp_path_factory.mktemp("artifacts")
    return {
        "a": build_artifact(contract, root / "a", n_estimators=15, seed=1),
        "b": build_artifact(contract, root / "b", n_estimators=25, seed=2),
        "joblib": build_artifact(contract, root / "joblib", n_estimators=10, seed=3, with_onnx=False),
    }


@dataclass
class Platform:
    """The moto-side world the service reads: buckets, the registry group, and how to publish a model."""

    settings: Settings
    contract: Contract
    registry: ModelRegistry
    published: list[ModelVersion] = field(default_factory=list)

    def publish(self, tarball: Path, status: str = APPROVED) -> ModelVersion:
        job = f"job-{len(self.published) + 1}"
        bucket = self.settings.bucket("artifacts")
        key = f"training/{job}/output/model.tar.gz"
        aws.client("s3", self.settings).upload_file(str(tarball), bucket, key)
        version = self.registry.register(
            model_data_url=f"s3://{bucket}/{key}",
            image_uri="prodml-inference:test",
            metrics_uri=f"s3://{bucket}/training/{job}/metrics.json",
            summary={"job": job},
            metadata={"job": job},
            status=status,
        )
        self.published.append(version)
        return version


@pytest.fixture
def platform(aws_env, churn_contract) -> Platform:
    bootstrap(aws_env, [churn_contract.name])
    registry = ModelRegistry(
        aws.client("sagemaker", aws_env), aws_env.model_package_group(churn_contract.name)
    )
    return Platform(aws_env, churn_contract, registry)


# ---- a knowledge base (POST /ask) ---------------------------------------------------------------------------
@dataclass
class KnowledgeBase:
    """A knowledge contract over the knowledge tests' small corpus, in a folder of its own (what
    PRODML_KNOWLEDGE_CONTRACTS_DIR names), built and promoted by the real ingestion path and gate."""

    contract: Any
    folder: Path
    store: Any
    documents: dict[str, Path]

    @property
    def env(self) -> dict[str, str]:
        """The service settings that make it answer /ask from this knowledge base."""
        return {
            "PRODML_KNOWLEDGE_BASE": self.contract.name,
            "PRODML_KNOWLEDGE_CONTRACTS_DIR": str(self.folder),
        }

    def ingest(self) -> str:
        from prodml.knowledge.worker import ingest

        report = ingest(
            [self.documents[n] for n in ("alpha", "beta", "gamma")],
            self.contract,
            self.store.settings,
            root=self.documents["alpha"].parent,
        )
        assert report.build is not None
        return str(report.build.version)

    def promote(self, version: str) -> None:
        from prodml.knowledge.evaluation import promote

        _, pointer = promote(self.contract, self.store, version)
        assert pointer is not None and pointer["version"] == version


@pytest.fixture
def knowledge(platform, tmp_path) -> KnowledgeBase:
    """The shipped contract's settings (``test_kb``) over tests/knowledge/documents.py's corpus; nothing landed."""
    import yaml

    from prodml.knowledge.contract import load_knowledge_contract
    from prodml.knowledge.store import KnowledgeStore
    from tests.knowledge.documents import GOLDEN, write_corpus

    data = yaml.safe_load((REPO / "contracts" / "knowledge" / "prodml_docs.yaml").read_text())
    data.update(name="test_kb", sources=[])
    data["evaluation"].update(golden_questions="golden.yaml", min_recall_at_k=0.75, min_mrr=0.5)
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "golden.yaml").write_text(GOLDEN)
    (folder / "test_kb.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    contract = load_knowledge_contract(folder / "test_kb.yaml")
    return KnowledgeBase(
        contract, folder, KnowledgeStore(contract, platform.settings), write_corpus(tmp_path / "docs")
    )


# ---- the service process ----------------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self, until=None, timeout: float = 5.0) -> list[dict]:
        """The JSON lines logged so far; with ``until``, waited for (request lines are written in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            for line in self.logs().splitlines():
                if line.startswith("{") and line.endswith("}"):
                    lines.append(json.loads(line))
            if until is None or until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)

    def get(self, path: str, **kwargs):
        import httpx

        return httpx.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, json_body=None, **kwargs):
        import httpx

        return httpx.post(self.url + path, json=json_body, timeout=10, **kwargs)

    def wait_ready(self, timeout: float = 30.0, version: int | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = self.get("/ready")
                if r.status_code == 200 and (version is None or r.json()["model_version"] == version):
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service never became ready (version={version}); logs:\n{self.logs()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(env: dict[str, str], log_dir: Path, workers: int = 1, timeout: float = 30.0) -> Server:
    """Start the service with the Dockerfile's CMD, from its directory, and wait for /health."""
    port = free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    full_env = {
        **os.environ,
        "PRODML_BIND": f"127.0.0.1:{port}",
        "PRODML_WORKERS": str(workers),
        "PRODML_MODEL_DIR": str(log_dir / f"models-{port}"),
        "PROMETHEUS_MULTIPROC_DIR": str(log_dir / f"prometheus-{port}"),
        # No key given: a loopback run against the test's emulator, with the key off as `prodml serve` turns
        # it off. A test that gives a key or PRODML_AUTH gets exactly that.
        **({} if AUTH_VARIABLES & env.keys() else {"PRODML_AUTH": "none"}),
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py", "app.main:app"],
            cwd=SERVICE_DIR,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{server.logs()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=1) as r:
                if r.status == 200:
                    return server
        except Exception:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"gunicorn never answered /health:\n{server.logs()[-4000:]}")


@pytest.fixture
def serve(platform, tmp_path):
    """``serve(**env)`` → a running service against the test's moto registry; stopped after the test."""
    servers: list[Server] = []

    def _serve(workers: int = 1, **env: str) -> Server:
        base = {"PRODML_DATASET": platform.contract.name, "PRODML_POLL_INTERVAL_S": "0.5"}
        server = start_service({**base, **{k: str(v) for k, v in env.items()}}, tmp_path, workers=workers)
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.stop()


# ---- redis ------------------------------------------------------------------------------------------------
@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server process (installed from Debian's packages by scripts/ensure_apt.sh if missing)."""
    binary = shutil.which("redis-server")
    if binary is None:
        subprocess.run([str(REPO / "scripts" / "ensure_apt.sh"), "redis-server", "redis-server"], check=False)
        binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed and could not be installed (needs root and Debian's apt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    process.terminate()
    process.wait(timeout=10)
