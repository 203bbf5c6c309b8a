"""The drift alarms Terraform creates watch exactly the metric the drift job publishes.

modules/cloudwatch builds one alarm a dataset from ``src/prodml/jobs/monitoring.yaml`` (``spec.tf``), the
file ``prodml.jobs.monitoring_spec()`` reads when the drift job publishes ``DriftScore``. Terraform itself
evaluates the module's ``spec.tf`` offline, from the platform root's own expressions (as test_job_specs.py
does for the ETL and training jobs); then the drift job runs against the emulator and CloudWatch's
``ListMetrics`` must show, for the dataset, exactly the namespace, metric name and dimensions of its alarm.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prodml import aws, naming
from prodml.bootstrap import bootstrap, drift_alarm_definition
from prodml.contract import load_contract
from prodml.jobs import monitoring_spec
from prodml.monitoring.job import DriftRequest, metric_data, run_drift
from prodml.settings import Settings
from tests.conftest import CHURN_CONTRACT
from tests.monitoring.helpers import baseline_profile, processed_rows, register_model
from tests.monitoring.test_drift_job import capture
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    REPO,
    load_blocks,
    run_terraform,
    unwrap,
)
from tests.terraform.test_job_specs import (
    edit_spec,
    hcl,
    hcl_expression,
    load_locals,
    only_locals,
    references,
)

JOBS = REPO / "src" / "prodml" / "jobs"
PROJECT = "prodml"
DATASETS = ["customer_churn", "house_prices"]


def cloudwatch_inputs(env: str, threshold: float | None) -> dict[str, Any]:
    """This test's values for the module inputs that come from other modules or root variables."""
    return {
        "name": f"{PROJECT}-{env}",
        "log_group_names": {"inference": f"/{PROJECT}-{env}-inference"},
        "log_group_retention_in_days": 30,
        "alerts_topic_name": f"{PROJECT}-{env}-alerts",
        "alerts_email_addresses": [],
        "load_balancer_arn_suffix": "app/lb/1",
        "target_group_arn_suffix": "targetgroup/tg/1",
        "ecs_cluster_name": "cluster",
        "ecs_service_name": "service",
        "training_failure_rule_name": "rule",
        "alarm_latency_p95_threshold_ms": 500,
        "drift_alarm_names": {d: naming.drift_alarm_name(PROJECT, env, d) for d in DATASETS},
        "alarm_drift_score_threshold": threshold,
        # The knowledge cost alarms' threshold (tests/terraform/test_knowledge.py evaluates those alarms).
        "alarm_knowledge_cost_threshold_usd": None,
        "tags": {},
    }


def drift_root(env: str, threshold: float | None) -> str:
    """The platform root's spec-reading locals and its call of modules/cloudwatch: every input built from
    those locals is the root's own expression, the others are this test's values."""
    root_locals = {
        name: expression
        for path in sorted(PLATFORM.glob("*.tf"))
        for name, expression in load_locals(path).items()
        if isinstance(expression, str) and references(expression) <= {"local"}
    }
    lines = ["locals {", *(f"  {n} = {hcl_expression(e)}" for n, e in root_locals.items()), "}"]
    _, body = load_blocks(PLATFORM, "module")["cloudwatch"]
    inputs = cloudwatch_inputs(env, threshold)
    lines += ['module "cloudwatch" {', '  source = "../../modules/cloudwatch"']
    from_spec = []
    for name, value in body.items():
        if name in ("source", "__start_line__", "__end_line__"):
            continue
        expression = unwrap(value)
        if references(expression) and only_locals(expression, root_locals):
            lines.append(f"  {name} = {hcl_expression(expression)}")
            from_spec.append(name)
        else:
            assert name in inputs, f"module.cloudwatch.{name} = {expression!r}: give the test a value"
            lines.append(f"  {name} = {hcl(inputs[name])}")
    assert "monitoring_spec" in from_spec, "the root must pass monitoring.yaml itself, read by Terraform"
    lines.append("}")
    return "\n".join(lines) + "\n"


def evaluate(
    tmp_path: Path,
    env: str = "dev",
    edit: Callable[[Path], None] | None = None,
    threshold: float | None = None,
) -> dict[str, dict]:
    """Terraform's value of ``local.drift_alarms`` (modules/cloudwatch/spec.tf) for this root."""
    repo = tmp_path / "repo"
    for source in [*JOBS.glob("*.yaml"), *JOBS.glob("*.json"), REPO / "src" / "prodml" / "__init__.py"]:
        target = repo / source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    if edit:
        edit(repo)
    module = repo / "modules" / "cloudwatch"
    module.mkdir(parents=True)
    for name in ("variables.tf", "spec.tf"):
        shutil.copy(MODULES / "cloudwatch" / name, module / name)
    (module / "spec_values.tf").write_text('output "drift_alarms" {\n  value = local.drift_alarms\n}\n')
    root = repo / PLATFORM.relative_to(REPO)
    root.mkdir(parents=True)
    (root / "main.tf").write_text(drift_root(env, threshold))
    init = run_terraform("init", "-input=false", "-no-color", cwd=root)
    assert init.returncode == 0, init.stdout + init.stderr
    result = run_terraform("console", cwd=root, stdin="jsonencode(module.cloudwatch.drift_alarms)\n")
    assert result.returncode == 0 and result.stdout.startswith('"'), result.stdout + result.stderr
    return json.loads(json.loads(result.stdout.strip()))


@pytest.fixture(scope="module")
def dev_alarms(tmp_path_factory) -> dict[str, dict]:
    return evaluate(tmp_path_factory.mktemp("drift-dev"))


@pytest.fixture(scope="module")
def churn():
    return load_contract(CHURN_CONTRACT)


@pytest.fixture(scope="module")
def churn_profile(churn, tmp_path_factory):
    return baseline_profile(churn, processed_rows(churn, 10_000, seed=1), tmp_path_factory.mktemp("baseline"))


def as_dict(dimensions: list[dict[str, str]]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in dimensions}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_dataset_has_the_alarm_bootstrap_creates_on_the_emulator(tmp_path, env):
    """Terraform's alarm and prodml.bootstrap's (the emulator's) are one definition, from one spec."""
    alarms = evaluate(tmp_path, env)
    assert sorted(alarms) == DATASETS
    for dataset, alarm in alarms.items():
        python = drift_alarm_definition(Settings(project=PROJECT, env=env), dataset)
        assert {
            "alarm_name": alarm["alarm_name"],
            "namespace": alarm["namespace"],
            "metric_name": alarm["metric_name"],
            "dimensions": alarm["dimensions"],
            "statistic": alarm["statistic"],
            "period": alarm["period"],
            "evaluation_periods": alarm["evaluation_periods"],
            "comparison_operator": alarm["comparison_operator"],
            "threshold": alarm["threshold"],
            "treat_missing_data": alarm["treat_missing_data"],
        } == {
            "alarm_name": python["AlarmName"],
            "namespace": python["Namespace"],
            "metric_name": python["MetricName"],
            "dimensions": as_dict(python["Dimensions"]),
            "statistic": python["Statistic"],
            "period": python["Period"],
            "evaluation_periods": python["EvaluationPeriods"],
            "comparison_operator": python["ComparisonOperator"],
            "threshold": python["Threshold"],
            "treat_missing_data": python["TreatMissingData"],
        }


def test_every_alarm_setting_is_read_from_the_spec_file(tmp_path):
    changed = {
        "metric": {"namespace": "elsewhere/drift", "name": "Score"},
        "alarm": {
            "statistic": "Average",
            "period_seconds": 900,
            "evaluation_periods": 3,
            "comparison_operator": "GreaterThanThreshold",
            "threshold": 1.5,
            "treat_missing_data": "breaching",
        },
    }
    alarm = evaluate(tmp_path, edit=edit_spec("monitoring.yaml", changed))["house_prices"]
    assert (alarm["namespace"], alarm["metric_name"]) == ("elsewhere/drift", "Score")
    assert (alarm["statistic"], alarm["period"], alarm["evaluation_periods"]) == ("Average", 900, 3)
    assert (alarm["comparison_operator"], alarm["threshold"], alarm["treat_missing_data"]) == (
        "GreaterThanThreshold",
        1.5,
        "breaching",
    )
    assert alarm["dimensions"] == {"Dataset": "house_prices"}


def test_a_threshold_override_wins_and_a_spec_the_module_cannot_fill_is_refused(tmp_path):
    assert evaluate(tmp_path / "a", threshold=2.5)["customer_churn"]["threshold"] == 2.5
    with pytest.raises(AssertionError) as refused:
        evaluate(
            tmp_path / "b",
            edit=edit_spec("monitoring.yaml", {"metric": {"dimensions": ["Dataset", "Model"]}}),
        )
    said = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(refused.value)).replace("│", " ").split())
    assert "may list only: Dataset" in said, said


def test_the_metric_the_drift_job_publishes_is_exactly_the_one_the_alarm_watches(
    dev_alarms, aws_env, churn, churn_profile, tmp_path
):
    bootstrap(aws_env, [churn.name])
    version = register_model(aws_env, churn, churn_profile, tmp_path / "model")
    capture(aws_env, churn, processed_rows(churn, 1200, seed=31), version.version)
    result = run_drift(DriftRequest(dataset=churn.name, window_hours=1), None, settings=aws_env)
    assert result.verdict == "no_drift"  # a sample of the baseline's world: the alarm stays OK

    alarm = dev_alarms[churn.name]
    cloudwatch = aws.boto3_session(aws_env).client("cloudwatch", endpoint_url=aws_env.endpoint_url)
    metrics = [m for m in cloudwatch.list_metrics()["Metrics"] if m["Namespace"] == alarm["namespace"]]
    assert metrics, "the drift job published nothing"
    watched = [
        m
        for m in metrics
        if (m["Namespace"], m["MetricName"], as_dict(m["Dimensions"]))
        == (alarm["namespace"], alarm["metric_name"], alarm["dimensions"])
    ]
    assert len(watched) == 1, (alarm, metrics)
    # Every other value published is one feature's score: the alarm's dimensions plus the feature's.
    feature_dimension = monitoring_spec().feature_dimension
    for metric in metrics:
        if metric is watched[0]:
            continue
        dims = as_dict(metric["Dimensions"])
        feature = dims.pop(feature_dimension)
        assert (metric["Namespace"], metric["MetricName"], dims) == (
            alarm["namespace"],
            alarm["metric_name"],
            alarm["dimensions"],
        )
        assert feature in churn.model_features


def test_a_drifted_result_meets_the_alarms_condition(dev_alarms, churn, churn_profile):
    """The overall value a shifted window publishes breaches the alarm as Terraform defines it."""
    from prodml.monitoring.drift import DriftDetector
    from tests.monitoring.helpers import columns

    detector = DriftDetector(churn, churn_profile)
    detector.add_columns(*columns(churn, processed_rows(churn, 2000, seed=32, shift=0.5)))
    result = detector.result(dataset=churn.name, model_version=1, source={})
    alarm = dev_alarms[churn.name]
    overall = next(
        d
        for d in metric_data(result, timestamp=None)  # type: ignore[arg-type]  # None: the datapoint's time is unused here
        if as_dict(d["Dimensions"]) == alarm["dimensions"]
    )
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert overall["Value"] >= alarm["threshold"]
