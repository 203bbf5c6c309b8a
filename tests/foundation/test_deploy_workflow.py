"""The deploy workflow ships code the one way prodml knows: `prodml ship`, after the apply that creates what it
writes to (the artifacts bucket, the Glue jobs), reading the env file that apply writes."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "deploy.yml"


def deploy_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]["steps"]


def index_of(steps: list[dict], pattern: str) -> int:
    found = [i for i, step in enumerate(steps) if re.search(pattern, step.get("run", ""), re.MULTILINE)]
    assert len(found) == 1, f"expected one deploy step running {pattern!r}, found {len(found)}"
    return found[0]


def test_code_is_shipped_with_prodml_ship_after_terraform_apply():
    steps = deploy_steps()
    ship = index_of(steps, r"^\S.* prodml ship\b")  # a command line, not a message
    apply = index_of(steps, r"^make apply\b")
    assert apply < ship, "prodml ship needs the artifacts bucket and the Glue jobs that the apply creates"
    env_file = steps[ship].get("env", {}).get("PRODML_ENV_FILE", "")
    # scripts/terraform.sh writes .prodml/env/<env>.env after an apply; ship must read that environment.
    assert env_file.startswith(".prodml/env/") and env_file.endswith(".env"), env_file
    assert '.prodml/env/${env_name}.env"' in (REPO / "scripts" / "terraform.sh").read_text()


def test_no_step_uploads_code_by_hand():
    for step in deploy_steps():
        run = step.get("run", "")
        assert not re.search(r"aws s3 (cp|sync)\b.*\bcode/", run), f"{step.get('name')}: use prodml ship"
        assert "package-etl" not in run, f"{step.get('name')}: prodml ship packages the Glue job itself"
