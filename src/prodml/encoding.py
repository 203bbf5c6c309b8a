"""The model-input encoding: the one function from a contract's features to the arrays its model takes.

Training (on a processed split, :func:`prodml.training.data.model_frame`) and serving (on validated request
rows) both call :meth:`InputEncoding.encode`, so the pipeline is fitted on, and the deployed model is fed,
arrays built by the same lines. The encoding is the artifact's documented model input (see
:mod:`prodml.artifact`):

- numeric features (int, float, bool as 0/1, then derived) as float32 values with NaN for missing, and a
  number beyond float32's range clipped to its largest finite value. ONNX runs
  in float32, so the joblib pipeline is fitted on, and fed, exactly the values the ONNX graph sees; its
  float64 columns widen them exactly.
- derived features are computed here from their source timestamp by :func:`prodml.features.derive_values`
  (the function ETL writes the processed zone's derived columns with), never read from a stored column,
  so a training row and a request with the same timestamp get the same value; missing if the source is.
- categorical features as str (canonical, as ETL and the request model leave them) with "" for missing.

It must stay free of any dataset's column names (everything comes from the contract), must not import
pandas unless a DataFrame is asked for (serving's ONNX path never needs one), and must run on training's
Python 3.10 as on serving's 3.11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from prodml.contract import Contract
from prodml.features import derive_values

if TYPE_CHECKING:
    import pandas as pd

_NAN = float("nan")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # noqa: UP017 - datetime.UTC is 3.11+; training runs 3.10
_MICROSECOND = timedelta(microseconds=1)


class InputEncoding:
    """A contract's model-input encoding, resolved once (serving keeps one a loaded model, so a request
    never recomputes the contract's feature lists).

    ``source_features`` are the columns :meth:`encode` reads: the base numeric features, the timestamps
    derived features come from, and the categorical features. ``numeric_features``,
    ``categorical_features`` and ``model_features`` are the contract's, in its order.
    """

    def __init__(self, contract: Contract) -> None:
        self.numeric_features = tuple(contract.numeric_features)
        self.categorical_features = tuple(contract.categorical_features)
        self.model_features = tuple(contract.model_features)
        row_of = {name: i for i, name in enumerate(self.numeric_features)}
        derived = {d.name for d in contract.derived}
        self._base = [(row_of[name], name) for name in self.numeric_features if name not in derived]
        sources = list(dict.fromkeys(d.source for d in contract.derived))
        self._derived = [
            (source, [(row_of[d.name], d.transform) for d in contract.derived if d.source == source])
            for source in sources
        ]
        self.source_features = (
            *(name for _, name in self._base),
            *sources,
            *self.categorical_features,
        )
        names = self.source_features
        # One C call a row for its source values (a one-name itemgetter would return a bare value).
        self._row_values = itemgetter(*names) if len(names) > 1 else lambda row: tuple(row[n] for n in names)

    def encode(self, columns: Mapping[str, Sequence[Any]], rows: int) -> ModelInputs:
        """``rows`` rows given as ``columns`` (every name in ``source_features`` → one value a row) → the
        model's inputs.

        A column is a list or a numpy array: numbers and bools with None or NaN for missing; timestamps as
        timezone-aware ``datetime`` with None for missing, or as a UTC ``datetime64`` array with NaT for
        missing; categories as str with None (or NaN) for missing.
        """
        numeric = np.empty((len(self.numeric_features), rows), dtype=np.float64)
        for row, name in self._base:
            numeric[row] = columns[name]  # None becomes NaN, a bool 0 or 1
        for source, targets in self._derived:
            micros, missing = _micros(columns[source])
            for row, transform in targets:
                numeric[row] = derive_values(transform, micros)
                if missing is not None:
                    numeric[row, missing] = _NAN
        categorical = {
            name: np.array([v if v.__class__ is str else _category(v) for v in columns[name]], dtype=object)
            for name in self.categorical_features
        }
        # A number beyond float32's range is clipped to its largest finite value, not made infinite: sklearn
        # refuses infinity (the joblib model answered 500), and a linear model makes inf - inf a NaN.
        np.clip(numeric, -_FLOAT32_MAX, _FLOAT32_MAX, out=numeric)
        # Through float64 first: an int64 reaches float32 exactly as the float64 → float32 cast rounds it.
        return ModelInputs(self, numeric.astype(np.float32), categorical)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> ModelInputs:
        """:meth:`encode` of ``rows`` given one mapping a row (serving's validated request rows)."""
        if rows and self.source_features:
            by_feature = zip(*map(self._row_values, rows), strict=True)  # a tuple a source feature
            columns = dict(zip(self.source_features, by_feature, strict=True))
        else:
            columns = {name: () for name in self.source_features}
        return self.encode(columns, len(rows))


class ModelInputs:
    """Encoded rows, in the two forms the artifact's models take, both read from the same two arrays:
    :meth:`frame` (``model.joblib``) and :meth:`onnx_feed` (``model.onnx``).

    ``numeric`` is float32, C-contiguous, one row a numeric feature in contract order (so each feature is a
    contiguous view); ``categorical`` is one object array of str a categorical feature.
    """

    __slots__ = ("categorical", "encoding", "numeric")

    def __init__(self, encoding: InputEncoding, numeric: np.ndarray, categorical: dict[str, np.ndarray]):
        self.encoding = encoding
        self.numeric = numeric
        self.categorical = categorical

    def __len__(self) -> int:
        return self.numeric.shape[1]

    def columns(self) -> dict[str, np.ndarray]:
        """One 1-D array a model feature, in ``model_features`` order: numeric as float64 (each value
        exactly its float32), categorical as object arrays of str."""
        columns = {
            name: row.astype(np.float64)
            for name, row in zip(self.encoding.numeric_features, self.numeric, strict=True)
        }
        columns.update(self.categorical)
        return columns

    def frame(self) -> pd.DataFrame:
        """The ``model.joblib`` input: a DataFrame with exactly ``model_features`` as columns, in order."""
        import pandas as pd

        return pd.DataFrame(self.columns())  # columns() is already in model_features order

    def onnx_feed(self) -> dict[str, np.ndarray]:
        """The ``model.onnx`` input: one ``[rows, 1]`` array a model feature, named as the feature;
        ``tensor(float)`` for numeric features, ``tensor(string)`` for categorical ones. Views, no copies."""
        count, n = self.numeric.shape
        feed = dict(zip(self.encoding.numeric_features, self.numeric.reshape(count, n, 1), strict=True))
        for name, column in self.categorical.items():
            feed[name] = column.reshape(n, 1)
        return feed


def _micros(column: Sequence[Any]) -> tuple[np.ndarray, Any]:
    """UTC microseconds since the epoch (0 where missing) and where values are missing (None if nowhere)."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "M":
        missing = np.isnat(column)
        micros = column.astype("datetime64[us]").view(np.int64)
        if not missing.any():
            return micros, None
        return np.where(missing, 0, micros), missing
    micros = np.array([0 if v is None else (v - _EPOCH) // _MICROSECOND for v in column], dtype=np.int64)
    missing = [i for i, v in enumerate(column) if v is None]
    return micros, (missing or None)


def _category(value: Any) -> str:
    return "" if value is None or value != value else str(value)  # NaN is the one value unequal to itself
