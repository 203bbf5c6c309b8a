"""Drift test data: processed-schema rows drawn by prodml.sample_data (``shift`` moves the world), the
baseline profile ETL's own profiler computes on them, captured requests shaped as the service captures them,
and a registered model carrying the profile."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prodml import artifact, aws
from prodml.contract import Contract
from prodml.etl.profile import BaselineProfiler
from prodml.monitoring.sources import table_columns
from prodml.registry import APPROVED, ModelRegistry, ModelVersion
from prodml.sample_data import generate_table
from prodml.settings import Settings
from tests.training.conftest import typed_table


def processed_rows(contract: Contract, rows: int, *, seed: int, shift: float = 0.0) -> pa.Table:
    """Clean rows in the processed zone's schema (derived features included)."""
    return typed_table(contract, generate_table(contract, rows, seed=seed, dirty_fraction=0.0, shift=shift))


def baseline_profile(contract: Contract, train: pa.Table, folder: Path) -> dict[str, Any]:
    """``baseline_profile.json`` of ``train``, as ETL computes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.parquet"
    pq.write_table(train, path)
    profiler = BaselineProfiler(contract)
    profiler.add(train, np.arange(train.num_rows, dtype=np.uint64))
    return profiler.finish(
        dataset=contract.name, version="v-test", fingerprint=contract.fingerprint, train_files=[path]
    )


def columns(contract: Contract, table: pa.Table) -> tuple[dict[str, Any], int]:
    chunk = table_columns(contract, table)
    return chunk.columns, chunk.rows


def capture_entries(
    contract: Contract,
    table: pa.Table,
    *,
    at: datetime,
    model_version: int,
    variant: str = "champion",
    cache_hit: bool = False,
) -> list[dict[str, Any]]:
    """Captured requests for ``table``'s rows, shaped as the service's ``_capture`` shapes them
    (services/inference/app/serving/service.py): the validated request row (typed values, canonical
    categories) under ``features``; CaptureWriter serialises them."""
    features = [f.name for f in contract.features]
    entries = []
    for i, row in enumerate(table.select([contract.id, *features]).to_pylist()):
        row_id = row.pop(contract.id)
        entries.append(
            {
                "captured_at": at.isoformat(),
                "request_id": f"r{i}",
                "model_version": model_version,
                "variant": variant,
                "cache_hit": cache_hit,
                contract.id: row_id,
                "features": row,
                "output": {"label": 0, "probabilities": [0.5, 0.5]},
            }
        )
    return entries


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    """Entries as CaptureWriter writes them (one compact JSON object a line, ``default=str``)."""
    return ("\n".join(json.dumps(e, separators=(",", ":"), default=str) for e in entries) + "\n").encode()


def register_model(
    settings: Settings, contract: Contract, profile: dict[str, Any], folder: Path, status: str = APPROVED
) -> ModelVersion:
    """A verified model.tar.gz carrying ``profile`` and ``contract``, registered in the dataset's group.

    Its model.joblib is a placeholder: the drift job reads only the contract and the baseline profile of
    an artifact (it never loads the model), and fitting one would cost these tests seconds for nothing."""
    model_dir = folder / "model"
    model_dir.mkdir(parents=True)
    (model_dir / artifact.MODEL_JOBLIB).write_bytes(b"placeholder: drift never loads the model")
    (model_dir / artifact.METRICS).write_text(json.dumps({"primary_metric": contract.target.metric}))
    (model_dir / artifact.CONTRACT).write_text(contract.to_yaml())
    (model_dir / artifact.BASELINE_PROFILE).write_text(json.dumps(profile))
    artifact.write_lineage(model_dir, {"contract_fingerprint": contract.fingerprint})
    tarball = artifact.pack(model_dir, folder / "model.tar.gz")
    bucket = settings.bucket("artifacts")
    key = f"training/drift-test-{folder.name}/output/model.tar.gz"
    aws.client("s3", settings).upload_file(str(tarball), bucket, key)
    registry = ModelRegistry(aws.client("sagemaker", settings), settings.model_package_group(contract.name))
    registry.ensure_group()
    return registry.register(
        model_data_url=f"s3://{bucket}/{key}",
        image_uri="prodml-inference:test",
        metrics_uri=f"s3://{bucket}/training/drift-test/metrics.json",
        summary={"test": "drift"},
        metadata={},
        status=status,
    )
