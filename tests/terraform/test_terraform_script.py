"""scripts/terraform.sh (make plan/apply/destroy): refuses fast, with a clear message, when it cannot work:
no credentials, the emulator endpoint set, an unknown environment."""

from __future__ import annotations

import os
import subprocess
import time

from tests.terraform.terraform_config import ENVIRONMENTS, REPO, tfvars

SCRIPT = REPO / "scripts" / "terraform.sh"


def run_script(
    *args: str, tmp_path, extra_env: dict | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    # A clean environment: no AWS_* variables, and a HOME without ~/.aws, so there are no credentials.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    env.update(extra_env or {})
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return result, time.monotonic() - started


def test_plan_without_credentials_fails_fast_with_a_clear_message(tmp_path):
    result, seconds = run_script("plan", "dev", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr
    assert "nothing was run against AWS" in result.stderr
    assert seconds < 15
    # Terraform never started: no working directory was initialised.
    assert "Initializing" not in result.stdout + result.stderr


def test_destroy_without_credentials_fails_before_any_prompt(tmp_path):
    result, _ = run_script("destroy", "prod", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr
    assert "Type 'prod'" not in result.stdout + result.stderr


def test_emulator_endpoint_is_refused(tmp_path):
    result, _ = run_script(
        "plan", "dev", tmp_path=tmp_path, extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    )
    assert result.returncode == 2
    assert "real AWS only" in result.stderr


def test_unknown_environment_and_action_are_refused(tmp_path):
    result, _ = run_script("plan", "qa", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "ENV must be one of: dev, prod, staging" in result.stderr
    result, _ = run_script("deploy", "dev", tmp_path=tmp_path)
    assert result.returncode == 64
    assert "usage:" in result.stderr


def test_every_environment_is_accepted_and_its_region_comes_from_its_tfvars(tmp_path):
    # `region` answers without credentials: the deploy workflow reads it before it has any.
    for env in ENVIRONMENTS:
        result, _ = run_script("region", env, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == tfvars(env)["region"]


def test_staging_gets_as_far_as_the_credentials_check(tmp_path):
    result, _ = run_script("plan", "staging", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no AWS credentials" in result.stderr


def test_applying_a_saved_plan_that_is_not_there_fails_before_anything_runs(tmp_path):
    result, _ = run_script(
        "apply", "dev", tmp_path=tmp_path, extra_env={"TF_PLAN_FILE": str(tmp_path / "missing.tfplan")}
    )
    assert result.returncode == 2
    assert "no saved plan there" in result.stderr
    assert "no AWS credentials" not in result.stderr
