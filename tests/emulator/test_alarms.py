"""The emulator evaluates CloudWatch metric alarms against the datapoints it holds, and an alarm's state
change reaches EventBridge as AWS sends it: a rule matching the drift alarm's ALARM starts its state machine."""

from __future__ import annotations

import json
import time

import pytest

from prodml import aws
from prodml.emulator import Emulator
from prodml.settings import Settings

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/events"
ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}


def _executions(sfn, arn: str) -> list[dict]:
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def _wait_state(cloudwatch, name: str, state: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if alarm["StateValue"] == state:
            return alarm
        time.sleep(0.2)
    raise AssertionError(f"{name} still {alarm['StateValue']} ({alarm['StateReason']}) after {timeout}s")


@pytest.fixture
def drift_alarm(aws_env):
    """The drift alarm, as monitoring.yaml shapes it, and a rule on its ALARM with state machine targets
    given a fixed Input, the event, a part of it (InputPath) and a transformation of it (InputTransformer)."""
    cloudwatch = aws.client("cloudwatch", aws_env)
    cloudwatch.put_metric_alarm(
        AlarmName="drift-churn",
        Namespace="prodml/drift",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Dataset", "Value": "churn"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["drift-churn"])["MetricAlarms"]
    sfn, events = aws.client("stepfunctions", aws_env), aws.client("events", aws_env)
    machines = {
        name: sfn.create_state_machine(name=name, definition=json.dumps(ECHO), roleArn=ROLE)[
            "stateMachineArn"
        ]
        for name in ("retrain-fixed", "retrain-event", "retrain-path", "retrain-transformed")
    }
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [alarm["AlarmArn"]],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    events.put_rule(Name="drift-churn-retrain", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="drift-churn-retrain",
        Targets=[
            {
                "Id": "fixed",
                "Arn": machines["retrain-fixed"],
                "RoleArn": ROLE,
                "Input": '{"trigger": "drift"}',
            },
            {"Id": "event", "Arn": machines["retrain-event"], "RoleArn": ROLE},
            {"Id": "path", "Arn": machines["retrain-path"], "RoleArn": ROLE, "InputPath": "$.detail.state"},
            {
                "Id": "transformed",
                "Arn": machines["retrain-transformed"],
                "RoleArn": ROLE,
                "InputTransformer": {
                    "InputPathsMap": {"alarm": "$.detail.alarmName", "state": "$.detail.state.value"},
                    "InputTemplate": '{"alarm": "<alarm>", "state": "<state>", "dataset": "churn"}',
                },
            },
        ],
    )
    return cloudwatch, sfn, machines, alarm


def _put(cloudwatch, value: float, **dimensions: str) -> None:
    cloudwatch.put_metric_data(
        Namespace="prodml/drift",
        MetricData=[
            {
                "MetricName": "DriftScore",
                "Dimensions": [
                    {"Name": k, "Value": v} for k, v in {"Dataset": "churn", **dimensions}.items()
                ],
                "Value": value,
            }
        ],
    )


def test_a_breaching_datapoint_sets_off_the_alarm_and_its_rule_starts_the_state_machines(drift_alarm):
    cloudwatch, sfn, machines, alarm = drift_alarm
    # No data is not breaching (monitoring.yaml's treat_missing_data); a score under 1 is fine; a feature's
    # score is another metric (one more dimension), which this alarm does not watch.
    _wait_state(cloudwatch, "drift-churn", "OK")
    _put(cloudwatch, 0.4)
    _put(cloudwatch, 7.0, Feature="tenure")
    time.sleep(2.5)
    ok = _wait_state(cloudwatch, "drift-churn", "OK")
    assert not _executions(sfn, machines["retrain-fixed"]) and not _executions(sfn, machines["retrain-event"])

    _put(cloudwatch, 1.3)
    alarmed = _wait_state(cloudwatch, "drift-churn", "ALARM")
    assert alarmed["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoint [1.3 ("), (
        alarmed
    )
    assert json.loads(alarmed["StateReasonData"])["recentDatapoints"] == [1.3]
    assert alarmed["StateUpdatedTimestamp"] > ok["StateUpdatedTimestamp"]

    deadline = time.monotonic() + 10
    while not all(_executions(sfn, arn) for arn in machines.values()):
        assert time.monotonic() < deadline, "the rule started no execution"
        time.sleep(0.2)
    (fixed,) = _executions(sfn, machines["retrain-fixed"])
    assert json.loads(fixed["input"]) == {"trigger": "drift"}
    (event_run,) = _executions(sfn, machines["retrain-event"])
    event = json.loads(event_run["input"])
    assert event["source"] == "aws.cloudwatch" and event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [alarm["AlarmArn"]] and event["account"] == "123456789012"
    detail = event["detail"]
    assert detail["alarmName"] == "drift-churn"
    assert detail["state"]["value"] == "ALARM" and detail["previousState"]["value"] == "OK"
    assert detail["state"]["reason"] == alarmed["StateReason"]
    metric = detail["configuration"]["metrics"][0]["metricStat"]
    assert metric["metric"] == {
        "namespace": "prodml/drift",
        "name": "DriftScore",
        "dimensions": {"Dataset": "churn"},
    }
    assert (metric["period"], metric["stat"]) == (60, "Maximum")
    (path_run,) = _executions(sfn, machines["retrain-path"])
    assert json.loads(path_run["input"]) == detail["state"]
    (transformed,) = _executions(sfn, machines["retrain-transformed"])
    assert json.loads(transformed["input"]) == {"alarm": "drift-churn", "state": "ALARM", "dataset": "churn"}

    # Staying in ALARM sends nothing more; SetAlarmState back to OK is a change the rule does not match.
    time.sleep(2)
    cloudwatch.set_alarm_state(AlarmName="drift-churn", StateValue="OK", StateReason="by hand")
    assert len(_executions(sfn, machines["retrain-event"])) == 1


def test_a_new_alarm_is_unchecked_and_re_creating_one_keeps_its_state(drift_alarm, moto_server, request):
    cloudwatch, _, _, _ = drift_alarm
    emulator = Emulator(Settings(endpoint_url=moto_server))
    emulator.executor("stop")  # no evaluation meanwhile: the executor evaluates alarms only while it runs
    request.addfinalizer(lambda: emulator.executor("start"))
    cloudwatch.set_alarm_state(AlarmName="drift-churn", StateValue="ALARM", StateReason="by hand")
    cloudwatch.put_metric_alarm(
        AlarmName="drift-churn",
        Namespace="prodml/drift",
        MetricName="DriftScore",
        Dimensions=[{"Name": "Dataset", "Value": "churn"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=2.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["drift-churn"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"], alarm["Threshold"]) == ("ALARM", "by hand", 2.0)
    cloudwatch.put_metric_alarm(
        AlarmName="another",
        Namespace="prodml/drift",
        MetricName="DriftScore",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    (new,) = cloudwatch.describe_alarms(AlarmNames=["another"])["MetricAlarms"]
    assert new["StateValue"] == "INSUFFICIENT_DATA"
