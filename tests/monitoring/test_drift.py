"""Drift statistics on known data: a sample drawn from the baseline's world is not drift, a shifted one is
(both asserted, fixed seeds); unseen categories and nulls land in their buckets; thresholds come from the
contract; the statistics match their definitions."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import yaml

from prodml.contract import ContractError, parse_contract
from prodml.monitoring.drift import (
    DRIFT,
    EPSILON,
    INSUFFICIENT_DATA,
    NO_DRIFT,
    NULL_BUCKET,
    UNSEEN_BUCKET,
    DriftDetector,
    DriftResult,
    psi,
)
from prodml.monitoring.job import publish_metrics
from tests.conftest import CHURN_CONTRACT
from tests.monitoring.helpers import columns, processed_rows

CURRENT_ROWS = 5000
SHIFTED = {"tenure_months", "monthly_spend", "support_tickets_90d", "last_login_days", "plan", "region"}


def detect(contract, profile, table, **kwargs) -> DriftResult:
    detector = DriftDetector(contract, profile, **kwargs)
    values, rows = columns(contract, table)
    detector.add_columns(values, rows)
    return detector.result(dataset=contract.name, model_version=1, source={"kind": "test"})


def by_feature(result: DriftResult):
    return {f.feature: f for f in result.features}


def test_a_sample_drawn_from_the_baseline_world_is_not_drift(churn, churn_profile):
    result = detect(churn, churn_profile, processed_rows(churn, CURRENT_ROWS, seed=2))
    assert result.verdict == NO_DRIFT and result.overall_score < 0.5, result.summary()
    assert {f.feature for f in result.features} == set(churn.model_features)
    for f in result.features:
        assert f.psi < 0.02, (f.feature, f.psi)
        if f.kind == "numeric":
            assert f.ks < 0.04, (
                f.feature,
                f.ks,
            )  # 1.36/sqrt(5000) = 0.019 is the 95% noise, plus one grid cell


def test_a_shifted_sample_is_drift_and_names_the_features_that_moved(churn, churn_profile):
    result = detect(churn, churn_profile, processed_rows(churn, CURRENT_ROWS, seed=2, shift=0.5))
    assert result.verdict == DRIFT and result.overall_score >= 1, result.summary()
    features = by_feature(result)
    assert set(result.drifted_features) >= SHIFTED
    # Timestamps are not moved by the shift: their derived features stay put.
    assert not features["signup_year"].drifted and not features["signup_month"].drifted
    for name in SHIFTED:
        f = features[name]
        assert f.score == pytest.approx(max(f.psi / f.psi_threshold, (f.ks or 0) / (f.ks_threshold or 1)))
    assert result.overall_score == max(f.score for f in result.features)


def test_unseen_categories_and_nulls_are_counted(churn, churn_profile):
    table = processed_rows(churn, CURRENT_ROWS, seed=3)
    plan = table.column("plan").to_pylist()
    plan[:30] = [" Gold "] * 30  # unseen, and compared canonical: counted as "gold"
    plan[30:50] = [None] * 20
    spend = table.column("monthly_spend").to_pylist()
    nulls = sum(v is None for v in spend[50:]) + 50
    spend[:50] = [None] * 50
    table = table.set_column(table.schema.get_field_index("plan"), "plan", pa.array(plan, pa.string()))
    table = table.set_column(
        table.schema.get_field_index("monthly_spend"), "monthly_spend", pa.array(spend, pa.float64())
    )
    features = by_feature(detect(churn, churn_profile, table))
    buckets = {b.label: b for b in features["plan"].buckets}
    assert buckets[UNSEEN_BUCKET].current_count == 30 and buckets[UNSEEN_BUCKET].baseline_count == 0
    assert buckets[NULL_BUCKET].current_count == 20
    assert features["plan"].unseen_values == {"gold": 30} and features["plan"].null_count == 20
    assert sum(b.current_count for b in buckets.values()) == CURRENT_ROWS
    spend_buckets = {b.label: b for b in features["monthly_spend"].buckets}
    assert spend_buckets[NULL_BUCKET].current_count == nulls == features["monthly_spend"].null_count
    assert (
        spend_buckets[NULL_BUCKET].baseline_count == churn_profile["numeric"]["monthly_spend"]["null_count"]
    )


def test_psi_is_its_definition_with_empty_shares_smoothed():
    assert psi(np.array([50, 50]), np.array([50, 50]))[0] == 0
    value, parts = psi(np.array([100, 0, 0]), np.array([50, 50, 0]))
    assert parts[2] == 0  # empty on both sides adds nothing
    assert value == pytest.approx((0.5 - 1) * math.log(0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON))
    assert math.isnan(psi(np.array([1, 2]), np.array([0, 0]))[0])


def test_ks_treats_repeated_quantiles_as_point_masses_and_sees_values_outside_the_training_range(
    churn, churn_profile
):
    table = processed_rows(churn, CURRENT_ROWS, seed=4)
    features = by_feature(detect(churn, churn_profile, table))
    # autopay (0/1) and support_tickets_90d (small counts) are all ties: no invented jump at each tie.
    assert features["autopay"].ks < 0.03 and features["support_tickets_90d"].ks < 0.03
    above = float(churn_profile["numeric"]["tenure_months"]["max"]) + 1
    moved = table.set_column(
        table.schema.get_field_index("tenure_months"),
        "tenure_months",
        pa.array(np.full(table.num_rows, above, dtype=np.int64)),
    )
    tenure = by_feature(detect(churn, churn_profile, moved))["tenure_months"]
    assert tenure.ks == pytest.approx(1.0)
    last = tenure.buckets[-2]  # the open-ended top bin (the null bucket is last)
    assert last.label.startswith(">=") and last.current_count == table.num_rows


def test_profiles_without_the_quantile_grid_and_bins_score_by_psi(churn, churn_profile):
    legacy = {
        **churn_profile,
        "numeric": {
            name: {k: v for k, v in entry.items() if k not in ("quantile_grid", "bins")}
            for name, entry in churn_profile["numeric"].items()
        },
    }
    same = detect(churn, legacy, processed_rows(churn, CURRENT_ROWS, seed=2))
    assert same.verdict == NO_DRIFT
    # PSI only: the histogram's bins, and no KS without the grid.
    assert all(f.ks is None for f in same.features)
    assert detect(churn, legacy, processed_rows(churn, CURRENT_ROWS, seed=2, shift=0.5)).verdict == DRIFT


def test_fewer_rows_than_min_rows_is_insufficient_data_and_publishes_nothing(churn, churn_profile):
    result = detect(churn, churn_profile, processed_rows(churn, 200, seed=2, shift=1.0))
    assert result.rows == 200 < churn.drift.min_rows
    assert result.verdict == INSUFFICIENT_DATA
    assert publish_metrics(result, settings=None) == 0  # type: ignore[arg-type]  # returns before any client


def churn_with(drift: dict):
    data = yaml.safe_load(CHURN_CONTRACT.read_text())
    return parse_contract({**data, "drift": drift}, "test")


def test_contract_thresholds_apply_per_feature(churn, churn_profile):
    contract = churn_with({"features": {"monthly_spend": {"psi_threshold": 10, "ks_threshold": 0.9}}})
    features = by_feature(
        detect(contract, churn_profile, processed_rows(churn, CURRENT_ROWS, seed=2, shift=0.5))
    )
    spend = features["monthly_spend"]
    assert (spend.psi_threshold, spend.ks_threshold) == (10, 0.9) and not spend.drifted
    assert features["tenure_months"].psi_threshold == 0.2 and features["tenure_months"].drifted


def test_the_drift_section_has_defaults_and_leaves_the_fingerprint_alone(churn):
    assert (churn.drift.psi_threshold, churn.drift.ks_threshold, churn.drift.min_rows) == (0.2, 0.1, 1000)
    tuned = churn_with({"psi_threshold": 0.3, "min_rows": 50, "features": {"plan": {"psi_threshold": 0.5}}})
    # Monitoring thresholds are not what a model was trained on: models stay valid when they are tuned.
    assert tuned.fingerprint == churn.fingerprint
    # A contract that sets none is written as it was read; one that sets some keeps them.
    assert "drift" not in yaml.safe_load(churn.to_yaml())
    assert parse_contract(yaml.safe_load(tuned.to_yaml())).drift == tuned.drift


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"features": {"no_such_feature": {"psi_threshold": 0.3}}}, "not a model feature"),
        ({"features": {"signup_date": {"psi_threshold": 0.3}}}, "not a model feature"),  # a timestamp source
        ({"features": {"plan": {"ks_threshold": 0.2}}}, "numeric features only"),
        ({"psi_threshold": 0}, "greater than 0"),
        ({"min_rows": 0}, "greater than or equal to 1"),
        ({"psi": 0.3}, "unknown key"),
    ],
)
def test_bad_drift_sections_are_contract_errors(drift, message):
    with pytest.raises(ContractError, match=message):
        churn_with(drift)


def test_the_baseline_profile_carries_a_quantile_grid_and_open_ended_bins(churn_profile):
    for name, entry in churn_profile["numeric"].items():
        grid, bins = entry["quantile_grid"], entry["bins"]
        assert len(grid) == 101 and grid == sorted(grid), name
        assert (grid[0], grid[-1]) == (entry["min"], entry["max"]), name
        assert len(bins["counts"]) == len(bins["edges"]) + 1, name
        assert sum(bins["counts"]) == entry["count"] - entry["null_count"], name
    # A 0/1 feature keeps its two values apart (the histogram's closed last bin would merge them).
    autopay = churn_profile["numeric"]["autopay"]
    assert autopay["bins"]["edges"] == [0.0, 1.0] and autopay["bins"]["counts"][0] == 0
    assert min(autopay["bins"]["counts"][1:]) > 0  # zeros in [0, 1), ones in [1, +inf)
