"""The inference service as deployed: gunicorn started with the Dockerfile's CMD, against a real moto server
holding real model artifacts in a real model registry."""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
import time
from collections import Counter

import httpx
import pytest

from prodml import aws
from prodml.registry import PENDING

from .conftest import ROW

pytestmark = pytest.mark.integration


def _corrupt(tarball, into):
    """The same archive with model.joblib's bytes changed but lineage.json untouched."""
    out = into / "corrupt.tar.gz"
    with tarfile.open(tarball, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "model.joblib":
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def test_starts_without_a_model_and_becomes_ready_when_one_is_approved(platform, artifacts, serve, tmp_path):
    server = serve()
    assert server.get("/health").status_code == 200
    ready = server.get("/ready")
    assert ready.status_code == 503
    assert "no approved model" in ready.json()["reason"]
    predict = server.post("/predict", ROW)
    # A first deploy: alive (the ALB probes /health), not ready, and /predict says there is no model yet.
    assert predict.status_code == 503
    assert predict.json()["error"]["code"] == "no_model"
    assert "no approved model" in predict.json()["error"]["message"]

    # A tampered artifact is approved: it must never serve.
    platform.publish(_corrupt(artifacts["a"], tmp_path))
    time.sleep(1.5)
    ready = server.get("/ready")
    assert ready.status_code == 503
    assert "sha256" in ready.json()["reason"]

    # A pending model is not the champion; an approved, intact one is, picked up by the poller.
    platform.publish(artifacts["b"], status=PENDING)
    good = platform.publish(artifacts["a"])
    server.wait_ready(version=good.version, timeout=15)
    assert server.post("/predict", ROW).json()["model_version"] == good.version


def test_predict_batch_errors_cache_capture_and_observability(platform, artifacts, serve):
    version = platform.publish(artifacts["a"]).version
    server = serve(
        PRODML_MAX_BATCH_ROWS=5,
        PRODML_MAX_BODY_BYTES=4096,
        PRODML_CAPTURE_FRACTION=1,
        PRODML_CAPTURE_FLUSH_S=0.5,
    )
    server.wait_ready()

    first = server.post("/predict", ROW, headers={"X-Request-Id": "req-1"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["model_version"] == version and body["variant"] == "champion"
    assert body["prediction"] in (True, False) and 0 <= body["probability"] <= 1
    assert body["cached"] is False and body["request_id"] == "req-1"
    assert first.headers["x-request-id"] == "req-1" and first.headers["x-model-version"] == str(version)

    # Same features spelled differently: canonicalised, so the same cache entry.
    variant = {**ROW, "plan": "  PRO ", "region": "EMEA"}
    second = server.post("/predict", variant).json()
    assert second["cached"] is True and second["probability"] == body["probability"]

    rows = [ROW, {**ROW, "tenure_months": 300, "plan": "enterprise"}, {**ROW, "monthly_spend": None}]
    batch = server.post("/predict/batch", {"rows": rows})
    assert batch.status_code == 200, batch.text
    predictions = batch.json()["predictions"]
    assert len(predictions) == 3 and predictions[0]["probability"] == body["probability"]

    bad = server.post("/predict", {**ROW, "tenure_months": -1, "plan": "gold", "bogus": 1})
    assert bad.status_code == 422
    details = {d["field"]: d["reason"] for d in bad.json()["error"]["details"]}
    assert "greater than or equal to 0" in details["tenure_months"]
    assert "must be one of basic, pro, enterprise" in details["plan"]
    assert "unknown field" in details["bogus"]
    missing = server.post("/predict", {k: v for k, v in ROW.items() if k != "region"})
    assert missing.json()["error"]["details"] == [
        {"field": "region", "reason": "required field is missing", "type": "missing"}
    ]
    not_json = server.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["error"]["details"][0]["field"] == "body"
    bad_row = server.post("/predict/batch", {"rows": [ROW, {**ROW, "autopay": "maybe"}]})
    assert bad_row.status_code == 422
    assert bad_row.json()["error"]["details"][0]["field"] == "rows[1].autopay"
    too_many = server.post("/predict/batch", {"rows": [ROW] * 6})
    assert too_many.status_code == 422
    assert "at most 5" in too_many.json()["error"]["details"][0]["reason"]
    too_big = server.post("/predict", {**ROW, "padding": "x" * 5000})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"
    missing_route = server.get("/nope")
    assert missing_route.status_code == 404 and missing_route.json()["error"]["code"] == "not_found"
    for response in (bad, missing, not_json, too_many, too_big, missing_route):
        assert "Traceback" not in response.text

    model = server.get("/model").json()
    assert model["champion"]["version"] == version and model["champion"]["backend"] == "onnx"
    assert set(model["champion"]["files"]) >= {"model.joblib", "model.onnx", "contract.yaml"}
    openapi = server.get("/openapi.json").json()
    row_schema = openapi["components"]["schemas"]["CustomerChurnRow"]
    assert row_schema["properties"]["tenure_months"]["maximum"] == 600
    assert "region" in row_schema["required"] and "monthly_spend" not in row_schema["required"]
    assert "requestBody" in openapi["paths"]["/predict"]["post"]

    metrics = server.get("/metrics").text
    assert (
        f'prodml_requests_total{{method="POST",model_version="{version}",route="/predict",status="200",variant="champion"}} 2.0'
        in metrics
    )
    assert 'prodml_cache_requests_total{result="hit",variant="champion"} 1.0' in metrics
    assert "prodml_model_load_seconds_count" in metrics
    assert "prodml_request_latency_seconds_bucket" in metrics
    # Every answered request is labelled by its route template, including FastAPI's own /openapi.json and
    # those refused before routing (the 413); only a path no route serves is "unmatched".
    assert 'route="/openapi.json",status="200"' in metrics and 'route="/model",status="200"' in metrics
    assert 'route="/predict",status="413"' in metrics and 'route="/predict",status="422"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    assert not re.search(r'route="unmatched",status="[23]', metrics)

    # Capture lands in S3, batched, in the documented layout.
    s3 = aws.client("s3", platform.settings)
    bucket = platform.settings.bucket("capture")
    deadline = time.monotonic() + 10
    keys: list[str] = []
    while time.monotonic() < deadline and not keys:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        time.sleep(0.2)
    assert keys, "no capture object landed"
    assert all(k.startswith("customer_churn/date=") and "/hour=" in k and k.endswith(".jsonl") for k in keys)
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    assert {r["request_id"] for r in records} >= {"req-1"}
    assert records[0]["features"]["plan"] in ("basic", "pro", "enterprise")
    assert records[0]["model_version"] == version

    # One structured line per request; prediction latencies and errors aggregated into EMF records.
    def predictions_and_latencies(lines):
        predictions = [
            line
            for line in lines
            if line.get("message") == "request"
            and line["route"].startswith("/predict")
            and line["variant"] == "champion"
        ]
        latencies = [v for r in lines if r.get("ModelVariant") == "champion" for v in r["Latency"]]
        return predictions, latencies

    def flushed(lines):  # every prediction so far has its access line and its EMF value
        predictions, latencies = predictions_and_latencies(lines)
        return len(predictions) >= 8 and len(predictions) == len(latencies)

    lines = server.log_lines(until=flushed)
    access = [line for line in lines if line.get("message") == "request"]
    first_line = next(line for line in access if line["request_id"] == "req-1")
    assert first_line["route"] == "/predict" and first_line["status"] == 200
    assert first_line["variant"] == "champion" and first_line["latency_ms"] > 0
    assert len({line["request_id"] for line in access}) == len(access)  # every request has its own id
    emf = [line for line in lines if "_aws" in line]
    assert emf and all(r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "prodml/inference" for r in emf)
    predictions, latencies = predictions_and_latencies(lines)
    # Two predictions, one batch and five 422s; the 413 was refused before any model was involved.
    assert len(predictions) == 8
    assert len(latencies) == len(predictions) == sum(r["Requests"] for r in emf)
    assert all(v > 0 for v in latencies) and sum(r["Errors"] for r in emf) == 0


class Load:
    """Eight clients posting /predict continuously (no cache, so every request runs a model)."""

    def __init__(self, url: str, concurrency: int = 8):
        self.url = url
        self.concurrency = concurrency
        self.statuses: Counter = Counter()
        self.versions: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(concurrency)
        ]

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    r = client.post("/predict", json={**ROW, "tenure_months": (worker * 7919 + n) % 600})
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    self.versions.append(r.json()["model_version"])

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def wait_for_version(self, version: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.versions[-50:] and all(v == version for v in self.versions[-50:]):
                return
            time.sleep(0.1)
        raise AssertionError(f"traffic never moved to version {version}: {Counter(self.versions[-200:])}")


def test_hot_swap_and_rollback_under_load_fail_no_request(platform, artifacts, serve):
    v1 = platform.publish(artifacts["a"]).version
    server = serve(workers=2, PRODML_CACHE_ENABLED="false", PRODML_CAPTURE_FRACTION=0)
    server.wait_ready(version=v1)
    with Load(server.url) as load:
        time.sleep(1.0)
        v2 = platform.publish(artifacts["b"]).version  # a new champion: hot swap
        load.wait_for_version(v2)
        platform.registry.rollback("bad canary metrics")  # rejects v2: v1 is the champion again
        load.wait_for_version(v1)
        time.sleep(0.5)
    assert not load.errors, load.errors[:5]
    assert set(load.statuses) == {200}, load.statuses
    assert load.statuses[200] > 200
    assert Counter(load.versions)[v2] > 0
    assert server.get("/ready").json()["model_version"] == v1
    # Both workers are idle now, so a scrape (whichever worker answers it) counts every request.
    metrics = server.get("/metrics").text
    counted = re.findall(r'prodml_requests_total\{[^}]*route="/predict",status="200"[^}]*\} (\S+)', metrics)
    assert sum(float(n) for n in counted) == load.statuses[200]
    # Every row went through the micro-batcher, across the swaps, and was answered from its batch.
    batched = re.findall(r"prodml_micro_batch_rows_sum\{[^}]*\} (\S+)", metrics)
    assert sum(float(n) for n in batched) == load.statuses[200]


def test_canary_split_is_sticky_and_reported_per_variant(platform, artifacts, serve):
    champion = platform.publish(artifacts["a"]).version
    challenger = platform.publish(artifacts["b"], status=PENDING).version
    server = serve(PRODML_CANARY_VERSION=challenger, PRODML_CANARY_FRACTION=0.2, PRODML_CAPTURE_FRACTION=0)
    server.wait_ready()
    assert server.get("/ready").json()["challenger_version"] == challenger

    seen: Counter = Counter()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for i in range(600):
            r = client.post("/predict", json=ROW, headers={"X-Request-Key": f"customer-{i}"})
            assert r.status_code == 200
            body = r.json()
            expected = challenger if body["variant"] == "challenger" else champion
            assert body["model_version"] == expected and r.headers["x-model-variant"] == body["variant"]
            seen[body["variant"]] += 1
        assert 0.15 <= seen["challenger"] / 600 <= 0.25, seen
        sticky = {
            client.post("/predict", json=ROW, headers={"X-Request-Key": "customer-7"}).json()["variant"]
            for _ in range(10)
        }
        assert len(sticky) == 1

    metrics = server.get("/metrics").text
    assert f'model_version="{challenger}",route="/predict",status="200",variant="challenger"' in metrics
    assert f'model_version="{champion}",route="/predict",status="200",variant="champion"' in metrics


def test_api_key_is_required_in_api_key_mode(platform, artifacts, serve):
    platform.publish(artifacts["a"])
    aws.client("secretsmanager", platform.settings).create_secret(
        Name="prodml/inference/api-key", SecretString=json.dumps({"api_key": "s3cret-key"})
    )
    server = serve(PRODML_API_KEY_SECRET="prodml/inference/api-key")
    assert server.get("/health").status_code == 200
    server.wait_ready()
    denied = server.post("/predict", ROW)
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "unauthorized"
    assert server.post("/predict", ROW, headers={"X-API-Key": "wrong"}).status_code == 401
    assert server.get("/model").status_code == 401
    assert server.post("/predict", ROW, headers={"X-API-Key": "s3cret-key"}).status_code == 200


def test_redis_cache_is_shared_by_workers(platform, artifacts, serve, redis_url):
    import redis

    version = platform.publish(artifacts["a"]).version
    server = serve(workers=2, REDIS_URL=redis_url, PRODML_CAPTURE_FRACTION=0)
    server.wait_ready()
    first = server.post("/predict", ROW).json()
    assert first["cached"] is False
    keys = redis.Redis.from_url(redis_url).keys(f"prodml:pred:v{version}:*")
    assert len(keys) == 1
    ttl = redis.Redis.from_url(redis_url).pttl(keys[0])
    assert 0 < ttl <= 300_000
    # Whichever worker answers, the entry is shared.
    again = [server.post("/predict", ROW).json() for _ in range(6)]
    assert all(r["cached"] for r in again) and again[0]["probability"] == first["probability"]
    assert server.get("/model").json()["cache"] == "redis"
