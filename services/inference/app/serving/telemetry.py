"""Prometheus metrics and CloudWatch embedded-metric-format (EMF) records.

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set by gunicorn.conf.py
before any worker imports this module) and ``/metrics`` aggregates them; without it (tests, a bare uvicorn)
the default in-process registry is used.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from functools import cache
from importlib import resources
from typing import Any

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

from ..core.logging import Deferred, write_line

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
MICRO_BATCH = Histogram(
    "prodml_micro_batch_rows",
    "Rows predicted together, by model version: single-row requests ready in the same event-loop turn.",
    ["model_version"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
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
# Labelled although one group serves: a labelless gauge gets a value at import, in gunicorn's master, and
# that live process's 0 would then be every "livemin" answer.
REGISTRY_REACHABLE = Gauge(
    "prodml_registry_reachable",
    "1 when the worker's last registry poll was answered, 0 when not (the minimum over live workers).",
    ["registry_group"],
    multiprocess_mode="livemin",
)
MODEL_SOURCE = Gauge(
    "prodml_model_source",
    "Workers serving each variant from each source: registry (the registry's current answer) or "
    "last_known_good (a verified local copy, served while the registry is unreachable or its champion "
    "cannot be loaded).",
    ["variant", "source"],
    multiprocess_mode="livesum",
)

# ---- the knowledge base (POST /ask) -------------------------------------------------------------------------
KNOWLEDGE_ANSWERS = Counter(
    "prodml_knowledge_answers_total",
    "Answers by knowledge base, index variant, answerer and whether the answer policy answered (or refused).",
    ["knowledge_base", "variant", "answerer", "answered"],
)
KNOWLEDGE_LATENCY = Histogram(
    "prodml_knowledge_latency_seconds",
    "Time an answer spent in each stage: retrieval, generation.",
    ["knowledge_base", "stage"],
    buckets=LATENCY_BUCKETS,
)
KNOWLEDGE_TOKENS = Counter(
    "prodml_knowledge_tokens_total",
    "Model tokens by direction (input, output).",
    ["knowledge_base", "model", "direction"],
)
KNOWLEDGE_COST = Counter(
    "prodml_knowledge_cost_usd_total",
    "Estimated cost in USD (the contract's price table), by model.",
    ["knowledge_base", "model"],
)
KNOWLEDGE_SCORE = Histogram(
    "prodml_knowledge_top_similarity",
    "Cosine similarity of the question and the best retrieved chunk (the answer policy's input).",
    ["knowledge_base"],
    buckets=(0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
KNOWLEDGE_INDEX = Gauge(
    "prodml_knowledge_index",
    "1 for the index version each variant serves (champion: the promoted one; challenger: the canary's).",
    ["knowledge_base", "variant", "version"],
    multiprocess_mode="livemax",
)
KNOWLEDGE_LOAD = Histogram(
    "prodml_knowledge_load_seconds",
    "Time to download, verify, load and warm an index.",
    ["variant"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)


@cache
def knowledge_metrics() -> dict[str, Any]:
    """knowledge.yaml's ``metrics``: the EMF namespace, dimensions and metric names, written once there and
    read by Terraform too (the cost alarm and the dashboard)."""
    import yaml

    text = resources.files("prodml.jobs").joinpath("knowledge.yaml").read_text(encoding="utf-8")
    metrics: dict[str, Any] = yaml.safe_load(text)["metrics"]
    return metrics


def knowledge_emf(knowledge_base: str, variant: str, answer: dict[str, Any]) -> dict[str, Any]:
    """One answer as a CloudWatch EMF record: latency split, tokens, estimated cost and the best retrieval
    score under [KnowledgeBase]; tokens and cost under [KnowledgeBase, Model] as well (the model that answered,
    or the offline answerer's label)."""
    spec = knowledge_metrics()
    names = spec["names"]
    dimensions = list(spec["dimensions"])
    by_model = [*dimensions, spec["model_dimension"]]
    latency = answer["latency_ms"]
    best = max((hit["similarity"] for hit in answer["retrieval"]), default=0.0)
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": spec["namespace"],
                    "Dimensions": [dimensions],
                    "Metrics": [
                        {"Name": names["retrieval_latency"], "Unit": "Milliseconds"},
                        {"Name": names["generation_latency"], "Unit": "Milliseconds"},
                        {"Name": names["retrieval_score"], "Unit": "None"},
                    ],
                },
                {
                    "Namespace": spec["namespace"],
                    "Dimensions": [dimensions, by_model],
                    "Metrics": [
                        {"Name": names["input_tokens"], "Unit": "Count"},
                        {"Name": names["output_tokens"], "Unit": "Count"},
                        {"Name": names["cost"], "Unit": "None"},
                    ],
                },
            ],
        },
        # Every dimension knowledge.yaml lists is the knowledge base's name (its only one, KnowledgeBase).
        **dict.fromkeys(dimensions, knowledge_base),
        spec["model_dimension"]: answer["model_id"] or answer["answerer"],
        "IndexVariant": variant,
        "IndexVersion": answer["index_version"],
        names["retrieval_latency"]: latency.get("retrieval", 0.0),
        names["generation_latency"]: latency.get("generation", 0.0),
        names["retrieval_score"]: round(best, 6),
        names["input_tokens"]: answer["tokens"]["input"],
        names["output_tokens"]: answer["tokens"]["output"],
        names["cost"]: answer["cost"]["estimated_usd"],
    }


def record_answer(knowledge_base: str, variant: str, answer: dict[str, Any]) -> None:
    """An answer's Prometheus counts (through the tally, off the hot path) and its EMF line."""
    model = answer["model_id"] or answer["answerer"]
    TALLY.count(
        KNOWLEDGE_ANSWERS, (knowledge_base, variant, answer["answerer"], str(answer["answered"]).lower())
    )
    for stage in ("retrieval", "generation"):
        TALLY.observe(KNOWLEDGE_LATENCY, (knowledge_base, stage), answer["latency_ms"].get(stage, 0.0) / 1000)
    for direction in ("input", "output"):
        if answer["tokens"][direction]:
            TALLY.count(KNOWLEDGE_TOKENS, (knowledge_base, model, direction), answer["tokens"][direction])
    if answer["cost"]["estimated_usd"]:
        TALLY.count(KNOWLEDGE_COST, (knowledge_base, model), answer["cost"]["estimated_usd"])
    if answer["retrieval"]:
        best = max(hit["similarity"] for hit in answer["retrieval"])
        TALLY.observe(KNOWLEDGE_SCORE, (knowledge_base,), best)
    write_line(knowledge_emf(knowledge_base, variant, answer))


def render_metrics() -> tuple[bytes, str]:
    TALLY.flush()  # this worker's latest; the others' are at most Tally.FLUSH_S behind
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_children: dict[tuple, object] = {}


def labelled(metric, *values: str):
    """``metric.labels(*values)``, memoised: the lookup (validation, a lock, a tuple) costs more than the
    increment it serves, and the label sets (route, status, version, variant) are few."""
    key = (id(metric), values)
    child = _children.get(key)
    if child is None:
        if len(_children) > 10_000:  # a flood of distinct versions should not grow memory without bound
            _children.clear()
        child = _children[key] = metric.labels(*values)
    return child


class Tally:
    """The request path's counts and latencies, added up in plain dicts and written to Prometheus in one
    go by :meth:`flush`, at most ``FLUSH_S`` after the first count waiting (so a scrape, whichever worker
    answers it, misses at most the last 10 ms of requests) and before ``/metrics`` renders.

    Under gunicorn every Prometheus value is a locked write to a memory-mapped file; a request would make
    four of them. Here it makes none: one write a label set and bucket a flush instead. Only the event loop
    touches it (no lock); the lifespan flushes it on shutdown."""

    FLUSH_S = 0.01  # at 3,000 requests a second a worker, one write a label set for 30 requests

    def __init__(self) -> None:
        self._counts: dict[tuple, float] = {}
        self._latencies: dict[tuple, list[float]] = {}
        self._deferred = Deferred(self.flush, self.FLUSH_S)

    def count(self, metric, values: tuple[str, ...], amount: float = 1.0) -> None:
        key = (metric, values)
        self._counts[key] = self._counts.get(key, 0.0) + amount
        self._deferred.soon()

    def observe(self, histogram, values: tuple[str, ...], value: float) -> None:
        samples = self._latencies.get((histogram, values))
        if samples is None:
            samples = self._latencies[(histogram, values)] = []
        samples.append(value)
        self._deferred.soon()

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        latencies, self._latencies = self._latencies, {}
        for (metric, values), amount in counts.items():
            labelled(metric, *values).inc(amount)
        for (histogram, values), samples in latencies.items():
            observe_many(labelled(histogram, *values), samples)


def observe_many(child, samples: list[float]) -> None:
    """``child.observe(s) for s in samples`` with one write a bucket plus one for the sum, where the
    client's histogram has the layout this was written against (checked by the tests); else one by one."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for sample in samples:
            child.observe(sample)
        return
    per_bucket = [0] * len(bounds)
    for sample in samples:
        per_bucket[bisect.bisect_left(bounds, sample)] += 1  # the first bound >= sample, as observe()
    for index, n in enumerate(per_bucket):
        if n:
            buckets[index].inc(n)
    total.inc(math.fsum(samples))


TALLY = Tally()


class EmfBatch:
    """Request latencies and errors for CloudWatch, aggregated: instead of one EMF record a request, each
    log flush writes one record a variant holding up to ``MAX_VALUES`` raw latencies (the EMF limit for a
    value array), so CloudWatch still computes exact percentiles from far fewer, smaller lines."""

    MAX_VALUES = 100

    def __init__(self, service: str):
        self.service = service
        self._samples: dict[str, list[tuple[float, int]]] = {}

    def add(self, variant: str, latency_ms: float, error: bool) -> None:
        samples = self._samples.get(variant)
        if samples is None:
            samples = self._samples[variant] = []
        samples.append((round(latency_ms, 3), int(error)))

    def drain(self) -> list[dict]:
        samples, self._samples = self._samples, {}
        records = []
        for variant, values in samples.items():
            for start in range(0, len(values), self.MAX_VALUES):
                chunk = values[start : start + self.MAX_VALUES]
                records.append(
                    emf_record(
                        self.service, variant, [v for v, _ in chunk], sum(e for _, e in chunk), len(chunk)
                    )
                )
        return records


def emf_record(service: str, variant: str, latency_ms: list[float], errors: int, requests: int) -> dict:
    """The ``_aws`` envelope and values that make a JSON log line CloudWatch metric data."""
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
                        {"Name": "Requests", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Service": service,
        "ModelVariant": variant,
        "Latency": latency_ms,
        "Errors": errors,
        "Requests": requests,
    }
