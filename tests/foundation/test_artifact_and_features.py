"""The shared artifact layout (hash-verified) and the one derived-feature function."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from prodml import artifact
from prodml.features import derive_columns


def make_model_dir(path):
    path.mkdir()
    (path / artifact.MODEL_JOBLIB).write_bytes(b"model-bytes")
    (path / artifact.METRICS).write_text(json.dumps({"test": {"roc_auc": 0.8}}))
    (path / artifact.CONTRACT).write_text("name: x\n")
    (path / artifact.LINEAGE).write_text(json.dumps({"dataset_version": "v1"}))
    artifact.record_hashes(path)
    return path


def test_pack_is_deterministic_and_unpack_verifies(tmp_path):
    model_dir = make_model_dir(tmp_path / "model")
    one = artifact.pack(model_dir, tmp_path / "one.tar.gz").read_bytes()
    two = artifact.pack(model_dir, tmp_path / "two.tar.gz").read_bytes()
    assert one == two
    unpacked = artifact.unpack(tmp_path / "one.tar.gz", tmp_path / "out")
    assert unpacked.lineage["dataset_version"] == "v1" and not unpacked.has_onnx
    assert set(unpacked.lineage["files"]) == {"model.joblib", "metrics.json", "contract.yaml"}


def test_tampered_or_incomplete_artifacts_are_refused(tmp_path):
    model_dir = make_model_dir(tmp_path / "model")
    (model_dir / artifact.MODEL_JOBLIB).write_bytes(b"tampered")
    artifact.pack(model_dir, tmp_path / "bad.tar.gz")
    with pytest.raises(artifact.ArtifactError, match="does not match the sha256"):
        artifact.unpack(tmp_path / "bad.tar.gz", tmp_path / "out1")
    (model_dir / artifact.METRICS).unlink()
    (model_dir / artifact.MODEL_JOBLIB).unlink()
    artifact.pack(model_dir, tmp_path / "partial.tar.gz")
    with pytest.raises(artifact.ArtifactError, match=r"lacks model\.joblib"):
        artifact.unpack(tmp_path / "partial.tar.gz", tmp_path / "out2")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(artifact.ArtifactError, match="not a readable"):
        artifact.unpack(tmp_path / "junk.tar.gz", tmp_path / "out3")


def test_derived_features_come_from_the_contract(churn_contract):
    stamps = pa.array([dt.datetime(2021, 12, 31, 23, tzinfo=dt.UTC), None], type=pa.timestamp("us", tz="UTC"))
    table = derive_columns(churn_contract, pa.table({"signup_date": stamps}))
    assert table.column("signup_year").to_pylist() == [2021, None]
    assert table.column("signup_month").to_pylist() == [12, None]
    again = derive_columns(churn_contract, table)  # idempotent: replaces, never duplicates
    assert again.column_names == table.column_names
