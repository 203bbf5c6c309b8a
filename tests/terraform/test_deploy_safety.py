"""A bad inference deployment rolls itself back, and the API key exists from the first apply without ever
entering plan or state: checked on the HCL (python-hcl2), as no provider can run here."""

from __future__ import annotations

import hcl2

from tests.terraform.terraform_config import MODULES, PLATFORM, load_blocks, unwrap

ECS = MODULES / "ecs_service"


def flat(body: dict) -> dict:
    return {key: unwrap(value) for key, value in body.items() if not key.startswith("__")}


def blocks(kind: str, rtype: str, name: str) -> dict:
    for path in sorted(ECS.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get(kind, []):
                if name in block.get(rtype, {}):
                    return block[rtype][name]
    raise AssertionError(f"no {kind} {rtype}.{name} in modules/ecs_service")


def test_a_deployment_rolls_back_on_the_circuit_breaker_and_on_the_deployment_alarms():
    service = blocks("resource", "aws_ecs_service", "this")
    assert flat(unwrap(service["deployment_circuit_breaker"])) == {"enable": True, "rollback": True}
    (alarms,) = [unwrap(block)["alarms"] for block in service["dynamic"] if "alarms" in unwrap(block)]
    assert flat(unwrap(alarms["content"])) == {
        "alarm_names": "${alarms.value}",
        "enable": True,
        "rollback": True,
    }
    assert "var.deployment_alarm_names" in unwrap(alarms["for_each"])


def test_the_platform_wires_the_5xx_and_unhealthy_host_alarms_into_the_deployment():
    _, inference = load_blocks(PLATFORM, "module")["inference"]
    assert unwrap(inference["deployment_alarm_names"]) == "${module.cloudwatch.deployment_alarm_names}"
    _, output = load_blocks(MODULES / "cloudwatch", "output")["deployment_alarm_names"]
    assert unwrap(output["value"]) == [
        "${aws_cloudwatch_metric_alarm.error_rate_5xx.alarm_name}",
        "${aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name}",
    ]


def test_old_task_definitions_stay_registered_so_there_is_something_to_roll_back_to():
    assert unwrap(blocks("resource", "aws_ecs_task_definition", "this")["skip_destroy"]) is True


def test_the_api_key_is_generated_write_only_and_tasks_wait_for_it():
    version = blocks("resource", "aws_secretsmanager_secret_version", "api_key")
    assert "secret_string" not in version and "secret_binary" not in version
    assert (
        unwrap(version["secret_string_wo"])
        == "${ephemeral.aws_secretsmanager_random_password.api_key.random_password}"
    )
    assert unwrap(version["secret_string_wo_version"]) == "${var.api_key_version}"
    password = blocks("ephemeral", "aws_secretsmanager_random_password", "api_key")
    assert unwrap(password["password_length"]) >= 32
    depends_on = unwrap(blocks("resource", "aws_ecs_service", "this")["depends_on"])
    assert "${aws_secretsmanager_secret_version.api_key}" in depends_on
    # Write-only arguments need Terraform 1.11.
    for directory in (ECS, PLATFORM):
        assert 'required_version = ">= 1.11"' in (directory / "versions.tf").read_text(), directory
