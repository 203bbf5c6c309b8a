"""Gunicorn settings for the inference service (the Dockerfile's CMD and `prodml serve` both use this file).

Uvicorn workers, one per core by default (the model runs in-process, so more workers than cores only adds
contention), graceful timeouts that outlast an ALB deregistration delay, and Prometheus multiprocess mode.
Every value can be overridden by the environment named beside it.
"""

import gc
import os
import shutil
import tempfile

# One worker a core, so the numerical libraries get one thread each: OpenBLAS's own pool (numpy's matrix-vector
# product over the knowledge index's vectors, for /ask) would otherwise start a thread a core in every worker and
# every request thread, and at 8 connections /ask's p99 was 7x worse for it. Read when numpy is first imported,
# after this file; the environment can still set them.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

bind = os.environ.get("PRODML_BIND", f"0.0.0.0:{os.environ.get('PORT', '8080')}")
worker_class = "uvicorn.workers.UvicornWorker"
workers = int(os.environ.get("PRODML_WORKERS") or os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
# Predictions are CPU-bound; a worker that blocks this long is stuck, not busy.
timeout = int(os.environ.get("PRODML_WORKER_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("PRODML_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("PRODML_KEEPALIVE", "75"))  # longer than the ALB's 60 s idle timeout
backlog = 2048
max_requests = int(os.environ.get("PRODML_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# The app is imported once in the master and forked, so workers start without re-importing FastAPI, numpy
# and boto3 (half the cold start on two cores). The model is still loaded in each worker's lifespan, after
# the fork, so every worker has its own ONNX session and registry poller (hot swap works as before), and no
# metric value exists before the fork (Prometheus multiprocess files are per worker pid).
preload_app = os.environ.get("PRODML_PRELOAD", "true").lower() != "false"
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("PRODML_LOG_LEVEL", "info").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}

# Prometheus multiprocess mode: each worker writes its samples to files here; /metrics aggregates them.
_multiproc_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prodml-prometheus-")
)


def on_starting(server):
    # Samples from a previous run would be summed into this one's.
    shutil.rmtree(_multiproc_dir, ignore_errors=True)
    os.makedirs(_multiproc_dir, exist_ok=True)


def when_ready(server):
    # Runs in the master before any worker is forked: with the app preloaded, do the fork-safe part of
    # start-up (runtime import, AWS clients) once here instead of once a worker.
    if server.cfg.preload_app:
        server.app.wsgi().state.service.prepare()
        # Everything imported and built so far (~170k objects: FastAPI, pydantic, boto3, numpy, ...) lives
        # as long as the process: move it out of the collector's reach, so a worker's full collection walks
        # only what the worker made (95 ms -> ~0 a full collection, a p99 spike otherwise; and the pages
        # stay shared with the master instead of being copied when the collector touches them).
        gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
