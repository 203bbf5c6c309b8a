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


@pytest.mark.parametrize("transform", ["year", "month", "day_of_week", "day_of_year", "hour", "epoch_days"])
def test_derived_values_agree_with_the_arrow_calendar(transform):
    # Arrow's calendar kernels are an independent implementation: any length (one row or a column), either
    # side of the epoch, leap days included.
    import numpy as np
    import pyarrow.compute as pc

    from prodml.features import derive_values

    rng = np.random.default_rng(7)
    micros = np.concatenate(
        [
            rng.integers(-2_208_988_800_000_000, 4_102_444_800_000_000, 5000),  # 1900 .. 2100
            [0, -1, 951_782_400_000_000, 1_709_164_800_000_000],  # the epoch, just before it, 2000-02-29
        ]
    )
    stamps = pa.array(micros, pa.timestamp("us", tz="UTC"))
    if transform == "epoch_days":
        expected = micros / 86_400_000_000
    else:
        expected = getattr(pc, transform)(stamps).to_numpy()
    assert np.array_equal(derive_values(transform, micros), expected)
    assert derive_values(transform, micros[:1]).tolist() == expected[:1].tolist()  # one row, as serving


def test_derived_columns_keep_nulls_and_chunks(churn_contract):
    stamp = pa.timestamp("us", tz="UTC")
    source = pa.chunked_array(
        [pa.array([dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC), None], stamp), pa.array([], stamp)]
    )
    table = derive_columns(churn_contract, pa.table({"signup_date": source}))
    assert table.column("signup_year").to_pylist() == [1969, None]
    assert table.column("signup_month").type == pa.int64()
    naive = pa.table({"signup_date": pa.array([dt.datetime(2024, 2, 29, 12)], pa.timestamp("ns"))})
    assert derive_columns(churn_contract, naive).column("signup_month").to_pylist() == [2]  # naive is UTC
