"""Orchestration fixtures: a champion in the registry, made as a user makes one (ingest, ETL, a training job,
registration through the gate) so its baseline profile is ETL's own; and captured requests in the service's
shape."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from prodml import aws
from prodml.contract import Contract
from prodml.ingest import ingest
from prodml.jobs import etl as etl_jobs
from prodml.jobs.watch import wait_training_job
from prodml.registry import ModelVersion
from prodml.sample_data import generate_table, write_sample
from prodml.settings import Settings
from prodml.training.launcher import launch
from prodml.training.model import Hyperparameters
from prodml.training.registration import register_job
from prodml.zones import Zones
from tests.training.conftest import typed_table

# A small recipe: the champion trains in seconds (and retraining reuses the champion's recipe).
WEAK = Hyperparameters(n_estimators=5, max_depth=2)


def land(settings: Settings, contract: Contract, folder: Path, *, rows: int, seed: int, **kwargs) -> None:
    path = folder / f"{contract.name}-{seed}.csv"
    write_sample(contract, path, rows=rows, seed=seed, **kwargs)
    ingest(path, contract, settings)


def train_champion(settings: Settings, contract: Contract, folder: Path, *, rows: int = 2000) -> ModelVersion:
    """Land a sample, run ETL, train on what it committed and register it (the first model: Approved)."""
    land(settings, contract, folder, rows=rows, seed=3)
    run = etl_jobs.start(contract, settings)
    etl_jobs.wait(run, settings)
    launched = launch(contract, settings, WEAK)
    wait_training_job(aws.client("sagemaker", settings), aws.client("logs", settings), launched.name)
    registered = register_job(contract, settings, launched.name)
    assert registered.decision.status == "Approved", registered.decision
    return registered.version


def capture(
    settings: Settings,
    contract: Contract,
    *,
    rows: int,
    seed: int,
    shift: float,
    at: datetime,
    model_version: int,
) -> str:
    """Captured requests in the service's shape (services/inference/app/serving/capture.py), in the capture
    zone's hour of ``at``; the key."""
    table = typed_table(contract, generate_table(contract, rows, seed=seed, dirty_fraction=0.0, shift=shift))
    features = [f.name for f in contract.features]
    lines = []
    for i, row in enumerate(table.select([contract.id, *features]).to_pylist()):
        row_id = row.pop(contract.id)
        record = {
            "captured_at": at.isoformat(),
            "request_id": f"r{i}",
            "model_version": model_version,
            "variant": "champion",
            "cache_hit": False,
            contract.id: row_id,
            "features": row,
            "output": {"label": 0, "probabilities": [0.5, 0.5]},
        }
        lines.append(json.dumps(record, separators=(",", ":"), default=str))
    key = Zones.capture_prefix(contract.name) + f"date={at:%Y-%m-%d}/hour={at:%H}/batch-{seed}.jsonl"
    aws.client("s3", settings).put_object(
        Bucket=settings.bucket("capture"), Key=key, Body=("\n".join(lines) + "\n").encode()
    )
    return key
