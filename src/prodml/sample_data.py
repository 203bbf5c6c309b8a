"""Deterministic synthetic data for any contract, with realistic mess and a known share of dirty rows.

Distributions and the target's signal come from each column's optional ``synthetic`` block in the contract;
without one a column is drawn uniformly from its declared domain. About ``dirty_fraction`` of the rows are
deliberately invalid, one defect each, so every later stage has to cope with them:

- ``null_required``      a null in a non-nullable column
- ``out_of_range``       a number outside [min, max]
- ``unparsable_number``  text in a numeric column
- ``unknown_category``   a category outside the contract's values
- ``bad_timestamp``      text that is no date
- ``duplicate_id``       a second row for an existing id with other values
- ``exact_duplicate``    a byte-identical copy of an existing row

Clean rows also carry harmless mess (case and whitespace in categories) that ETL must normalise, not reject.

``shift`` draws from a moved world, for drift demonstrations and tests: every numeric feature's distribution
moves by ``shift`` of its spread (normal: standard deviations; lognormal: log-scale sigmas; poisson and
uniform: proportionally), every categorical and boolean feature's weights move ``shift`` (capped at 1) of the
way towards their reverse. The target is drawn from each batch's standardised features, as always, so a
shifted batch also relates the raw values to the target differently: covariate and concept drift together.
``shift=0`` draws exactly what it drew before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from prodml.contract import Contract, Feature, FeatureType, Synthetic, Task

DIRTY_KINDS = (
    "null_required",
    "out_of_range",
    "unparsable_number",
    "unknown_category",
    "bad_timestamp",
    "duplicate_id",
    "exact_duplicate",
)
_EPOCH_LOW = np.datetime64("2015-01-01", "s").astype(np.int64)
_EPOCH_HIGH = np.datetime64("2025-12-31", "s").astype(np.int64)


@dataclass
class GenerationSummary:
    rows: int = 0
    dirty: Counter = field(default_factory=Counter)

    @property
    def dirty_rows(self) -> int:
        return sum(self.dirty.values())


def _draw_numeric(
    rng: np.random.Generator, feature: Feature, spec: Synthetic, n: int, shift: float = 0.0
) -> np.ndarray:
    low = spec.low if spec.low is not None else (feature.min if feature.min is not None else 0.0)
    high = spec.high if spec.high is not None else (feature.max if feature.max is not None else low + 100.0)
    if spec.dist == "normal":
        std = spec.std or (high - low) / 6
        values = rng.normal((spec.mean if spec.mean is not None else (low + high) / 2) + shift * std, std, n)
    elif spec.dist == "lognormal":
        sigma = spec.std or 0.5
        values = rng.lognormal(np.log(spec.mean or max(high - low, 1) / 4) + shift * sigma, sigma, n)
    elif spec.dist == "poisson":
        values = rng.poisson((spec.mean or 3.0) * (1 + shift), n).astype(float)
    else:
        width = (high - low) * shift
        values = rng.uniform(low + width, high + width, n)
    lo = feature.min if feature.min is not None else -np.inf
    hi = feature.max if feature.max is not None else np.inf
    values = np.clip(values, lo, hi)
    return np.round(values) if feature.type is FeatureType.INT else np.round(values, 2)


def _standardise(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def _towards_reverse(weights: np.ndarray, shift: float) -> np.ndarray:
    a = min(max(shift, 0.0), 1.0)
    return (1 - a) * weights + a * weights[::-1]


def _column(
    rng: np.random.Generator, feature: Feature, n: int, shift: float = 0.0
) -> tuple[pa.Array, np.ndarray]:
    """The clean column as text, plus its numeric contribution to the target's score."""
    spec = feature.synthetic or Synthetic()
    if feature.is_numeric:
        values = _draw_numeric(rng, feature, spec, n, shift)
        text = pa.array(values.astype(np.int64) if feature.type is FeatureType.INT else values).cast(
            pa.string()
        )
        effect = spec.effect if isinstance(spec.effect, float | int) else 0.0
        return text, effect * _standardise(values)
    if feature.type is FeatureType.CATEGORY:
        k = len(feature.values or [])
        p = _towards_reverse(np.asarray(spec.weights or [1.0] * k, dtype=float), shift)
        idx = rng.choice(k, size=n, p=p / p.sum())
        labels = np.asarray(feature.values, dtype=object)[idx]
        # Harmless mess: ETL must trim and case-fold these back to the contract's values.
        messy = rng.random(n) < 0.03
        labels[messy] = [f" {v.upper()} " if i % 2 else v.title() for i, v in enumerate(labels[messy])]
        effects = np.asarray(spec.effect if isinstance(spec.effect, list) else [0.0] * k, dtype=float)
        return pa.array(labels, pa.string()), effects[idx]
    if feature.type is FeatureType.BOOL:
        p_true = spec.weights[0] if spec.weights else 0.5
        p_true = float(_towards_reverse(np.array([p_true, 1 - p_true]), shift)[0])
        values = rng.random(n) < p_true
        effect = spec.effect if isinstance(spec.effect, float | int) else 0.0
        return pa.array(np.where(values, "true", "false"), pa.string()), effect * (values * 2.0 - 1.0)
    if feature.type is FeatureType.TIMESTAMP:
        seconds = rng.integers(_EPOCH_LOW, _EPOCH_HIGH, n)
        text = pa.array(seconds.astype("datetime64[s]").astype(str), pa.string())
        return pc.binary_join_element_wise(text, pa.scalar("Z"), ""), np.zeros(n)
    tokens = np.asarray(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"], dtype=object)
    return pa.array(tokens[rng.integers(0, len(tokens), n)], pa.string()), np.zeros(n)


def _target(rng: np.random.Generator, contract: Contract, score: np.ndarray) -> pa.Array:
    spec = contract.target.synthetic or Synthetic()
    n = len(score)
    noisy = score + rng.normal(0, 0.5, n)
    if contract.target.task is Task.BINARY:
        p = 1 / (1 + np.exp(-(noisy + (spec.mean or 0.0))))
        hit = rng.random(n) < p
        labels = contract.target.values or ["0", "1"]
        return pa.array(np.where(hit, labels[1], labels[0]), pa.string())
    if contract.target.task is Task.MULTICLASS:
        classes = np.asarray(contract.target.values, dtype=object)
        edges = np.quantile(noisy, np.linspace(0, 1, len(classes) + 1)[1:-1])
        return pa.array(classes[np.searchsorted(edges, noisy)], pa.string())
    values = (spec.mean or 0.0) + (spec.std or 1.0) * noisy
    return pa.array(np.round(values, 3)).cast(pa.string())


def _inject_dirt(
    rng: np.random.Generator,
    contract: Contract,
    columns: dict[str, list],
    n_dirty: int,
    summary: GenerationSummary,
) -> None:
    n = len(columns[contract.id])
    required = [f for f in contract.features if not f.nullable]
    ranged = [f for f in contract.features if f.is_numeric and (f.min is not None or f.max is not None)]
    numeric = [f for f in contract.features if f.is_numeric]
    categorical = [f for f in contract.features if f.type is FeatureType.CATEGORY]
    timestamps = [f for f in contract.features if f.type is FeatureType.TIMESTAMP]
    # The columns each kind can dirty; the duplicate kinds copy whole rows, so theirs is [None].
    applicable: dict[str, list[Feature] | list[None]] = {
        "null_required": required,
        "out_of_range": ranged,
        "unparsable_number": numeric,
        "unknown_category": categorical,
        "bad_timestamp": timestamps,
        "duplicate_id": [None],
        "exact_duplicate": [None],
    }
    kinds = [k for k in DIRTY_KINDS if applicable[k]]
    rows = rng.choice(n, size=min(n_dirty, n), replace=False)
    appended: list[dict] = []
    for row, kind in zip(rows, rng.choice(kinds, size=len(rows)), strict=True):
        targets = applicable[kind]
        feature = targets[rng.integers(len(targets))]
        if feature is None:  # a duplicate kind: it copies a whole row
            copy = {name: values[row] for name, values in columns.items()}
            if kind == "duplicate_id":
                other = int(rng.integers(n))
                copy = {name: values[other] for name, values in columns.items()}
                copy[contract.id] = columns[contract.id][row]
            appended.append(copy)
        elif kind == "null_required":
            columns[feature.name][row] = ""
        elif kind == "out_of_range":
            if feature.min is not None and (feature.max is None or rng.random() < 0.5):
                bad = feature.min - 1 - rng.integers(1, 100)
            else:
                assert feature.max is not None  # `ranged` holds features with a min or a max
                bad = feature.max + 1 + rng.integers(1, 100)
            columns[feature.name][row] = str(int(bad)) if feature.type is FeatureType.INT else f"{bad:.2f}"
        elif kind == "unparsable_number":
            columns[feature.name][row] = rng.choice(["abc", "1,2.3", "12..5", "n/a!", "--3"])
        elif kind == "unknown_category":
            columns[feature.name][row] = rng.choice(["platinum", "unknown", "???", "free-tier"])
        elif kind == "bad_timestamp":
            columns[feature.name][row] = rng.choice(
                ["2021-13-45", "yesterday", "31/31/2020", "0000-00-00T99"]
            )
        summary.dirty[str(kind)] += 1
    for copy in appended:
        for name, value in copy.items():
            columns[name].append(value)


def generate_table(
    contract: Contract,
    rows: int,
    *,
    seed: int = 7,
    dirty_fraction: float = 0.02,
    id_offset: int = 0,
    summary: GenerationSummary | None = None,
    shift: float = 0.0,
) -> pa.Table:
    """``rows`` clean rows plus their dirty share, all values as text, as a raw file would carry them."""
    summary = summary if summary is not None else GenerationSummary()
    rng = np.random.default_rng([seed, id_offset])
    ids = pa.array([f"{contract.name[:1].upper()}{i:09d}" for i in range(id_offset, id_offset + rows)])
    columns: dict[str, list] = {contract.id: ids.to_pylist()}
    score = np.zeros(rows)
    for feature in contract.features:
        text, contribution = _column(rng, feature, rows, shift)
        spec = feature.synthetic or Synthetic()
        values = text.to_pylist()
        if feature.nullable and spec.null_rate > 0:
            for i in np.flatnonzero(rng.random(rows) < spec.null_rate):
                values[i] = ""
        columns[feature.name] = values
        score += contribution
    columns[contract.target.name] = _target(rng, contract, score).to_pylist()
    _inject_dirt(rng, contract, columns, round(rows * dirty_fraction), summary)
    summary.rows += len(columns[contract.id])
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def write_sample(
    contract: Contract,
    path: Path,
    rows: int = 50_000,
    *,
    seed: int = 7,
    dirty_fraction: float = 0.02,
    chunk_rows: int = 250_000,
    progress: Callable[[int], None] | None = None,
    shift: float = 0.0,
    id_offset: int = 0,
) -> GenerationSummary:
    """Write a CSV in chunks so any size fits in memory. The same arguments give the same bytes."""
    summary = GenerationSummary()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    writer = None
    try:
        with tmp.open("wb") as sink:
            for start in range(0, rows, chunk_rows):
                n = min(chunk_rows, rows - start)
                table = generate_table(
                    contract,
                    n,
                    seed=seed,
                    dirty_fraction=dirty_fraction,
                    id_offset=id_offset + start,
                    summary=summary,
                    shift=shift,
                )
                if writer is None:
                    writer = pacsv.CSVWriter(
                        sink, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                    )
                writer.write_table(table)
                if progress:
                    progress(n)
            if writer is not None:
                writer.close()
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return summary
