"""How prodml.emulator.alarms evaluates one alarm: the statistic per period, DatapointsToAlarm of
EvaluationPeriods, exact dimensions, and TreatMissingData (on moto's own alarm and datapoint objects)."""

from __future__ import annotations

import datetime
import json

import pytest
from moto.cloudwatch.models import Alarm, MetricAggregatedDatum, MetricDatum

from prodml.emulator.alarms import evaluable, evaluate

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0)
DIMENSIONS = [{"Name": "Dataset", "Value": "churn"}]


def _alarm(**overrides) -> Alarm:
    settings = dict(
        account_id="123456789012",
        region_name="us-east-1",
        name="drift",
        namespace="prodml/drift",
        metric_name="DriftScore",
        metric_data_queries=None,
        comparison_operator="GreaterThanOrEqualToThreshold",
        evaluation_periods=1,
        datapoints_to_alarm=None,
        period=60,
        threshold=1.0,
        statistic="Maximum",
        extended_statistic=None,
        description="",
        dimensions=DIMENSIONS,
        alarm_actions=[],
        ok_actions=None,
        insufficient_data_actions=None,
        unit=None,
        actions_enabled=True,
        treat_missing_data=None,
        evaluate_low_sample_count_percentile=None,
        threshold_metric_id=None,
        rule=None,
    )
    return Alarm(**{**settings, **overrides})


def _point(value: float, seconds_ago: float, dimensions=DIMENSIONS) -> MetricDatum:
    return MetricDatum(
        "prodml/drift", "DriftScore", value, dimensions, NOW - datetime.timedelta(seconds=seconds_ago)
    )


def test_the_statistic_of_the_period_is_compared_with_the_threshold():
    points = [_point(0.5, 10), _point(1.2, 20), _point(3.0, 90)]  # the 3.0 is in the previous period
    assert evaluate(_alarm(), points, NOW).state == "ALARM"
    assert evaluate(_alarm(statistic="Average"), points, NOW).state == "OK"
    assert (
        evaluate(_alarm(statistic="Minimum", comparison_operator="LessThanThreshold"), points, NOW).state
        == "ALARM"
    )
    assert evaluate(_alarm(statistic="SampleCount", threshold=2), points, NOW).state == "ALARM"
    assert (
        evaluate(_alarm(statistic=None, extended_statistic="p50", threshold=0.9), points, NOW).state == "OK"
    )
    aggregated = MetricAggregatedDatum("prodml/drift", "DriftScore", 0.1, 5.0, 2, 5.1, DIMENSIONS, NOW)
    aggregated.timestamp = NOW - datetime.timedelta(seconds=5)
    assert evaluate(_alarm(statistic="Sum", threshold=6.0), [*points, aggregated], NOW).state == "ALARM"


def test_only_the_alarms_exact_dimensions_count():
    feature = [{"Name": "Dataset", "Value": "churn"}, {"Name": "Feature", "Value": "tenure"}]
    other = [{"Name": "Dataset", "Value": "fraud"}]
    points = [_point(9.0, 5, feature), _point(9.0, 5, other), _point(0.2, 5)]
    assert evaluate(_alarm(), points, NOW).state == "OK"


def test_datapoints_to_alarm_of_evaluation_periods():
    points = [_point(2.0, 30), _point(0.1, 90), _point(2.0, 150)]  # breaching, fine, breaching
    assert evaluate(_alarm(evaluation_periods=3, datapoints_to_alarm=2), points, NOW).state == "ALARM"
    assert evaluate(_alarm(evaluation_periods=3), points, NOW).state == "OK"
    reason = evaluate(_alarm(evaluation_periods=3, datapoints_to_alarm=2), points, NOW)
    assert reason.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [2 (")
    assert json.loads(reason.reason_data)["recentDatapoints"] == [2.0, 0.1, 2.0]


@pytest.mark.parametrize(
    ("treat_missing_data", "expected"),
    [
        (None, "INSUFFICIENT_DATA"),
        ("missing", "INSUFFICIENT_DATA"),
        ("notBreaching", "OK"),
        ("breaching", "ALARM"),
    ],
)
def test_missing_data(treat_missing_data, expected):
    assert evaluate(_alarm(treat_missing_data=treat_missing_data), [_point(5.0, 300)], NOW).state == expected


def test_ignore_keeps_the_state_and_missing_periods_are_left_out():
    assert evaluate(_alarm(treat_missing_data="ignore"), [], NOW) is None
    # 2 of 3 periods missing: the one present decides (it breaches, DatapointsToAlarm 1).
    alarm = _alarm(evaluation_periods=3, datapoints_to_alarm=1)
    assert evaluate(alarm, [_point(2.0, 10)], NOW).state == "ALARM"


def test_metric_math_composite_and_anomaly_alarms_are_not_evaluated():
    assert evaluable(_alarm())
    assert not evaluable(_alarm(metric_name=None, metric_data_queries=[object()]))
    assert not evaluable(_alarm(comparison_operator="LessThanLowerOrGreaterThanUpperThreshold"))
    assert not evaluable(_alarm(metric_name=None, rule="ALARM(x)"))
