"""The registry gate's rule, case by case (pure function, no AWS)."""

from __future__ import annotations

import pytest

from prodml.registry import APPROVED, PENDING, REJECTED
from prodml.training.gate import decide, default_floor


@pytest.mark.parametrize(
    ("metric", "candidate", "champion", "expected"),
    [
        ("roc_auc", 0.80, None, APPROVED),  # first model above the floor
        ("roc_auc", 0.55, None, REJECTED),  # first model below the floor
        ("roc_auc", 0.810, 0.800, APPROVED),  # better by more than the margin
        ("roc_auc", 0.801, 0.800, PENDING),  # better, but by less than the margin
        ("roc_auc", 0.790, 0.800, REJECTED),  # worse than the champion
        ("rmse", 40.0, 45.0, APPROVED),  # lower is better
        ("rmse", 46.0, 45.0, REJECTED),
        ("rmse", 44.999, 45.0, PENDING),
    ],
)
def test_decision(metric, candidate, champion, expected):
    floor = 0.6 if metric == "roc_auc" else 60.0
    decision = decide(
        metric, candidate, floor=floor, champion=champion, champion_version=None if champion is None else 3
    )
    assert decision.status == expected
    assert metric in decision.reason


def test_floor_beats_a_better_than_champion_result():
    decision = decide("roc_auc", 0.59, floor=0.6, champion=0.5, champion_version=1)
    assert decision.status == REJECTED and "floor" in decision.reason


def test_nan_never_passes():
    assert decide("roc_auc", float("nan"), floor=0.6).status == REJECTED


def test_incomparable_champion_leaves_it_to_a_person():
    decision = decide("f1_macro", 0.9, floor=0.3, champion=None, champion_version=2, comparable=False)
    assert decision.status == PENDING and "v2" in decision.reason


def test_default_floors():
    assert default_floor("roc_auc", {}) == 0.6
    assert default_floor("rmse", {"rmse": 61.5}) == 61.5  # scale-bound: the naive baseline
