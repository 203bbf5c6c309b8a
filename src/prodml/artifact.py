"""The model artifact: what training writes into ``model.tar.gz`` and serving loads from it.

Training and serving agree on this layout and on nothing else (they never import each other):

    model.tar.gz
      model.joblib            the fitted scikit-learn pipeline (always)
      model.onnx              only when conversion passed the parity check on the test split
      metrics.json            {"validation": {...}, "test": {...}, "primary_metric": ..., "onnx_parity": {...}}
      lineage.json            dataset version, git SHA, hyperparameters, contract hash, package versions,
                              and "files": {name: sha256} for every other file in the archive
      baseline_profile.json   the training baseline profile from ETL (serving and drift read it)
      contract.yaml           the contract the model was trained on (serving builds its request model from it)

Model inputs. ``model.joblib`` takes a pandas DataFrame with exactly ``contract.model_features`` as columns,
in that order: numeric features (int, float, bool as 0/1, derived) as float64 with NaN for missing, and
categorical features as str (canonical, see ``contract.canonical_category``) with "" for missing.
``model.onnx`` takes one input per model feature, named exactly as the feature: numeric features as
``tensor(float)`` of shape ``[None, 1]`` (NaN for missing), categorical features as ``tensor(string)`` of
shape ``[None, 1]`` ("" for missing). Unknown categories are ignored (all-zero one-hot) by both.
Outputs: classifiers give ``label`` ``[None]`` and ``probabilities`` ``[None, n_classes]`` (no ZipMap),
columns in ``metrics.json["classes"]`` order (a bool binary target's classes are 0 and 1); regressors give
``variable`` ``[None, 1]``.

The archive is flat, as SageMaker's ``SM_MODEL_DIR`` tarball is. ``unpack`` refuses an archive whose files
do not match the hashes recorded in ``lineage.json``, so a corrupted or tampered model never serves.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_JOBLIB = "model.joblib"
MODEL_ONNX = "model.onnx"
METRICS = "metrics.json"
LINEAGE = "lineage.json"
BASELINE_PROFILE = "baseline_profile.json"
CONTRACT = "contract.yaml"
REQUIRED = (MODEL_JOBLIB, METRICS, LINEAGE, CONTRACT)


class ArtifactError(RuntimeError):
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_hashes(model_dir: Path) -> dict[str, Any]:
    """Write the sha256 of every file in ``model_dir`` into its lineage.json; returns the lineage."""
    lineage_path = model_dir / LINEAGE
    lineage = json.loads(lineage_path.read_text()) if lineage_path.exists() else {}
    lineage["files"] = {
        p.name: sha256_file(p) for p in sorted(model_dir.iterdir()) if p.is_file() and p.name != LINEAGE
    }
    lineage_path.write_text(json.dumps(lineage, indent=2, sort_keys=True))
    return lineage


def write_lineage(model_dir: Path, lineage: dict[str, Any]) -> dict[str, Any]:
    """Write ``lineage.json`` (everything but ``files``), then record every other file's sha256 in it.

    Call it last, once every other file of the artifact is in ``model_dir``.
    """
    fields = {k: v for k, v in lineage.items() if k != "files"}
    (model_dir / LINEAGE).write_text(json.dumps(fields, indent=2, sort_keys=True, default=str))
    return record_hashes(model_dir)


def pack(model_dir: Path, tarball: Path) -> Path:
    """``model_dir`` → a flat, deterministic ``model.tar.gz`` (sorted names, zeroed mtimes and owners)."""
    import gzip

    tarball.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(tarball, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return tarball


@dataclass(frozen=True)
class UnpackedArtifact:
    directory: Path
    lineage: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def has_onnx(self) -> bool:
        return (self.directory / MODEL_ONNX).exists()

    def path(self, name: str) -> Path:
        return self.directory / name


def unpack(tarball: Path, into: Path) -> UnpackedArtifact:
    """Extract and verify: every required file present, every file matching its lineage hash."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(f"{tarball} is not a readable model.tar.gz: {exc}") from None
    missing = [name for name in REQUIRED if not (into / name).exists()]
    if missing:
        raise ArtifactError(f"model artifact {tarball} lacks {', '.join(missing)}")
    lineage = json.loads((into / LINEAGE).read_text())
    for name, expected in lineage.get("files", {}).items():
        path = into / name
        if not path.exists():
            raise ArtifactError(f"model artifact lacks {name}, which its lineage lists")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{name} in {tarball} does not match the sha256 in lineage.json")
    if not lineage.get("files"):
        raise ArtifactError(f"lineage.json in {tarball} records no file hashes")
    return UnpackedArtifact(into, lineage, json.loads((into / METRICS).read_text()))
