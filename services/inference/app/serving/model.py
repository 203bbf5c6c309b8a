"""A loaded, verified model and how it predicts: the ONNX fast path or the scikit-learn pipeline.

Only artifacts that :func:`prodml.artifact.unpack` verified against their lineage hashes are loaded. Model
inputs are built from the contract: the request's features, derived features computed by
:func:`prodml.features.derive_values` (the implementation ETL uses, so serving cannot skew), then the
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
import yaml
from pydantic import BaseModel

from prodml import artifact
from prodml.contract import Contract, FeatureType, Task, parse_contract
from prodml.features import derive_values

from .schema import row_model

log = logging.getLogger("prodml.inference.model")

_NAN = float("nan")
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
        contract = self.contract
        types = {f.name: f.type for f in contract.features}
        self._base_numeric = [n for n in contract.numeric_features if n in types]
        self._categorical = list(contract.categorical_features)
        self._model_features = list(contract.model_features)
        self._class_names = [str(_plain(c)) for c in self._classes]
        # Numeric inputs are built as one float64 matrix, a row a feature (base, then derived), so a
        # request costs one allocation and, for ONNX, one cast, whatever the feature count.
        self._numeric = self._base_numeric + [d.name for d in contract.derived]
        row_of = {name: i for i, name in enumerate(self._numeric)}
        self._derived_plan = [
            (source, [(row_of[d.name], d.transform) for d in contract.derived if d.source == source])
            for source in sorted({d.source for d in contract.derived})
        ]
        self._feed_plan = [(name, row_of.get(column), dtype) for name, column, dtype in self._onnx_inputs]

    # ---- inputs -------------------------------------------------------------------------------------
    def _encode(self, rows: list[dict]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Validated request rows → (numeric matrix, a row a numeric feature; categorical columns), in the
        documented artifact encoding: numbers (bool as 0/1) as float64 with NaN for missing, categories as
        str with "" for missing.

        Derived features come from :func:`prodml.features.derive_values`, the implementation ETL applies to
        whole columns, so they are computed exactly as ETL computed them for training.
        """
        numeric = np.empty((len(self._numeric), len(rows)), dtype=np.float64)
        for i, name in enumerate(self._base_numeric):
            numeric[i] = [r[name] for r in rows]  # None becomes NaN
        for source, targets in self._derived_plan:
            stamps = [r[source] for r in rows]
            micros = np.array(
                [0 if v is None else (v - _EPOCH) // _MICROSECOND for v in stamps], dtype=np.int64
            )
            missing = [i for i, v in enumerate(stamps) if v is None]
            for index, transform in targets:
                numeric[index] = derive_values(transform, micros)
                if missing:
                    numeric[index, missing] = _NAN
        categorical = {
            name: np.array(["" if r[name] is None else r[name] for r in rows], dtype=object)
            for name in self._categorical
        }
        return numeric, categorical

    def model_inputs(self, rows: list[dict]) -> dict[str, np.ndarray]:
        """Validated request rows → one column a model feature (see :meth:`_encode` for the encoding)."""
        numeric, categorical = self._encode(rows)
        return {**{name: numeric[i] for i, name in enumerate(self._numeric)}, **categorical}

    # ---- prediction ---------------------------------------------------------------------------------
    def predict(self, rows: list[dict]) -> list[dict]:
        if self.backend == "onnx":
            return self._predict_onnx(*self._encode(rows))
        return self._predict_sklearn(self.model_inputs(rows))

    def _predict_onnx(self, numeric: np.ndarray, categorical: dict[str, np.ndarray]) -> list[dict]:
        n = numeric.shape[1]
        cast: dict[Any, np.ndarray] = {}  # the numeric matrix in each dtype the model's inputs ask for
        feeds = {}
        for name, row, dtype in self._feed_plan:
            if row is None:
                column = categorical[name]
                feeds[name] = (column if dtype is None else column.astype(dtype)).reshape(n, 1)
                continue
            matrix = cast.get(dtype)
            if matrix is None:
                matrix = cast[dtype] = numeric if dtype is None else numeric.astype(dtype, copy=False)
            feeds[name] = matrix[row].reshape(n, 1)  # a view: each row of the matrix is contiguous
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
            return [{"prediction": v} for v in np.asarray(labels, dtype=np.float64).reshape(-1).tolist()]
        results = []
        classes = self._class_names
        as_bool = self.contract.target.type is FeatureType.BOOL
        two_class = task is Task.BINARY and scores is not None and scores.shape[1] == 2
        rows = np.asarray(scores, dtype=np.float64).tolist() if scores is not None else None
        for i, label in enumerate(labels.tolist()):
            value = _plain(label)
            result: dict[str, Any] = {"prediction": bool(value) if as_bool else value}
            if rows is not None:
                row = [round(p, 6) for p in rows[i]]
                if two_class:
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
