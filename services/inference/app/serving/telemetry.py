"""Prometheus metrics and CloudWatch embedded-metric-format (EMF) records.

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set by gunicorn.conf.py
before any worker imports this module) and ``/metrics`` aggregates them; without it (tests, a bare uvicorn)
the default in-process registry is used.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

EMF_NAMESPACE = "prodml/inference"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "prodml_requests_total",
    "HTTP requests by route, method, status, model version and variant.",
    ["route", "method", "status", "model_version", "variant"],
)
LATENCY = Histogram(
    "prodml_request_latency_seconds",
    "Request latency by route, status, model version and variant.",
    ["route", "status", "model_version", "variant"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter(
    "prodml_predictions_total", "Rows predicted, by model version and variant.", ["model_version", "variant"]
)
CACHE = Counter("prodml_cache_requests_total", "Prediction cache lookups by result.", ["result", "variant"])
MODEL_LOAD = Histogram(
    "prodml_model_load_seconds",
    "Time to download, verify, load and warm a model.",
    ["variant", "backend"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
MODEL_VERSION = Gauge(
    "prodml_model_version",
    "The model version each variant serves.",
    ["variant"],
    multiprocess_mode="livemostrecent",
)
CAPTURE = Counter("prodml_capture_records_total", "Captured records by outcome.", ["outcome"])


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def emf_record(service: str, variant: str, latency_ms: float, errors: int) -> dict:
    """The ``_aws`` envelope and values that make a JSON log line a CloudWatch metric datum."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": EMF_NAMESPACE,
                    "Dimensions": [["Service", "ModelVariant"]],
                    "Metrics": [
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "Errors", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Service": service,
        "ModelVariant": variant,
        "Latency": round(latency_ms, 3),
        "Errors": errors,
    }
