"""Reading a training channel and preparing the model's input frame.

A channel is a directory of parquet parts as ETL writes them (``split=<name>/part-*.parquet``). The model
frame is the one place where contract types become model inputs; serving must prepare requests the same way
(numeric as float with NaN for missing and bool as 0/1; categoricals as str with "" for missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.contract import Contract, Task
from prodml.training import TrainingError


@dataclass(frozen=True)
class Split:
    name: str
    ids: pd.Series
    X: pd.DataFrame
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.X)


def read_channel(directory: Path | str | None, name: str) -> pa.Table:
    """Every parquet part under ``directory``, in name order (so the row order is reproducible)."""
    if not directory:
        raise TrainingError(f"missing channel {name!r}: SM_CHANNEL_{name.upper()} is not set")
    directory = Path(directory)
    if not directory.is_dir():
        raise TrainingError(f"missing channel {name!r}: {directory} does not exist")
    parts = sorted(p for p in directory.rglob("*.parquet") if p.is_file())
    if not parts:
        raise TrainingError(f"channel {name!r} at {directory} holds no parquet files")
    return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")


def model_frame(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """The model input: ``contract.model_features`` in order, typed for the pipeline (and for ONNX)."""
    missing = [c for c in contract.model_features if c not in frame.columns]
    if missing:
        raise TrainingError(f"data lacks model feature column(s) {', '.join(missing)}")
    out = {}
    for name in contract.numeric_features:
        values = pd.to_numeric(frame[name].astype("float64"), errors="coerce").to_numpy(dtype=np.float64)
        # float32-representable inputs: ONNX runs in float32, so training sees exactly what ONNX will.
        out[name] = values.astype(np.float32).astype(np.float64)
    for name in contract.categorical_features:
        column = frame[name].astype("object")
        out[name] = np.array(
            ["" if v is None or v is pd.NA or v != v else str(v) for v in column], dtype=object
        )
    return pd.DataFrame(out, columns=contract.model_features)


def target_values(contract: Contract, column: pd.Series) -> np.ndarray:
    """Binary bool targets become 0/1 ints; labelled targets stay strings; regression is float."""
    if column.isna().any():
        raise TrainingError(f"target {contract.target.name!r} has {int(column.isna().sum())} null value(s)")
    if contract.target.task is Task.REGRESSION:
        return column.astype("float64").to_numpy()
    if contract.target.values is None:
        return column.astype("bool").astype("int64").to_numpy()
    return column.astype("str").to_numpy(dtype=object)


def load_split(contract: Contract, directory: Path | str | None, name: str) -> Split:
    table = read_channel(directory, name)
    if table.num_rows == 0:
        raise TrainingError(
            f"the {name} split is empty: nothing to {'train on' if name == 'train' else 'evaluate'}"
        )
    if contract.target.name not in table.column_names:
        raise TrainingError(f"the {name} split has no target column {contract.target.name!r}")
    frame = table.to_pandas()
    ids = frame[contract.id].astype(str) if contract.id in frame.columns else pd.Series(range(len(frame)))
    return Split(
        name,
        ids.reset_index(drop=True),
        model_frame(contract, frame),
        target_values(contract, frame[contract.target.name]),
    )
