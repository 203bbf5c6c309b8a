"""The state machine templates, rendered as bootstrap and Terraform render them: structurally sound ASL
(every transition lands on a state, every state is reachable, every run ends), and the variables built from
the naming convention and the job specs."""

from __future__ import annotations

import json
import re

import pytest

from prodml import naming, orchestration
from prodml.jobs import orchestration_spec, processing_spec, state_machine_definition, state_machine_template
from prodml.settings import Settings

ACCOUNT = "123456789012"
SETTINGS = Settings(project="prodml", env="dev", region="eu-west-1")


def _transitions(state: dict) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [rule["Next"] for rule in state.get("Choices", [])]
    return targets + ([state["Default"]] if "Default" in state else [])


@pytest.mark.parametrize("kind", orchestration.KINDS)
def test_each_template_renders_to_sound_asl(kind):
    variables = orchestration.state_machine_variables(SETTINGS, "customer_churn", ACCOUNT)
    definition = json.loads(state_machine_definition(kind, variables))
    states = definition["States"]
    reachable, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reachable:
            continue
        assert name in states, f"a transition to {name!r}, which is no state"
        reachable.add(name)
        frontier += _transitions(states[name])
    assert reachable == set(states), f"unreachable: {set(states) - reachable}"
    for name, state in states.items():
        ends = state["Type"] in ("Succeed", "Fail") or state.get("End")
        assert ends or _transitions(state), f"{name} neither ends nor moves on"
    # A successful run walks from the start to the one Succeed state, polling its jobs on the way.
    path = orchestration.main_path(definition)
    assert states[path[-1]]["Type"] == "Succeed" and not any(states[s]["Type"] == "Fail" for s in path)
    waits = [s for s in states.values() if s["Type"] == "Wait"]
    assert waits and {w["Seconds"] for w in waits} == {orchestration_spec().poll_seconds}
    jobs = [s for s in states.values() if s.get("Resource", "").endswith("createProcessingJob")]
    assert jobs and all(
        j["Parameters"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/prodml-dev-processing"
        and j["Parameters"]["Environment"]
        == {"PRODML_PROJECT": "prodml", "PRODML_ENV": "dev", "PRODML_REGION": "eu-west-1"}
        and j["Parameters"]["ProcessingResources"]["ClusterConfig"]["InstanceType"]
        == processing_spec().instance_type
        for j in jobs
    )


def test_variables_come_from_the_naming_convention_and_the_specs():
    variables = orchestration.state_machine_variables(SETTINGS, "customer_churn", ACCOUNT, poll_seconds=1)
    assert set(variables) == set(orchestration_spec().variables)
    assert variables["poll_seconds"] == 1
    assert variables["job_name_prefix"] == naming.job_name_prefix("prodml", "dev", "customer_churn")
    assert variables["etl_job_name"] == naming.glue_job_name("prodml", "dev", "customer_churn")
    assert variables["artifacts_bucket"] == "prodml-dev-artifacts"


def test_the_drift_alarm_event_pattern_matches_its_alarms_change_to_alarm_only():
    arn = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:prodml-dev-customer-churn-drift"
    assert orchestration.drift_alarm_event_pattern(arn) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }


def test_a_dataset_whose_job_names_would_be_too_long_is_refused_before_any_run():
    steps = {
        step
        for kind in orchestration.KINDS
        for step in re.findall(r"\$\{job_name_prefix\}-([a-z]+)-\{\}", state_machine_template(kind))
    }
    assert steps == {"train", "register", "drift"}
    assert max(map(len, steps)) <= len(orchestration.LONGEST_STEP)
    long = Settings(project="a-rather-long-project", env="staging", region="eu-west-1")
    with pytest.raises(ValueError, match="63"):
        orchestration.state_machine_variables(long, "customer_churn_weekly", ACCOUNT)
