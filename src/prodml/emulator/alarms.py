"""CloudWatch metric alarms evaluated against the metric data the emulator holds, as CloudWatch evaluates
them: moto stores alarms and datapoints and never evaluates an alarm.

The executor calls :func:`evaluate_all` about once a second while it runs. For each alarm on one metric
(``Namespace``, ``MetricName``, exactly its ``Dimensions``, ``Unit`` if set) the datapoints are aggregated
with the alarm's ``Statistic`` (or ``ExtendedStatistic`` pNN) into its last ``EvaluationPeriods`` periods
of ``Period`` seconds ending now; a period breaches by ``ComparisonOperator`` against ``Threshold``; with
``TreatMissingData`` (``missing`` by default, ``notBreaching``, ``breaching``, ``ignore``) for periods with
no data, ``DatapointsToAlarm`` (default: all) breaching periods make ``ALARM``, fewer ``OK``, and no data at
all ``INSUFFICIENT_DATA`` (``ignore``: the state stays). A change is made with SetAlarmState through the
emulator's own API (``StateReason``, ``StateReasonData`` and ``StateUpdatedTimestamp`` as AWS writes them),
which sends the "CloudWatch Alarm State Change" event to EventBridge (:mod:`prodml.emulator.moto_hooks`):
a rule whose pattern matches starts its Step Functions targets.

Not evaluated (their state is whatever SetAlarmState last set): metric-math alarms (``Metrics``), composite
alarms and anomaly-detection bands. Periods end at the evaluation moment rather than on period boundaries,
and a percentile is computed over single values only (datapoints put as ``StatisticValues`` count for the
other statistics). Alarm actions (SNS, Auto Scaling) are not run; EventBridge rules are the way.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow

from prodml.emulator import joblog, moto_hooks
from prodml.emulator.executor import JobContext

EVALUATE_SECONDS = 1.0
_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    reason_data: str


def _naive_utc(value: Any) -> datetime.datetime:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def _statistic(stat: str, data: list[Any]) -> float | None:
    """``stat`` over one period's datapoints (single values and statistic sets), None for no data."""
    values = [d.value for d in data if hasattr(d, "value")]
    sets = [d for d in data if not hasattr(d, "value")]
    count = len(values) + sum(d.sample_count for d in sets)
    if not count:
        return None
    if stat == "SampleCount":
        return float(count)
    total = sum(values) + sum(d.sum for d in sets)
    if stat == "Sum":
        return float(total)
    if stat == "Average":
        return float(total / count)
    if stat == "Minimum":
        return float(min([*values, *(d.min for d in sets)]))
    if stat == "Maximum":
        return float(max([*values, *(d.max for d in sets)]))
    if stat.startswith("p") and values:  # pNN: the nearest-rank percentile of the single values
        rank = max(1, math.ceil(float(stat[1:]) / 100 * len(values)))
        return float(sorted(values)[rank - 1])
    return None


def _same_dimensions(datum: Any, alarm: Any) -> bool:
    return sorted((d.name, d.value) for d in datum.dimensions) == sorted(
        (d.name, d.value) for d in alarm.dimensions
    )


def evaluable(alarm: Any) -> bool:
    return bool(
        alarm.metric_name
        and not alarm.metric_data_queries
        and not getattr(alarm, "rule", None)
        and alarm.comparison_operator in _COMPARISONS
        and alarm.period
        and alarm.evaluation_periods
    )


def evaluate(alarm: Any, data: list[Any], now: datetime.datetime) -> Evaluation | None:
    """The state ``alarm`` should be in at ``now`` given ``data`` (every datapoint of its account and
    region); None when the state stays as it is."""
    period = datetime.timedelta(seconds=int(alarm.period))
    periods = int(alarm.evaluation_periods)
    needed = int(alarm.datapoints_to_alarm or periods)
    start = now - periods * period
    stat = alarm.statistic or alarm.extended_statistic
    mine = [
        d
        for d in data
        if d.namespace == alarm.namespace
        and d.name == alarm.metric_name
        and (not alarm.unit or d.unit == alarm.unit)
        and _same_dimensions(d, alarm)
    ]
    windows: list[tuple[datetime.datetime, float | None]] = []
    for index in range(periods):
        begins = start + index * period
        inside = [d for d in mine if begins <= _naive_utc(d.timestamp) < begins + period]
        windows.append((begins, _statistic(stat, inside)))
    compare, words = _COMPARISONS[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    missing = alarm.treat_missing_data or "missing"
    flags = []
    for _, value in windows:
        if value is not None:
            flags.append(compare(value, threshold))
        elif missing in ("breaching", "notBreaching"):
            flags.append(missing == "breaching")
    present = [(when, value) for when, value in windows if value is not None]
    breaching = sum(flags)
    if breaching >= needed:
        state = "ALARM"
    elif flags:
        state = "OK"
    elif missing == "ignore":
        return None
    else:
        state = "INSUFFICIENT_DATA"
    shown = ", ".join(f"{value:g} ({when:%d/%m/%y %H:%M:%S})" for when, value in reversed(present))
    if state == "INSUFFICIENT_DATA":
        reason = (
            f"Insufficient Data: {periods} datapoint{'s' * (periods > 1)} "
            f"{'were' if periods > 1 else 'was'} unknown."
        )
    else:
        verb = "was" if breaching == 1 else "were"
        relation = words if state == "ALARM" else f"not {words}"
        reason = (
            f"Threshold Crossed: {breaching if state == 'ALARM' else len(flags) - breaching} out of the last "
            f"{periods} datapoint{'s' * (periods > 1)} [{shown}] {verb} {relation} the threshold "
            f"({threshold:g}) (minimum {needed} datapoint{'s' * (needed > 1)} for "
            f"{alarm.state_value} -> {state} transition)."
        )
    reason_data = {
        "version": "1.0",
        "queryDate": _aws_time(now),
        "startDate": _aws_time(start),
        ("statistic" if alarm.statistic else "extendedStatistic"): stat,
        "period": int(alarm.period),
        "recentDatapoints": [value for _, value in present],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": _aws_time(when), "value": value} for when, value in reversed(present)
        ],
    }
    if alarm.unit:
        reason_data["unit"] = alarm.unit
    return Evaluation(state, reason, json.dumps(reason_data))


def _aws_time(value: datetime.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def evaluate_all(endpoint_url: str, work_dir: Any = None) -> int:
    """Evaluate every alarm the emulator holds; returns how many changed state."""
    now = utcnow()
    changed = 0
    data_by_backend: dict[tuple[str, str], list[Any]] = {}
    for account_id, region, alarm in moto_hooks.metric_alarms():
        if not evaluable(alarm):
            continue
        key = (account_id, region)
        if key not in data_by_backend:
            data_by_backend[key] = moto_hooks.metric_data(account_id, region)
        outcome = evaluate(alarm, data_by_backend[key], now)
        if outcome is None or outcome.state == alarm.state_value:
            continue
        cloudwatch = joblog.client(JobContext(endpoint_url, account_id, region, work_dir), "cloudwatch")
        cloudwatch.set_alarm_state(
            AlarmName=alarm.name,
            StateValue=outcome.state,
            StateReason=outcome.reason[:1023],
            StateReasonData=outcome.reason_data,
        )
        changed += 1
    return changed
