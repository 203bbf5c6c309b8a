"""A loaded, verified model and how it predicts: the ONNX fast path or the scikit-learn pipeline.

Only artifacts that :func:`prodml.artifact.unpack` verified against their lineage hashes are loaded. Model
inputs are built by :class:`prodml.encoding.InputEncoding`, the one encoding training also fits the model
on (derived features included), so serving cannot skew; this module never builds an input array itself.
It must never name a column.

Two ways in: :meth:`LoadedModel.predict` takes validated request rows and answers one dict a row (the
service); :meth:`LoadedModel.score` takes encoded :class:`~prodml.encoding.ModelInputs` and answers arrays
(batch scoring, a million rows without a dict each). Both run the same model call. :meth:`LoadedModel.explain`
adds per-feature attributions (:mod:`.explain`), built on its first call only.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel

from prodml import artifact
from prodml.contract import Contract, FeatureType, Task, parse_contract
from prodml.encoding import InputEncoding, ModelInputs

from .explain import Explainer, Explanations
from .schema import row_model

log = logging.getLogger("prodml.inference.model")

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


@dataclass(frozen=True)
class Scores:
    """A model call's answer for some rows, as arrays: the predicted label (a regressor's value) a row and,
    for a classifier, the probabilities ``[rows, classes]`` in :attr:`LoadedModel.class_names` order."""

    labels: np.ndarray
    probabilities: np.ndarray | None


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
        # The contract's encoding and class names are resolved once a model, not once a request.
        self._encoding = InputEncoding(self.contract)
        self._class_names = [str(_plain(c)) for c in self._classes]
        # The documented graph takes tensor(float) numbers and tensor(string) categories, as onnx_feed()
        # gives them; an input declared otherwise is cast to its declared type.
        documented = {name: np.float32 for name in self._encoding.numeric_features}
        self._onnx_casts = [
            (name, dtype) for name, _, dtype in self._onnx_inputs if dtype is not documented.get(name)
        ]
        self._explainer: Any = None
        self._explainer_lock = threading.Lock()

    @property
    def encoding(self) -> InputEncoding:
        return self._encoding

    @property
    def class_names(self) -> list[str]:
        """The classes, as text, in the order of :attr:`Scores.probabilities`' columns (empty: a regressor)."""
        return self._class_names

    # ---- inputs -------------------------------------------------------------------------------------
    def model_inputs(self, rows: list[dict]) -> ModelInputs:
        """Validated request rows → the model's inputs, by :meth:`prodml.encoding.InputEncoding.encode`:
        the function training builds the pipeline's inputs with, so serving cannot encode differently
        (derived features included: computed from the request's timestamps as ETL computes them)."""
        return self._encoding.encode_rows(rows)

    # ---- prediction ---------------------------------------------------------------------------------
    def predict(self, rows: list[dict]) -> list[dict]:
        return self._shape(self.score(self.model_inputs(rows)))

    def score(self, inputs: ModelInputs) -> Scores:
        """The model's answer for encoded rows, as arrays (the one model call :meth:`predict` makes too)."""
        if self.backend == "onnx":
            return self._predict_onnx(inputs)
        return self._predict_sklearn(inputs)

    def _predict_onnx(self, inputs: ModelInputs) -> Scores:
        feeds = inputs.onnx_feed()  # views of the encoded arrays: no copy for the documented signature
        for name, dtype in self._onnx_casts:
            feeds[name] = feeds[name].astype(dtype)
        outputs = dict(zip(self._onnx_outputs, self._predictor.run(self._onnx_outputs, feeds), strict=True))
        if self.contract.target.task is Task.REGRESSION:
            values = outputs.get("variable", next(iter(outputs.values())))
            return Scores(np.asarray(values).reshape(-1), None)
        scores = outputs.get("probabilities")
        if scores is not None and not isinstance(scores, np.ndarray):
            # A ZipMap output (one {class: probability} dict a row), should a model still carry one.
            scores = np.array([[row[c] for c in self._classes] for row in scores])
        labels = outputs.get("label", next(iter(outputs.values())))
        return Scores(np.asarray(labels).reshape(-1), scores)

    def _predict_sklearn(self, inputs: ModelInputs) -> Scores:
        frame = inputs.frame()  # the DataFrame training fitted the pipeline on, built by the same function
        pipeline = self._predictor
        if self.contract.target.task is Task.REGRESSION:
            return Scores(np.asarray(pipeline.predict(frame)), None)
        scores = pipeline.predict_proba(frame)
        labels = np.asarray(self._classes)[scores.argmax(axis=1)]
        return Scores(labels, scores)

    def _shape(self, answer: Scores) -> list[dict]:
        labels, scores = answer.labels, answer.probabilities
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

    # ---- explanation --------------------------------------------------------------------------------
    def explainer(self) -> Explainer:
        """The model's explainer, built on the first call (slow: it loads shap and the joblib pipeline);
        the plain prediction path never calls this."""
        if self._explainer is None:
            with self._explainer_lock:
                if self._explainer is None:
                    if self.backend == "joblib":
                        pipeline = self._predictor
                    else:
                        import joblib

                        pipeline = joblib.load(self.directory / artifact.MODEL_JOBLIB)
                    self._explainer = Explainer(pipeline, self.contract, self._class_names)
        explainer: Explainer = self._explainer
        return explainer

    def explain(self, inputs: ModelInputs, labels: np.ndarray | None = None) -> Explanations:
        """Attributions for encoded rows (see :mod:`.explain`); ``labels`` are the served predictions."""
        return self.explainer().explain(inputs.frame(), labels)

    def explain_rows(self, rows: list[dict], results: list[dict]) -> list[dict]:
        """One explanation dict a validated request row, of the prediction ``results`` gave it."""
        labels = None
        if len(self._class_names) > 2:
            labels = np.array([str(r["prediction"]) for r in results], dtype=object)
        return self.explain(self.model_inputs(rows), labels).as_dicts()

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


def onnx_session_options(threads: int = 1) -> Any:
    """The ONNX Runtime session options every model is loaded with (the batch benchmark's raw baseline too).
    The service and batch scoring use one thread: gunicorn runs one worker a core, and a batch job one
    scoring thread a core (more threads a call would only fight them for the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _onnx_session(path: Path, contract: Contract, threads: int = 1):
    import onnxruntime as ort

    options = onnx_session_options(threads)
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
    onnx_threads: int = 1,
) -> LoadedModel:
    """Unpack, verify and load ``tarball`` (the caller warms it: :class:`~app.serving.store.ModelStore`
    with one prediction so the first request is fast)."""
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
            predictor, onnx_inputs, onnx_outputs = _onnx_session(
                unpacked.path(artifact.MODEL_ONNX), contract, onnx_threads
            )
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
