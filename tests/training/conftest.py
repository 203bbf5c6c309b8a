"""Training fixtures: a committed processed dataset version written straight into moto S3 in the layout ETL
produces (typed parquet per split, derived features, ``baseline_profile.json``, then ``_MANIFEST.json`` and
``_LATEST``), so training tests do not depend on the ETL stage."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from prodml import aws
from prodml.contract import Contract, FeatureType, Task, canonical_category, load_contract
from prodml.features import derive_columns
from prodml.sample_data import generate_table
from prodml.settings import Settings
from prodml.zones import SPLITS, Zones
from tests.conftest import REPO

HOUSE_CONTRACT = REPO / "contracts" / "house_prices.yaml"


def typed_table(contract: Contract, text: pa.Table) -> pa.Table:
    """Sample-data text → the processed schema (clean rows only, so every cast succeeds)."""
    columns = {contract.id: text.column(contract.id)}
    for feature in contract.features:
        col = pc.if_else(pc.equal(text.column(feature.name), ""), None, text.column(feature.name))
        if feature.type is FeatureType.BOOL:
            col = pc.equal(col, "true")
        elif feature.type is FeatureType.CATEGORY:
            col = pa.array(
                [None if v is None else canonical_category(v) for v in col.to_pylist()], pa.string()
            )
        elif feature.type is FeatureType.TIMESTAMP:
            col = pc.strptime(col, format="%Y-%m-%dT%H:%M:%SZ", unit="us")
            col = pc.assume_timezone(col, "UTC")
        else:
            col = pc.cast(pc.cast(col, pa.float64()), feature.arrow_type)
        columns[feature.name] = col
    target = text.column(contract.target.name)
    if contract.target.type is FeatureType.BOOL:
        target = (
            pc.equal(target, "true") if target.to_pylist()[0] in ("true", "false") else pc.equal(target, "1")
        )
    elif contract.target.type is FeatureType.FLOAT:
        target = pc.cast(target, pa.float64())
    else:
        target = pa.array([canonical_category(v) for v in target.to_pylist()], pa.string())
    columns[contract.target.name] = target
    table = derive_columns(contract, pa.table(columns))
    return table.select(contract.arrow_schema().names).cast(contract.arrow_schema())


def split_of(row_id: str, contract: Contract) -> str:
    u = int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < contract.split.train:
        return "train"
    return "validation" if u < contract.split.train + contract.split.validation else "test"


def publish_dataset(
    settings: Settings,
    contract: Contract,
    *,
    rows: int = 3000,
    version: str = "v1",
    seed: int = 11,
    transform: Callable[[str, pa.Table], pa.Table] | None = None,
    commit: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> str:
    """Write a processed dataset version; ``transform(split, table)`` lets a test break it on purpose."""
    s3, zones = aws.client("s3", settings), Zones(settings)
    bucket = zones.bucket("processed")
    table = typed_table(contract, generate_table(contract, rows, seed=seed, dirty_fraction=0.0))
    assignment = np.array([split_of(i, contract) for i in table.column(contract.id).to_pylist()])
    counts = {}
    for split in splits:
        part = table.filter(pa.array(assignment == split))
        if transform:
            part = transform(split, part)
        counts[split] = part.num_rows
        buffer = io.BytesIO()
        pq.write_table(part, buffer)
        s3.put_object(
            Bucket=bucket,
            Key=zones.split_prefix(contract.name, version, split) + "part-00000.parquet",
            Body=buffer.getvalue(),
        )
    profile = {"dataset": contract.name, "version": version, "rows": table.num_rows, "features": {}}
    s3.put_object(
        Bucket=bucket,
        Key=zones.version_prefix(contract.name, version) + "baseline_profile.json",
        Body=json.dumps(profile),
    )
    if commit:
        manifest = {
            "dataset": contract.name,
            "version": version,
            "rows": counts,
            "contract_fingerprint": contract.fingerprint,
        }
        s3.put_object(
            Bucket=bucket, Key=zones.manifest_key(contract.name, version), Body=json.dumps(manifest)
        )
        s3.put_object(Bucket=bucket, Key=zones.latest_key(contract.name), Body=version.encode())
    return version


@pytest.fixture
def training_env(shipped_env) -> Settings:
    """A provisioned emulator (buckets, jobs, model package groups) with code shipped and an image in ECR."""
    return shipped_env


@pytest.fixture
def house_contract() -> Contract:
    return load_contract(HOUSE_CONTRACT)


def task_of(contract: Contract) -> Task:
    return contract.target.task
