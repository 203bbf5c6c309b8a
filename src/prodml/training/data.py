"""Reading a training channel and preparing the model's input frame.

A channel is a directory of parquet parts as ETL writes them (``split=<name>/part-*.parquet``). The model
frame is built by :mod:`prodml.encoding`, the one model-input encoding serving also calls on requests;
this module never encodes a value itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prodml.contract import Contract, Task
from prodml.encoding import InputEncoding
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


def model_frame(contract: Contract, table: pa.Table) -> pd.DataFrame:
    """The pipeline's input for ``table`` (a split as ETL wrote it): :meth:`InputEncoding.encode` of its
    columns, the function serving encodes requests with, as a DataFrame of ``contract.model_features``.

    Derived features are computed from their source timestamps by that function, not read from the
    split's stored derived columns (ETL wrote those with the same ``derive_values``)."""
    encoding = InputEncoding(contract)
    missing = [c for c in encoding.source_features if c not in table.column_names]
    if missing:
        raise TrainingError(f"data lacks feature column(s) {', '.join(missing)}")
    # Arrow gives numpy what the encoding takes: NaN or None for missing numbers, None for missing
    # categories, and timestamps as UTC datetime64 with NaT for missing.
    columns = {name: table.column(name).to_numpy() for name in encoding.source_features}
    return encoding.encode(columns, table.num_rows).frame()


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
        model_frame(contract, table),
        target_values(contract, frame[contract.target.name]),
    )
