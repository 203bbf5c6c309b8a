"""A loaded, verified model and how it predicts: the ONNX fast path or the scikit-learn pipeline.

Only artifacts that :func:`prodml.artifact.unpack` verified against their lineage hashes are loaded. Model
inputs are built from the contract: the request's features as an Arrow table, derived features added by
:func:`prodml.features.derive_columns` (the same function ETL uses, so serving cannot skew), then the
contract's ``model_features`` in order. This module must never name a column.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel

from prodml import artifact
from prodml.contract import Contract, FeatureType, Task, parse_contract
from prodml.features import derive_columns

from .schema import row_model

log = logging.getLogger("prodml.inference.model")

_NAN = float("nan")
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ONNX_DTYPES = {
    "tensor(string)": None,
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class ModelLoadError(RuntimeError):
    """A model that must not serve: unverifiable artifact, contract mismatch, unloadable file."""


@dataclass
class LoadedModel:
    version: int
    contract: Contract
    directory: Path
    lineage: dict
    metrics: dict
    backend: str  # "onnx" | "joblib"
    load_seconds: float
    request_model: type[BaseModel]
    _predictor: Any = field(repr=False)
    _onnx_inputs: list[tuple[str, str, Any]] = field(default_factory=list, repr=False)
    _onnx_outputs: list[str] = field(default_factory=list, repr=False)
    _classes: list[Any] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # The contract's feature lists are computed properties: resolve them once, not once a request.
        types = {f.name: f.type for f in self.contract.features}
        self._base_numeric = [n for n in self.contract.numeric_features if n in types]
        self._categorical = list(self.contract.categorical_features)
        self._derived_sources = sorted({d.source for d in self.contract.derived})
        self._model_features = list(self.contract.model_features)
        self._class_names = [str(_plain(c)) for c in self._classes]

    # ---- inputs -------------------------------------------------------------------------------------
    def model_inputs(self, rows: list[dict]) -> dict[str, np.ndarray]:
        """Validated request rows → one column a model feature, in the documented artifact encoding:
        numbers (bool as 0/1) as float64 with NaN for missing, categories as str with "" for missing.

        Derived features come from :func:`prodml.features.derive_columns` on an Arrow table of their
        source columns, so they are computed exactly as ETL computed them for training.
        """
        contract = self.contract
        columns: dict[str, np.ndarray] = {}
        for name in self._base_numeric:
            columns[name] = np.array([_NAN if r[name] is None else r[name] for r in rows], dtype=np.float64)
        for name in self._categorical:
            columns[name] = np.array(["" if r[name] is None else r[name] for r in rows], dtype=object)
        if contract.derived:
            sources = pa.Table.from_arrays(
                [_timestamp_array([r[s] for r in rows]) for s in self._derived_sources],
                names=self._derived_sources,
            )
            derived = derive_columns(contract, sources)
            for d in contract.derived:
                columns[d.name] = _float64_values(derived.column(d.name))
        return columns

    # ---- prediction ---------------------------------------------------------------------------------
    def predict(self, rows: list[dict]) -> list[dict]:
        table = self.model_inputs(rows)
        if self.backend == "onnx":
            return self._predict_onnx(table)
        return self._predict_sklearn(table)

    def _predict_onnx(self, table: dict[str, np.ndarray]) -> list[dict]:
        feeds = {
            name: (table[column] if dtype is None else table[column].astype(dtype, copy=False)).reshape(-1, 1)
            for name, column, dtype in self._onnx_inputs
        }
        outputs = dict(zip(self._onnx_outputs, self._predictor.run(self._onnx_outputs, feeds), strict=True))
        if self.contract.target.task is Task.REGRESSION:
            values = outputs.get("variable", next(iter(outputs.values())))
            return self._shape(np.asarray(values).reshape(-1), None)
        scores = outputs.get("probabilities")
        if scores is not None and not isinstance(scores, np.ndarray):
            # A ZipMap output (one {class: probability} dict a row), should a model still carry one.
            scores = np.array([[row[c] for c in self._classes] for row in scores])
        labels = outputs.get("label", next(iter(outputs.values())))
        return self._shape(np.asarray(labels).reshape(-1), scores)

    def _predict_sklearn(self, table: dict[str, np.ndarray]) -> list[dict]:
        import pandas as pd

        # The documented joblib input: numeric as float64 with NaN, categoricals as str with "" for missing.
        categorical = set(self.contract.categorical_features)
        frame = pd.DataFrame(
            {
                # float32-representable numbers, as training and the ONNX path see them.
                name: table[name]
                if name in categorical
                else table[name].astype(np.float32).astype(np.float64)
                for name in self._model_features
            }
        )
        pipeline = self._predictor
        if self.contract.target.task is Task.REGRESSION:
            return self._shape(pipeline.predict(frame), None)
        scores = pipeline.predict_proba(frame)
        labels = np.asarray(self._classes)[scores.argmax(axis=1)]
        return self._shape(labels, scores)

    def _shape(self, labels: np.ndarray, scores: np.ndarray | None) -> list[dict]:
        task = self.contract.target.task
        if task is Task.REGRESSION:
            return [{"prediction": float(v)} for v in np.asarray(labels, dtype=np.float64).reshape(-1)]
        results = []
        classes = self._class_names
        as_bool = self.contract.target.type is FeatureType.BOOL
        for i, label in enumerate(labels):
            value = _plain(label)
            result: dict[str, Any] = {"prediction": bool(value) if as_bool else value}
            if scores is not None:
                row = [round(float(p), 6) for p in scores[i]]
                if task is Task.BINARY and len(row) == 2:
                    result["probability"] = row[1]
                else:
                    result["probabilities"] = dict(zip(classes, row, strict=False))
            results.append(result)
        return results

    # ---- description --------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {
            "version": self.version,
            "backend": self.backend,
            "contract": {
                "name": self.contract.name,
                "version": self.contract.version,
                "fingerprint": self.contract.fingerprint,
            },
            "load_seconds": round(self.load_seconds, 4),
            "lineage": {k: v for k, v in self.lineage.items() if k != "files"},
            "files": self.lineage.get("files", {}),
            "metrics": self.metrics,
        }

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# Arrow arrays in and out of the request path go through their buffers: pa.array() and .to_numpy() import
# pandas (0.4 s at the first request) to check for pandas inputs, and neither is needed for one column.
def _timestamp_array(values: list[datetime | None]) -> pa.Array:
    """UTC datetimes (None for missing) as an Arrow timestamp[us, UTC] array."""
    n = len(values)
    micros = np.fromiter(
        (0 if v is None else (v - _EPOCH) // _MICROSECOND for v in values), dtype=np.int64, count=n
    )
    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
    nulls = n - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(_TIMESTAMP, n, [bitmap, pa.py_buffer(micros)], null_count=nulls)


# Fixed-width Arrow types whose data buffer numpy reads as is (anything else is cast to float64 first).
_NUMPY_TYPES = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def _float64_values(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow column as float64 with NaN for missing."""
    parts = []
    for chunk in column.chunks:
        dtype = _NUMPY_TYPES.get(chunk.type)
        if dtype is None:
            chunk, dtype = pc.cast(chunk, pa.float64()), np.float64
        bitmap, data = chunk.buffers()
        start, stop = chunk.offset, chunk.offset + len(chunk)
        values = np.frombuffer(data, dtype=dtype)[start:stop].astype(np.float64)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
            values[~bits[start:stop].astype(np.bool_)] = _NAN
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return value


def _classes_from_pipeline(pipeline: Any) -> list[Any]:
    classes = getattr(pipeline, "classes_", None)
    if classes is None and hasattr(pipeline, "steps"):
        classes = getattr(pipeline.steps[-1][1], "classes_", None)
    return [_plain(c) for c in classes] if classes is not None else []


def _classes_from_metadata(unpacked: artifact.UnpackedArtifact, contract: Contract) -> list[Any]:
    recorded = unpacked.metrics.get("classes") or unpacked.lineage.get("classes")
    if recorded:
        return list(recorded)
    if contract.target.values:
        return list(contract.target.values)
    if contract.target.type is FeatureType.BOOL:
        return [0, 1]
    return []


def _onnx_session(path: Path, contract: Contract):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Gunicorn runs one worker a core; ONNX Runtime threads would only fight them for it.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    features = set(contract.model_features)
    inputs = []
    for spec in session.get_inputs():
        if spec.name not in features:
            raise ModelLoadError(
                f"model.onnx input {spec.name!r} is not a model feature of contract {contract.name!r}; "
                "expected one input a feature (see prodml.artifact)"
            )
        inputs.append((spec.name, spec.name, _ONNX_DTYPES.get(spec.type)))
    missing = features - {name for name, _, _ in inputs}
    if missing:
        raise ModelLoadError(f"model.onnx lacks inputs for {', '.join(sorted(missing))}")
    outputs = [o.name for o in session.get_outputs()]
    return session, inputs, outputs


def load_artifact(
    tarball: Path,
    version: int,
    *,
    work_dir: Path,
    use_onnx: bool = True,
    pinned_contract: Contract | None = None,
) -> LoadedModel:
    """Unpack, verify and load ``tarball``; warm it with one prediction so the first request is fast."""
    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f"v{version}-", dir=work_dir))
    try:
        unpacked = artifact.unpack(tarball, directory)
        contract = parse_contract(
            yaml.safe_load(unpacked.path(artifact.CONTRACT).read_text()), f"model v{version} contract.yaml"
        )
        if pinned_contract is not None and pinned_contract.fingerprint != contract.fingerprint:
            raise ModelLoadError(
                f"model v{version} was trained on a different contract than the pinned one "
                f"({contract.fingerprint[:12]} != {pinned_contract.fingerprint[:12]})"
            )
        onnx_inputs: list = []
        onnx_outputs: list = []
        if use_onnx and unpacked.has_onnx and unpacked.metrics.get("onnx_parity", {}).get("passed", True):
            predictor, onnx_inputs, onnx_outputs = _onnx_session(unpacked.path(artifact.MODEL_ONNX), contract)
            backend = "onnx"
            classes = _classes_from_metadata(unpacked, contract)
        else:
            import joblib

            predictor = joblib.load(unpacked.path(artifact.MODEL_JOBLIB))
            backend = "joblib"
            classes = _classes_from_pipeline(predictor) or _classes_from_metadata(unpacked, contract)
        model = LoadedModel(
            version=version,
            contract=contract,
            directory=directory,
            lineage=unpacked.lineage,
            metrics=unpacked.metrics,
            backend=backend,
            load_seconds=0.0,
            request_model=row_model(contract),
            _predictor=predictor,
            _onnx_inputs=onnx_inputs,
            _onnx_outputs=onnx_outputs,
            _classes=classes,
        )
    except artifact.ArtifactError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise ModelLoadError(str(exc)) from None
    except ModelLoadError:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise ModelLoadError(f"model v{version} cannot be loaded: {type(exc).__name__}: {exc}") from None
    model.load_seconds = time.perf_counter() - started
    return model
