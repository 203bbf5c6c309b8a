"""Per-column statistics for the quality report, and the training baseline profile.

Both are accumulated batch by batch in bounded memory. ``baseline_profile.json`` is computed on the
**train** split of the model features (derived ones included) and the target. Training packs it into the
model artifact; serving and drift detection read it. Its schema (``schema_version`` 1)::

    {
      "schema_version": 1,
      "dataset": str, "dataset_version": str, "contract_fingerprint": str,
      "split": "train", "rows": int,
      "sample": {"rows": int, "method": "bottom-k by id hash"},   # what the quantiles were computed on
      "numeric": {                        # contract.numeric_features: int, float, bool (as 0/1), derived
        <feature>: {
          "count": int, "null_count": int, "null_fraction": float,
          "min": float, "max": float, "mean": float, "std": float,      # exact, over every train row
          "quantiles": {"0.01": float, "0.05": ..., "0.5": ..., "0.99": float},   # on the sample
          "histogram": {"bin_edges": [float, ...],   # deciles of the sample, outer edges the exact min/max
                        "counts": [int, ...]},       # exact counts over every train row; len = edges - 1;
                                                     # bins are [e_i, e_i+1), the last one closed
          # Added later, so a reader must expect profiles without them (drift falls back to the above):
          "quantile_grid": [float, ...],  # 101 quantiles of the sample at 0, 0.01, ..., 1; first and last
                                          # the exact min/max (drift's KS baseline CDF)
          "bins": {"edges": [float, ...],   # the distinct deciles of the sample
                   "counts": [int, ...]}    # exact counts over every train row; len = edges + 1; bins are
                                            # (-inf, e_0), [e_0, e_1), ..., [e_last, +inf): a value equal to
                                            # the max gets a bin of its own, so 0/1 features keep two bins
        }
      },
      "categorical": {                    # contract.categorical_features
        <feature>: {"count": int, "null_count": int, "null_fraction": float,
                    "frequencies": {<canonical value>: float},   # share of non-null rows; every contract
                    "counts": {<canonical value>: int}}          # value is present, unseen ones as 0
      },
      "target": {"name": str, "type": "bool" | "category" | "float", ... as a numeric or categorical entry}
    }

A numeric feature with no non-null train value has ``min``/``max``/``mean``/``std`` null, empty quantiles,
an empty histogram and quantile grid, and one open bin counting 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml.contract import Contract, FeatureType

SCHEMA_VERSION = 1
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
HISTOGRAM_BINS = 10
QUANTILE_GRID_STEPS = 100  # quantile_grid: the quantiles at 0, 1/100, ..., 1
SAMPLE_ROWS = 200_000


def _as_float(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Numeric values as float64 with nulls as NaN (bool → 0/1, timestamp → epoch microseconds)."""
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.int64())
    return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


class ColumnStats:
    """Exact streaming statistics of one column: nulls; min/max/mean/std for numbers and timestamps;
    value counts for categories and bools."""

    def __init__(self, ftype: FeatureType, categories: list[str] | None = None):
        self.ftype = ftype
        self.count = 0
        self.nulls = 0
        self.sum = 0.0
        self.sumsq = 0.0
        self.min = np.inf
        self.max = -np.inf
        self.counts: dict[str, int] = dict.fromkeys(categories or [], 0)

    @property
    def numeric(self) -> bool:
        return self.ftype in (FeatureType.INT, FeatureType.FLOAT, FeatureType.BOOL, FeatureType.TIMESTAMP)

    def add(self, values: pa.ChunkedArray | pa.Array) -> None:
        self.count += len(values)
        self.nulls += values.null_count
        if self.ftype in (FeatureType.CATEGORY, FeatureType.BOOL):
            for item in pc.value_counts(values.drop_null()).to_pylist():
                key = str(item["values"]).lower() if self.ftype is FeatureType.BOOL else item["values"]
                self.counts[key] = self.counts.get(key, 0) + item["counts"]
        if self.numeric:
            x = _as_float(values)
            x = x[~np.isnan(x)]
            if len(x):
                self.sum += float(x.sum())
                self.sumsq += float(np.square(x).sum())
                self.min = min(self.min, float(x.min()))
                self.max = max(self.max, float(x.max()))

    def summary(self) -> dict:
        present = self.count - self.nulls
        out: dict = {
            "type": self.ftype.value,
            "count": self.count,
            "null_count": self.nulls,
            "null_fraction": self.nulls / self.count if self.count else 0.0,
        }
        if self.numeric:
            mean: float | None = None
            var: float | None = None
            if present:
                mean = self.sum / present
                var = max(self.sumsq / present - mean**2, 0.0)
            out |= {
                "min": self.min if present else None,
                "max": self.max if present else None,
                "mean": mean,
                "std": var**0.5 if var is not None else None,
            }
            if self.ftype is FeatureType.TIMESTAMP and present:
                out["min"] = str(pa.scalar(int(self.min), pa.timestamp("us", tz="UTC")))
                out["max"] = str(pa.scalar(int(self.max), pa.timestamp("us", tz="UTC")))
                out.pop("mean"), out.pop("std")
        if self.counts:
            out["counts"] = dict(sorted(self.counts.items()))
            out["frequencies"] = {k: v / present if present else 0.0 for k, v in sorted(self.counts.items())}
        return out


class TableStats:
    """ColumnStats for every column of the contract's processed schema."""

    def __init__(self, contract: Contract):
        self.columns: dict[str, ColumnStats] = {}
        for f in contract.arrow_schema():
            if f.name == contract.id:
                continue
            self.columns[f.name] = ColumnStats(_feature_type(contract, f.name), _categories(contract, f.name))

    def add(self, table: pa.Table) -> None:
        for name, stats in self.columns.items():
            stats.add(table.column(name))

    def summary(self) -> dict:
        return {name: stats.summary() for name, stats in self.columns.items()}


def _feature_type(contract: Contract, name: str) -> FeatureType:
    if name == contract.target.name:
        return contract.target.type
    for d in contract.derived:
        if d.name == name:
            return d.type
    return contract.feature(name).type


def _categories(contract: Contract, name: str) -> list[str] | None:
    if name == contract.target.name:
        return [v.strip().casefold() for v in contract.target.values] if contract.target.values else None
    for f in contract.features:
        if f.name == name and f.type is FeatureType.CATEGORY:
            return f.categories
    return None


class BaselineProfiler:
    """Accumulates the train split: exact stats, plus a deterministic bottom-k sample (smallest sample keys)
    of the numeric features for quantiles and histogram edges. Histogram counts need one more read of the
    written train files (:meth:`finish`)."""

    def __init__(self, contract: Contract, sample_rows: int = SAMPLE_ROWS):
        self.contract = contract
        self.numeric = list(contract.numeric_features)
        self.categorical = list(contract.categorical_features)
        target = contract.target
        self.categorical_target = target.type is FeatureType.CATEGORY
        self.stats = {
            name: ColumnStats(_feature_type(contract, name), _categories(contract, name))
            for name in [*self.numeric, *self.categorical, target.name]
        }
        self.sample_rows = sample_rows
        self._keys = np.zeros(0, dtype=np.uint64)
        self._sample: dict[str, np.ndarray] = {name: np.zeros(0) for name in self._sampled}
        self.rows = 0

    @property
    def _sampled(self) -> list[str]:
        return self.numeric + ([] if self.categorical_target else [self.contract.target.name])

    def add(self, train: pa.Table, keys: np.ndarray) -> None:
        self.rows += train.num_rows
        for name, stats in self.stats.items():
            stats.add(train.column(name))
        merged_keys = np.concatenate([self._keys, keys])
        keep = np.argsort(merged_keys, kind="stable")[: self.sample_rows]
        self._keys = merged_keys[keep]
        for name in self._sampled:
            merged = np.concatenate([self._sample[name], _as_float(train.column(name))])
            self._sample[name] = merged[keep]

    def _numeric_entry(self, name: str, train_files: list[Path]) -> dict:
        entry = self.stats[name].summary()
        entry.pop("counts", None), entry.pop("frequencies", None), entry.pop("type", None)
        x = self._sample[name][~np.isnan(self._sample[name])]
        if not len(x):
            return entry | {
                "quantiles": {},
                "histogram": {"bin_edges": [], "counts": []},
                "quantile_grid": [],
                "bins": {"edges": [], "counts": [0]},
            }
        quantiles = np.quantile(x, QUANTILES)
        entry["quantiles"] = {str(q): float(quantiles[i]) for i, q in enumerate(QUANTILES)}
        grid = np.quantile(x, np.linspace(0, 1, QUANTILE_GRID_STEPS + 1))
        grid[0], grid[-1] = entry["min"], entry["max"]
        inner = np.quantile(x, np.linspace(0, 1, HISTOGRAM_BINS + 1)[1:-1])
        edges = np.unique(np.concatenate([[entry["min"]], inner, [entry["max"]]]))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
        bin_edges = np.unique(inner)
        counts = np.zeros(len(edges) - 1, dtype=np.int64)
        bin_counts = np.zeros(len(bin_edges) + 1, dtype=np.int64)
        for path in train_files:
            for batch in pq.ParquetFile(path).iter_batches(columns=[name], batch_size=262_144):
                values = _as_float(batch.column(0))
                values = values[~np.isnan(values)]
                counts += np.histogram(values, bins=edges)[0]
                bin_counts += np.bincount(
                    np.searchsorted(bin_edges, values, side="right"), minlength=len(bin_counts)
                )
        entry["histogram"] = {"bin_edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
        entry["quantile_grid"] = [float(v) for v in grid]
        entry["bins"] = {"edges": [float(e) for e in bin_edges], "counts": [int(c) for c in bin_counts]}
        return entry

    def _categorical_entry(self, name: str) -> dict:
        entry = self.stats[name].summary()
        entry.pop("type", None)
        return entry

    def finish(self, *, dataset: str, version: str, fingerprint: str, train_files: list[Path]) -> dict:
        target = self.contract.target
        if target.type is FeatureType.CATEGORY:
            target_entry = self._categorical_entry(target.name)
        else:
            target_entry = self._numeric_entry(target.name, train_files)
            if target.type is FeatureType.BOOL:
                summary = self.stats[target.name].summary()
                target_entry |= {
                    "counts": summary.get("counts", {}),
                    "frequencies": summary.get("frequencies", {}),
                }
        return {
            "schema_version": SCHEMA_VERSION,
            "dataset": dataset,
            "dataset_version": version,
            "contract_fingerprint": fingerprint,
            "split": "train",
            "rows": self.rows,
            "sample": {"rows": len(self._keys), "method": "bottom-k by id hash"},
            "numeric": {name: self._numeric_entry(name, train_files) for name in self.numeric},
            "categorical": {name: self._categorical_entry(name) for name in self.categorical},
            "target": {"name": target.name, "type": target.type.value, **target_entry},
        }
