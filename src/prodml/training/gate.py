"""The registry gate: may a candidate become the champion without a human?

The rule, on the contract's primary metric measured on the candidate's test split:

1. **Floor.** The candidate must reach the floor: ``--floor`` when given, else the default for the metric:
   roc_auc 0.6, f1 0.2, f1_macro 0.3, r2 0.1 (scale-free metrics); for accuracy, log_loss, rmse and mae
   (whose useful level depends on the data) the naive baseline on the same test split, that is the
   majority-class prior or the training mean. Below the floor (or NaN): **Rejected**.
2. **No champion** yet: **Approved**.
3. **Champion comparable** (re-evaluated on the candidate's test split when both share the contract; or
   its recorded metrics when it was trained on the same dataset version): better by at least
   ``--min-improvement`` (absolute, in the metric's direction): **Approved**; worse than the champion:
   **Rejected**; better by less than the margin or equal: **PendingManualApproval**.
4. **Champion not comparable** (different contract and dataset version): **PendingManualApproval**.

The reason is recorded in the model package's ApprovalDescription.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prodml.contract import LOWER_IS_BETTER
from prodml.registry import APPROVED, PENDING, REJECTED
from prodml.training.metrics import improvement, is_better

DEFAULT_MIN_IMPROVEMENT = 0.002
SCALE_FREE_FLOORS = {"roc_auc": 0.6, "f1": 0.2, "f1_macro": 0.3, "r2": 0.1}


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    metric: str
    candidate: float
    floor: float
    champion: float | None = None
    champion_version: int | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def default_floor(metric: str, baseline_metrics: dict[str, float]) -> float:
    if metric in SCALE_FREE_FLOORS:
        return SCALE_FREE_FLOORS[metric]
    return float(baseline_metrics[metric])


def decide(
    metric: str,
    candidate: float,
    *,
    floor: float,
    champion: float | None = None,
    champion_version: int | None = None,
    comparable: bool = True,
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT,
) -> Decision:
    word = "at most" if metric in LOWER_IS_BETTER else "at least"

    def made(status: str, reason: str) -> Decision:
        return Decision(status, reason, metric, candidate, floor, champion, champion_version)

    if candidate is None or math.isnan(candidate) or not is_better(metric, candidate, floor):
        return made(REJECTED, f"{metric} {candidate:.4f} misses the floor ({word} {floor:.4f})")
    if champion_version is None:
        return made(APPROVED, f"first model: {metric} {candidate:.4f} clears the floor ({word} {floor:.4f})")
    if not comparable or champion is None or math.isnan(champion):
        return made(
            PENDING,
            f"champion v{champion_version} cannot be compared on this test split; a person must decide",
        )
    gain = improvement(metric, candidate, champion)
    versus = f"{metric} {candidate:.4f} vs champion v{champion_version} {champion:.4f} (gain {gain:+.4f})"
    if is_better(metric, candidate, champion, min_improvement):
        return made(APPROVED, f"{versus}: better by at least {min_improvement:g}")
    if gain < 0:
        return made(REJECTED, f"{versus}: worse than the champion")
    return made(PENDING, f"{versus}: below the required improvement {min_improvement:g}")
