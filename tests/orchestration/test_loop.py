"""The closed loop on the emulator: bootstrap provisions the state machines, the drift alarm and its rule
from the spec files Terraform reads; `prodml retrain` and `prodml drift` run them through the executor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prodml import aws, naming, orchestration
from prodml.jobs import monitoring_spec, state_machine_definition
from prodml.registry import ModelRegistry
from prodml.zones import Zones
from tests.conftest import REPO, run_prodml
from tests.orchestration.conftest import capture, land, train_champion

pytestmark = pytest.mark.integration

DATASET = "customer_churn"


def _account(settings) -> str:
    return aws.client("sts", settings).get_caller_identity()["Account"]


def test_bootstrap_provisions_the_loop_from_the_spec_files(shipped_env):
    s, account = shipped_env, _account(shipped_env)
    sfn = orchestration.untyped_client("stepfunctions", s)
    emulator_vars = orchestration.state_machine_variables(s, DATASET, account, poll_seconds=1)
    aws_vars = orchestration.state_machine_variables(s, DATASET, account)
    for kind in orchestration.KINDS:
        arn = orchestration.state_machine_arn(s, DATASET, kind, account)
        deployed = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        assert deployed == state_machine_definition(kind, emulator_vars)
        # The only difference from the definition AWS runs: how often the Wait states poll.
        on_aws = json.loads(state_machine_definition(kind, aws_vars))
        waits = [name for name, state in on_aws["States"].items() if state["Type"] == "Wait"]
        assert waits and all(on_aws["States"][w]["Seconds"] == aws_vars["poll_seconds"] for w in waits)
        for w in waits:
            on_aws["States"][w]["Seconds"] = 1
        assert json.loads(deployed) == on_aws

    spec = monitoring_spec()
    cloudwatch = orchestration.untyped_client("cloudwatch", s)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[naming.drift_alarm_name(s.project, s.env, DATASET)])[
        "MetricAlarms"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == (spec.namespace, spec.metric_name)
    assert alarm["Dimensions"] == spec.metric_dimensions(DATASET)
    assert (alarm["Statistic"], alarm["Threshold"]) == (spec.alarm_statistic, spec.alarm_threshold)
    assert alarm["ComparisonOperator"] == spec.alarm_comparison_operator

    events = orchestration.untyped_client("events", s)
    rule = naming.state_machine_name(s.project, s.env, DATASET, "retrain")  # as modules/orchestration
    pattern = json.loads(events.describe_rule(Name=rule)["EventPattern"])
    assert pattern == orchestration.drift_alarm_event_pattern(alarm["AlarmArn"])
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert target["Arn"] == orchestration.state_machine_arn(s, DATASET, "retrain", account)


def test_a_step_that_fails_writes_its_reason_where_sagemaker_reads_it(aws_env, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "prodml.training.steps", "train", "--dataset", DATASET, "--job-name", "j-1"],
        cwd=REPO,
        env={**os.environ, "PRODML_CONTAINER_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    message = (tmp_path / "output" / "message").read_text()
    assert message.startswith("train: ") and "prodml ship" in message, message
    assert '"event": "failed"' in result.stdout


def test_a_failed_job_ends_the_execution_with_the_jobs_own_reason(shipped_env, cli):
    # Nothing landed in the raw zone: the retrain's ETL run fails, and the execution says why.
    result = cli("retrain", "--json")
    assert result.returncode == 1
    assert "nothing landed" in result.stderr, result.stderr
    assert json.loads(result.stdout)["status"] == "FAILED"

    # No model has been approved yet: the drift job has no baseline to compare with, and says so; the
    # state machine's Fail state carries the processing job's FailureReason.
    result = cli("drift", "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["status"] == "FAILED" and summary["error"] == "JobFailed"
    assert summary["cause"].startswith("processing job prodml-dev-customer-churn-drift-")
    assert " Failed: " in summary["cause"] and "champion" in summary["cause"]
    assert "execution FAILED: JobFailed: processing job" in result.stderr


def test_a_state_machine_runs_one_execution_at_a_time(shipped_env):
    """A second retraining started while one runs would fail halfway, on the ETL job's one-run limit: it is
    refused up front, naming the running execution."""
    from prodml.orchestration import AlreadyRunning, follow, start

    first = start("retrain", DATASET, shipped_env, {"started_by": "test"})
    with pytest.raises(AlreadyRunning, match=re.escape(first)):
        start("retrain", DATASET, shipped_env, {"started_by": "test, again"})
    assert (
        follow(first, shipped_env, lambda event: None, timeout_seconds=120).status == "FAILED"
    )  # nothing landed
    after = start("retrain", DATASET, shipped_env, {"started_by": "test, after"})  # free again
    orchestration.untyped_client("stepfunctions", shipped_env).stop_execution(executionArn=after)


@pytest.mark.slow
def test_retrain_runs_etl_training_and_registration_through_the_gate(shipped_env, churn_contract, tmp_path):
    s = shipped_env
    champion = train_champion(s, churn_contract, tmp_path)
    # A second batch from a moved world lands; the retrain's ETL commits a version with both.
    land(s, churn_contract, tmp_path, rows=2000, seed=4, shift=1.0, id_offset=10_000)

    result = run_prodml("retrain", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "SUCCEEDED"
    assert summary["model_version"] == champion.version + 1
    assert summary["approval_status"] in ("Approved", "Rejected")
    assert summary["gate"].startswith("gate: ")
    job = summary["training_job"]
    assert job.startswith(naming.job_name_prefix(s.project, s.env, DATASET) + "-")

    registry = ModelRegistry(aws.client("sagemaker", s), s.model_package_group(DATASET))
    version = registry.describe(summary["model_version"])
    assert version.model_data_url == Zones(s).uri("artifacts", Zones.model_artifact_key(job))
    # Trained on what ETL just committed from the raw zone, with the champion's recipe.
    trained = aws.client("sagemaker", s).describe_training_job(TrainingJobName=job)
    assert trained["HyperParameters"]["n_estimators"] == '"5"'
    tags = {
        t["Key"]: t["Value"]
        for t in aws.client("sagemaker", s).list_tags(ResourceArn=trained["TrainingJobArn"])["Tags"]
    }
    assert tags["prodml:dataset-version"] != "v1"


@pytest.mark.slow
def test_drift_sets_off_the_alarm_and_the_alarm_retrains(shipped_env, churn_contract, tmp_path):
    """The closed loop: shifted traffic → `prodml drift` flags it and publishes DriftScore → the drift alarm
    goes to ALARM → its EventBridge rule starts the retrain state machine → a new version is registered."""
    s = shipped_env
    champion = train_champion(s, churn_contract, tmp_path)
    land(s, churn_contract, tmp_path, rows=2000, seed=4, shift=1.0, id_offset=10_000)
    now = datetime.now(UTC)
    capture(s, churn_contract, rows=1500, seed=5, shift=1.0, at=now, model_version=champion.version)

    result = run_prodml("drift", "--window-hours", "1", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"].lower() == "drift" and summary["overall_score"] >= 1.0
    assert summary["drifted_features"] and set(summary["drifted_features"]) <= set(summary["scores"])
    assert summary["window_hours"] == "1.0"
    prefix = Zones.monitoring_prefix(DATASET, summary["drift_job"])
    assert summary["output_uri"] == Zones(s).uri("artifacts", prefix)
    html = Path(summary["drift_html"])
    assert html.is_file() and html.read_text().lstrip().lower().startswith("<!doctype html")

    cloudwatch = orchestration.untyped_client("cloudwatch", s)
    alarm_name = naming.drift_alarm_name(s.project, s.env, DATASET)
    sfn = orchestration.untyped_client("stepfunctions", s)
    retrain_arn = orchestration.state_machine_arn(s, DATASET, "retrain")
    deadline = time.monotonic() + 30
    executions: list = []
    while time.monotonic() < deadline and not executions:
        executions = sfn.list_executions(stateMachineArn=retrain_arn)["executions"]
        time.sleep(0.5)
    assert cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateValue"] == "ALARM"
    (execution,) = executions
    started_by = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started_by["detail-type"] == "CloudWatch Alarm State Change"

    retrained = orchestration.follow(execution["executionArn"], s, timeout_seconds=240)
    assert retrained.succeeded, (retrained.error, retrained.cause)
    version = orchestration.registered_version(s, DATASET, retrained.output["training_job"])
    assert version is not None and version.version == champion.version + 1
    assert version.status in ("Approved", "Rejected") and version.approval_description.startswith("gate: ")
