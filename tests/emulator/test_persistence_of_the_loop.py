"""What the closed loop leaves in the emulator survives `prodml emulator down` / `up`: a finished state
machine execution with its history, an alarm's state; an execution or a processing job that was running
cannot resume and says so."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from prodml import aws
from prodml.emulator import Emulator
from prodml.emulator.persistence import INTERRUPTED
from prodml.settings import Settings
from tests.conftest import free_port, point_at
from tests.emulator.helpers import ecr_image, wait_processing

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def own_emulator(tmp_path, monkeypatch):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    point_at(endpoint, monkeypatch, tmp_path / ".prodml")
    monkeypatch.setenv("PRODML_EMULATOR_SNAPSHOT_SECONDS", "0.5")
    emulator = Emulator(Settings(endpoint_url=endpoint), port=port, state_dir=tmp_path / "emulator")
    emulator.up()
    yield emulator, Settings()
    emulator.down()


def _machine(sfn, name: str, seconds: int) -> str:
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": seconds, "Next": "Done"},
            "Done": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()"}, "End": True},
        },
    }
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def test_executions_alarms_and_jobs_across_a_restart(own_emulator):
    emulator, settings = own_emulator
    sfn, cloudwatch = aws.client("stepfunctions", settings), aws.client("cloudwatch", settings)
    finished = sfn.start_execution(stateMachineArn=_machine(sfn, "quick", 0))["executionArn"]
    running = sfn.start_execution(stateMachineArn=_machine(sfn, "slow", 600))["executionArn"]
    cloudwatch.put_metric_alarm(
        AlarmName="by-hand",
        Namespace="prodml/test",
        MetricName="Nothing",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="ignore",  # the evaluation leaves its state alone
    )
    cloudwatch.set_alarm_state(AlarmName="by-hand", StateValue="ALARM", StateReason="set by the test")
    sm = aws.client("sagemaker", settings)
    sm.create_processing_job(
        ProcessingJobName="sleeper",
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        AppSpecification={"ImageUri": ecr_image(settings), "ContainerEntrypoint": ["sleep", "600"]},
        RoleArn=ROLE,
    )
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=finished)["status"] != "SUCCEEDED" or (
        "ProcessingStartTime" not in sm.describe_processing_job(ProcessingJobName="sleeper")
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    before = sfn.get_execution_history(executionArn=finished)["events"]

    assert emulator.down()
    emulator.up()
    assert emulator.state()["restored"] is True

    done = sfn.describe_execution(executionArn=finished)
    assert done["status"] == "SUCCEEDED" and "id" in json.loads(done["output"])
    assert sfn.get_execution_history(executionArn=finished)["events"] == before
    interrupted = sfn.describe_execution(executionArn=running)
    assert (interrupted["status"], interrupted["error"], interrupted["cause"]) == (
        "FAILED",
        "States.Runtime",
        INTERRUPTED,
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["by-hand"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "set by the test")
    job = wait_processing(sm, "sleeper", timeout=20)
    assert job["ProcessingJobStatus"] == "Failed" and "emulator stopped" in job["FailureReason"]


def test_a_crash_keeps_what_ended_without_a_request(own_emulator):
    """An execution's last transitions are changes no request made (as is a job's final status): they are
    snapshotted too, so a crash right after keeps them."""
    emulator, settings = own_emulator
    sfn = aws.client("stepfunctions", settings)
    machine = _machine(sfn, "waits", 2)
    started = time.time()
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    # No request from here on: only the end of the execution can cause a snapshot this late.
    deadline = time.monotonic() + 30
    while (emulator.state()["saved_at"] or 0) <= started + 1.5:
        assert time.monotonic() < deadline, "no snapshot after the execution ended"
        time.sleep(0.1)
    os.killpg(emulator.status().pid, signal.SIGKILL)
    while emulator.responding():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    emulator.up()
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
