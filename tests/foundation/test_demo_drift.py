"""`prodml demo-drift` end to end, as `make demo-drift` runs it on a fresh emulator: `prodml demo` first (no model
is approved yet), then the closed loop. Shifted data and traffic reach a running gunicorn; the drift state machine
finds drift and publishes DriftScore; the emulator's CloudWatch evaluates the drift alarm, whose EventBridge rule
starts the retrain state machine (nobody calls `prodml retrain`); the gate approves the new version, and the same
gunicorn answers with it after its registry poll."""

from __future__ import annotations

import json

import pytest

from prodml import aws, sample_data
from prodml.orchestration import drift_alarm, executions_since, untyped_client
from prodml.registry import ModelRegistry
from tests.conftest import CHURN_CONTRACT, run_prodml

pytestmark = pytest.mark.integration


def test_the_loop_closes_and_the_running_service_answers_with_the_retrained_model(
    aws_env, churn_contract, tmp_path
):
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 4000)
    result = run_prodml(
        "demo-drift",
        "--contract",
        str(CHURN_CONTRACT),
        "--data",
        str(data),
        "--rows",
        "4000",
        timeout=900,
    )
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr
    assert "demo complete" in out  # no model was approved, so `prodml demo` ran first
    assert "sent 1,200 requests (200 repeated: cache hits)" in out and "1,200 x 200" in out
    assert "captured 1,200 records" in out
    assert ": drift (overall score" in out
    assert "ALARM (Threshold Crossed" in out
    assert "started by the drift alarm's EventBridge rule" in out
    assert "the same gunicorn now serves version 2 (was 1): POST /predict → 200" in out
    assert '"model_version": 2' in out

    versions = ModelRegistry(
        aws.client("sagemaker", aws_env), aws_env.model_package_group(churn_contract.name)
    ).versions()
    assert [(v.version, v.status) for v in sorted(versions, key=lambda v: v.version)] == [
        (1, "Approved"),
        (2, "Approved"),
    ]
    # One retraining, and the alarm (not a command) started it: its input is the alarm's state change event.
    alarm = drift_alarm(aws_env, churn_contract.name)
    assert alarm["StateValue"] == "ALARM"
    (execution,) = executions_since(aws_env, churn_contract.name, "retrain", alarm["StateUpdatedTimestamp"])
    assert execution["status"] == "SUCCEEDED"
    described = untyped_client("stepfunctions", aws_env).describe_execution(
        executionArn=execution["executionArn"]
    )
    event = json.loads(described["input"])
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [alarm["AlarmArn"]] and event["detail"]["state"]["value"] == "ALARM"
