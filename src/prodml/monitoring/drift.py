"""Drift statistics: a stream of model inputs against a model's training baseline profile.

The current rows arrive as :class:`prodml.encoding.ModelInputs` (numeric features as float32 with NaN,
categorical ones as canonical str with "" for missing), so drift sees exactly what the model sees. They are
folded into fixed-size counters chunk by chunk; nothing grows with the row count.

The statistics, per model feature, against ``baseline_profile.json`` (schema in :mod:`prodml.etl.profile`):

- **PSI**, every feature: ``sum((c - b) * ln(c / b))`` over buckets, ``b``/``c`` the baseline/current share.
  Numeric buckets are the profile's ``bins`` (the train deciles; outer bins open-ended, so a value outside
  the training range still lands somewhere), plus a null bucket. A profile without ``bins`` falls back to its
  ``histogram`` edges, opened at both ends (the same counts, since its outer edges are the exact min/max).
  Categorical buckets are the baseline's categories, plus "unseen" (a value the baseline never had) and a
  null bucket. An empty share, on either side, is taken as :data:`EPSILON` (1e-4) so the log stays finite: a
  bucket empty in both adds 0, and a bucket the baseline never saw adds about ``c * ln(c / 1e-4)``.
- **KS**, numeric features (non-null values): ``sup |F_current - F_baseline|``. The baseline CDF comes from
  the profile's ``quantile_grid`` (101 quantiles; a profile written before the grid existed gets no KS, only
  PSI: its nine ``quantiles`` leave gaps of up to 15% of the mass): the
  distribution whose mass between two consecutive grid quantiles is spread evenly between them (their
  probability gap), with a point mass wherever quantiles repeat (an integer or 0/1 feature). Both CDFs are
  compared at every grid value, from the left and at the value, so ties are judged as point masses, not as
  a jump KS would otherwise invent. Between grid values the current CDF is not tracked: the statistic can
  understate the true one by at most one grid cell (1% of the baseline mass with the 101-point grid).
  Values are compared in float32, as the model reads them (grid and bin edges are rounded the same way).

A feature's **score** is the largest of its statistics divided by that statistic's contract threshold
(``contract.drift``), so 1.0 is "at the threshold"; the **overall** score is the largest feature score and
the verdict is ``drift`` iff it is >= 1 (the DriftScore of ``prodml/jobs/monitoring.yaml``). Fewer current
rows than ``drift.min_rows`` make the verdict ``insufficient_data``, whatever the scores.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from prodml.contract import Contract, DriftThresholds
from prodml.encoding import InputEncoding, ModelInputs

EPSILON = 1e-4
NULL_BUCKET = "(null)"
UNSEEN_BUCKET = "(unseen)"
DRIFT = "drift"
NO_DRIFT = "no_drift"
INSUFFICIENT_DATA = "insufficient_data"


class BaselineError(ValueError):
    """A baseline profile drift cannot use (missing, or not for this contract's features)."""


# ---------------------------------------------------------------------------------------------------------
# The baseline, from the profile
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericBaseline:
    edges: np.ndarray  # inner bin edges; bins (-inf, e0), [e0, e1), ..., [e_last, +inf)
    counts: np.ndarray  # train rows a bin, len(edges) + 1
    null_count: int
    grid_values: np.ndarray  # quantiles, non-decreasing
    grid_probabilities: np.ndarray  # their probabilities, 0 to 1
    mean: float | None

    @classmethod
    def from_profile(cls, name: str, entry: Mapping[str, Any]) -> NumericBaseline:
        try:
            if "bins" in entry:
                edges, counts = entry["bins"]["edges"], entry["bins"]["counts"]
            else:
                hist = entry["histogram"]
                edges, counts = hist["bin_edges"][1:-1], hist["counts"]
                if not counts:
                    counts = [0]
            # Without the grid (a profile written before it existed) there is no KS: the nine "quantiles" leave
            # gaps of up to 15% of the mass, more than a 0.1 threshold can tell from noise.
            values = list(entry.get("quantile_grid", []))
            probabilities = list(np.linspace(0, 1, len(values))) if values else []
            baseline = cls(
                edges=np.asarray(edges, dtype=np.float64),
                counts=np.asarray(counts, dtype=np.int64),
                null_count=int(entry["null_count"]),
                grid_values=np.asarray(values, dtype=np.float64),
                grid_probabilities=np.asarray(probabilities, dtype=np.float64),
                mean=entry.get("mean"),
            )
        except (KeyError, TypeError) as exc:
            raise BaselineError(f"baseline profile entry of {name!r} lacks {exc}") from None
        if len(baseline.counts) != len(baseline.edges) + 1:
            raise BaselineError(f"baseline profile entry of {name!r}: bin counts do not fit its edges")
        return baseline


@dataclass(frozen=True)
class CategoricalBaseline:
    categories: list[str]
    counts: np.ndarray
    null_count: int

    @classmethod
    def from_profile(cls, name: str, entry: Mapping[str, Any]) -> CategoricalBaseline:
        try:
            counts = dict(entry["counts"])
            return cls(
                list(counts), np.asarray(list(counts.values()), dtype=np.int64), int(entry["null_count"])
            )
        except (KeyError, TypeError) as exc:
            raise BaselineError(f"baseline profile entry of {name!r} lacks {exc}") from None


def baselines(
    contract: Contract, profile: Mapping[str, Any]
) -> tuple[dict[str, NumericBaseline], dict[str, CategoricalBaseline]]:
    """Every model feature's baseline; a feature the profile lacks is a :class:`BaselineError`."""
    numeric, categorical = profile.get("numeric", {}), profile.get("categorical", {})
    missing = [n for n in contract.numeric_features if n not in numeric]
    missing += [n for n in contract.categorical_features if n not in categorical]
    if missing:
        raise BaselineError(f"the baseline profile has no entry for model features {missing}")
    return (
        {n: NumericBaseline.from_profile(n, numeric[n]) for n in contract.numeric_features},
        {n: CategoricalBaseline.from_profile(n, categorical[n]) for n in contract.categorical_features},
    )


# ---------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------


def psi(baseline_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, np.ndarray]:
    """PSI of two count vectors over the same buckets, and each bucket's contribution (empty shares are
    :data:`EPSILON`). Either side all zero gives NaN."""
    b_total, c_total = baseline_counts.sum(), current_counts.sum()
    if b_total == 0 or c_total == 0:
        return math.nan, np.full(len(baseline_counts), math.nan)
    b = np.maximum(baseline_counts / b_total, EPSILON)
    c = np.maximum(current_counts / c_total, EPSILON)
    contributions = (c - b) * np.log(c / b)
    return float(contributions.sum()), contributions


def baseline_cdf(
    grid_values: np.ndarray, grid_probabilities: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The baseline CDF at ``points`` (sorted, each a grid value), from the left and at the point:
    ``G(v-) = min{p_i : q_i >= v}`` and ``G(v) = max{p_i : q_i <= v}``."""
    left = grid_probabilities[np.searchsorted(grid_values, points, side="left")]
    at = grid_probabilities[np.searchsorted(grid_values, points, side="right") - 1]
    return left, at


# ---------------------------------------------------------------------------------------------------------
# Accumulators: fixed-size counters, fed chunk by chunk
# ---------------------------------------------------------------------------------------------------------


class NumericAccumulator:
    def __init__(self, baseline: NumericBaseline):
        self.baseline = baseline
        self.edges = baseline.edges.astype(np.float32)
        self.bin_counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.nulls = 0
        self.present = 0
        self.total = 0.0
        # KS: the grid in float32, and its distinct values where both CDFs are compared
        self.grid_values = baseline.grid_values.astype(np.float32)
        self.points = np.unique(self.grid_values)
        self._below = np.zeros(len(self.points) + 1, dtype=np.int64)  # by #points < x
        self._at_or_below = np.zeros(len(self.points) + 1, dtype=np.int64)  # by #points <= x

    def add(self, values: np.ndarray) -> None:
        missing = np.isnan(values)
        present = values[~missing] if missing.any() else values
        self.nulls += int(missing.sum())
        self.present += len(present)
        self.total += float(present.sum(dtype=np.float64))
        slots = len(self.bin_counts)
        self.bin_counts += np.bincount(np.searchsorted(self.edges, present, side="right"), minlength=slots)
        if len(self.points):
            m = len(self.points) + 1
            # x <= v_j iff #(points < x) <= j;  x < v_j iff #(points <= x) <= j
            self._at_or_below += np.bincount(np.searchsorted(self.points, present, side="left"), minlength=m)
            self._below += np.bincount(np.searchsorted(self.points, present, side="right"), minlength=m)

    def current_cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """The current CDF at each point, from the left and at the point."""
        n = max(self.present, 1)
        return np.cumsum(self._below)[:-1] / n, np.cumsum(self._at_or_below)[:-1] / n

    def ks(self) -> float | None:
        if not self.present or not len(self.points):
            return None
        base_left, base_at = baseline_cdf(self.grid_values, self.baseline.grid_probabilities, self.points)
        cur_left, cur_at = self.current_cdf()
        return float(max(np.abs(cur_left - base_left).max(), np.abs(cur_at - base_at).max()))

    def bucket_labels(self) -> list[str]:
        edges = [_short(e) for e in self.baseline.edges]
        if not edges:
            return ["(-inf, +inf)", NULL_BUCKET]
        labels = [f"< {edges[0]}"]
        labels += [f"[{lo}, {hi})" for lo, hi in pairwise(edges)]
        labels.append(f">= {edges[-1]}")
        return [*labels, NULL_BUCKET]


class CategoricalAccumulator:
    def __init__(self, baseline: CategoricalBaseline):
        self.baseline = baseline
        self.counts: Counter[str] = Counter()

    def add(self, values: np.ndarray) -> None:
        self.counts.update(values.tolist())

    def current_counts(self) -> tuple[np.ndarray, dict[str, int]]:
        """Counts in the baseline's buckets (its categories, unseen, null) and the unseen values' counts."""
        known = set(self.baseline.categories)
        unseen = {v: n for v, n in self.counts.items() if v and v not in known}
        counts = [self.counts.get(v, 0) for v in self.baseline.categories]
        counts += [sum(unseen.values()), self.counts.get("", 0)]
        return np.asarray(counts, dtype=np.int64), dict(sorted(unseen.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Bucket:
    label: str
    baseline_count: int
    baseline_share: float
    current_count: int
    current_share: float
    psi_contribution: float | None


@dataclass
class FeatureDrift:
    feature: str
    kind: str  # "numeric" | "categorical"
    rows: int
    null_count: int
    psi: float | None
    psi_threshold: float
    ks: float | None  # numeric features only
    ks_threshold: float | None
    score: float | None  # max(statistic / its threshold)
    drifted: bool
    baseline_mean: float | None = None
    current_mean: float | None = None
    buckets: list[Bucket] = field(default_factory=list)
    unseen_values: dict[str, int] = field(default_factory=dict)  # categorical: the most frequent ones
    # numeric: both CDFs at the baseline's grid values (for the report's plot)
    cdf: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class DriftResult:
    dataset: str
    model_version: int | None
    source: dict[
        str, Any
    ]  # what was read: {"kind": "capture", "since", "until", ...} or {"kind": "dataset", "uri"}
    rows: int
    min_rows: int
    overall_score: float | None
    verdict: str  # DRIFT | NO_DRIFT | INSUFFICIENT_DATA
    features: list[FeatureDrift]
    baseline: dict[str, Any] = field(default_factory=dict)  # dataset version, rows of the profile
    computed_at: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # rows skipped, variants, cache hits...

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drifted_features"] = self.drifted_features
        return _finite(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def summary(self) -> dict[str, Any]:
        """The result without bucket tables and CDFs: for events and logs."""
        return {
            "dataset": self.dataset,
            "model_version": self.model_version,
            "rows": self.rows,
            "verdict": self.verdict,
            "overall_score": _finite(self.overall_score),
            "drifted_features": self.drifted_features,
            "scores": {f.feature: _finite(f.score) for f in self.features},
        }


def _finite(value: Any) -> Any:
    """NaN and infinities as None, recursively (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _short(value: float) -> str:
    return f"{value:.4g}"


# ---------------------------------------------------------------------------------------------------------
# The detector
# ---------------------------------------------------------------------------------------------------------


class DriftDetector:
    """Accumulates current rows against one model's baseline; :meth:`result` scores them."""

    def __init__(
        self, contract: Contract, profile: Mapping[str, Any], thresholds: DriftThresholds | None = None
    ):
        self.contract = contract
        self.encoding = InputEncoding(contract)
        self.thresholds = thresholds or contract.drift
        self.profile = profile
        numeric, categorical = baselines(contract, profile)
        self.numeric = {name: NumericAccumulator(b) for name, b in numeric.items()}
        self.categorical = {name: CategoricalAccumulator(b) for name, b in categorical.items()}
        self.rows = 0

    def add_columns(self, columns: Mapping[str, Any], rows: int) -> None:
        """Rows as source columns (see :meth:`InputEncoding.encode`): encoded as for the model, then counted."""
        self.add(self.encoding.encode(columns, rows))

    def add(self, inputs: ModelInputs) -> None:
        for name, row in zip(self.encoding.numeric_features, inputs.numeric, strict=True):
            self.numeric[name].add(row)
        for name, values in inputs.categorical.items():
            self.categorical[name].add(values)
        self.rows += len(inputs)

    def _numeric(self, name: str, acc: NumericAccumulator) -> FeatureDrift:
        base = acc.baseline
        base_counts = np.append(base.counts, base.null_count)
        cur_counts = np.append(acc.bin_counts, acc.nulls)
        value, contributions = psi(base_counts, cur_counts)
        ks = acc.ks()
        psi_threshold, ks_threshold = self.thresholds.psi(name), self.thresholds.ks(name)
        score = _score([(value, psi_threshold), (ks, ks_threshold)])
        cdf: dict[str, list[float]] = {}
        if len(acc.points):
            _, base_at = baseline_cdf(acc.grid_values, base.grid_probabilities, acc.points)
            _, cur_at = acc.current_cdf()
            cdf = {
                "values": acc.points.astype(float).tolist(),
                "baseline": base_at.tolist(),
                "current": cur_at.tolist(),
            }
        return FeatureDrift(
            feature=name,
            kind="numeric",
            rows=acc.present + acc.nulls,
            null_count=acc.nulls,
            psi=value,
            psi_threshold=psi_threshold,
            ks=ks,
            ks_threshold=ks_threshold,
            score=score,
            drifted=score is not None and score >= 1,
            baseline_mean=base.mean,
            current_mean=acc.total / acc.present if acc.present else None,
            buckets=_buckets(acc.bucket_labels(), base_counts, cur_counts, contributions),
            cdf=cdf,
        )

    def _categorical(self, name: str, acc: CategoricalAccumulator) -> FeatureDrift:
        base = acc.baseline
        base_counts = np.append(base.counts, [0, base.null_count])
        cur_counts, unseen = acc.current_counts()
        value, contributions = psi(base_counts, cur_counts)
        psi_threshold = self.thresholds.psi(name)
        score = _score([(value, psi_threshold)])
        labels = [*base.categories, UNSEEN_BUCKET, NULL_BUCKET]
        return FeatureDrift(
            feature=name,
            kind="categorical",
            rows=int(cur_counts.sum()),
            null_count=int(cur_counts[-1]),
            psi=value,
            psi_threshold=psi_threshold,
            ks=None,
            ks_threshold=None,
            score=score,
            drifted=score is not None and score >= 1,
            buckets=_buckets(labels, base_counts, cur_counts, contributions),
            unseen_values=dict(list(unseen.items())[:20]),
        )

    def result(
        self,
        *,
        dataset: str,
        model_version: int | None,
        source: dict[str, Any],
        computed_at: str = "",
        details: dict[str, Any] | None = None,
    ) -> DriftResult:
        features = [self._numeric(n, a) for n, a in self.numeric.items()]
        features += [self._categorical(n, a) for n, a in self.categorical.items()]
        scores = [f.score for f in features if f.score is not None]
        overall = max(scores) if scores else None
        if self.rows < self.thresholds.min_rows or overall is None:
            verdict = INSUFFICIENT_DATA
        else:
            verdict = DRIFT if overall >= 1 else NO_DRIFT
        return DriftResult(
            dataset=dataset,
            model_version=model_version,
            source=source,
            rows=self.rows,
            min_rows=self.thresholds.min_rows,
            overall_score=overall,
            verdict=verdict,
            features=features,
            baseline={
                "dataset_version": self.profile.get("dataset_version"),
                "rows": self.profile.get("rows"),
                "contract_fingerprint": self.profile.get("contract_fingerprint"),
            },
            computed_at=computed_at,
            details=details or {},
        )


def _score(pairs: list[tuple[float | None, float | None]]) -> float | None:
    ratios = [s / t for s, t in pairs if s is not None and t is not None and math.isfinite(s)]
    return max(ratios) if ratios else None


def _buckets(
    labels: list[str], base: np.ndarray, current: np.ndarray, contributions: np.ndarray
) -> list[Bucket]:
    b_total, c_total = max(int(base.sum()), 1), max(int(current.sum()), 1)
    return [
        Bucket(
            label=label,
            baseline_count=int(b),
            baseline_share=int(b) / b_total,
            current_count=int(c),
            current_share=int(c) / c_total,
            psi_contribution=float(x) if math.isfinite(x) else None,
        )
        for label, b, c, x in zip(labels, base, current, contributions, strict=True)
    ]
