"""The deployment path, read from the workflows themselves (parsed YAML, not grepped text where structure matters).

deploy.yml: tests first; dev builds the image once, applies, waits for ECS and smoke-tests; prod runs only from
main, behind its environment, on dev's image digest and the plan reviewed before approval. plan.yml: pull requests
are planned with the read-only role and the plan is posted. ci.yml: only pull requests cancel superseded runs.
train.yml: the stage commands in order, and prod gets a model only through an approved promotion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from prodml import aws, naming
from tests.conftest import REPO

GITHUB = REPO / ".github"
WORKFLOWS = GITHUB / "workflows"
SCRIPTS = REPO / "scripts"
MAIN_ONLY = "github.ref == 'refs/heads/main'"


def workflow(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    return on if isinstance(on, dict) else {event: None for event in ([on] if isinstance(on, str) else on)}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def index_of(job_steps: list[dict[str, Any]], pattern: str, *, key: str = "run") -> int:
    found = [
        i for i, step in enumerate(job_steps) if re.search(pattern, str(step.get(key, "")), re.MULTILINE)
    ]
    assert len(found) == 1, f"expected one step whose {key} matches {pattern!r}, found {len(found)}"
    return found[0]


def environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def upstream(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job ``name`` waits for, directly or through another job."""
    needs = jobs[name].get("needs", [])
    direct = {needs} if isinstance(needs, str) else set(needs)
    return direct.union(*(upstream(jobs, n) for n in direct)) if direct else set()


def role_steps(wf: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, job, step)
        for name, job in wf["jobs"].items()
        for step in steps(job)
        if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
    ]


# ---- deploy.yml ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return workflow("deploy.yml")


def test_deploy_runs_on_main_only_and_every_deploying_job_is_guarded(deploy):
    on = triggers(deploy)
    assert "pull_request" not in on and "pull_request_target" not in on, (
        "pull requests are planned by plan.yml"
    )
    assert on["push"]["branches"] == ["main"]
    for name in ("dev", "prod-plan", "prod"):
        assert MAIN_ONLY in deploy["jobs"][name].get("if", ""), f"{name} must run only from refs/heads/main"


def test_every_deploy_needs_the_tests(deploy):
    jobs = deploy["jobs"]
    assert re.search(r"\bmake (lint )?test\b", steps(jobs["test"])[-1]["run"])
    for name, job in jobs.items():
        if environment_name(job):
            assert "test" in upstream(jobs, name), f"{name} deploys without waiting for the tests"
    assert "dev" in upstream(jobs, "prod"), "prod deploys only what dev ran"


def test_prod_is_gated_by_its_environment_after_a_reviewed_plan(deploy):
    jobs = deploy["jobs"]
    assert environment_name(jobs["prod"]) == "prod"  # required reviewers live on the environment
    assert environment_name(jobs["dev"]) == "dev"
    assert "prod-plan" in upstream(jobs, "prod")
    plan_job, prod = jobs["prod-plan"], jobs["prod"]
    # prod has no plan role, so its plan runs with the deploy role and therefore behind the same reviewers.
    assert plan_job["environment"] == {"name": "prod", "deployment": False}
    plan_steps, prod_steps = steps(plan_job), steps(prod)
    index_of(plan_steps, r"^scripts/plan_report\.sh \"\$\{ENV\}\" build/plan$")
    upload = plan_steps[index_of(plan_steps, r"^actions/upload-artifact@", key="uses")]
    download = prod_steps[index_of(prod_steps, r"^actions/download-artifact@", key="uses")]
    assert upload["with"]["name"] == download["with"]["name"]
    apply = index_of(prod_steps, r"^make apply ENV=")
    assert index_of(prod_steps, r"^actions/download-artifact@", key="uses") < apply
    plan_file = prod_steps[apply]["env"]["TF_PLAN_FILE"]
    assert plan_file.endswith(f"{download['with']['path'].rstrip('/')}/prod.tfplan"), plan_file


@pytest.mark.parametrize("job", ["dev", "prod"])
def test_steady_state_wait_and_smoke_test_come_after_apply(deploy, job):
    job_steps = steps(deploy["jobs"][job])
    apply = index_of(job_steps, r"^make apply ENV=")
    wait = index_of(job_steps, r"^scripts/wait_service_stable\.sh ")
    smoke = index_of(job_steps, r"^scripts/smoke_test\.sh$")
    assert apply < wait < smoke
    assert job_steps[apply]["env"]["CONFIRM"] == job
    assert "aws ecs wait services-stable" in (SCRIPTS / "wait_service_stable.sh").read_text()


def test_smoke_test_covers_health_ready_and_predict_and_accepts_only_a_first_deploy_without_a_model():
    text = (SCRIPTS / "smoke_test.sh").read_text()
    for call in ("expect 200 GET /health", "expect 200 GET /ready", "expect 200 POST /predict"):
        assert call in text
    # Without an Approved version in the registry (a first deploy): /predict must be 503 no_model, nothing else.
    assert "list-model-packages" in text and "--model-approval-status Approved" in text
    assert "expect 503 POST /predict" in text and '"$code" == "no_model"' in text


def test_image_is_pushed_once_then_scanned_and_promoted_by_digest(deploy):
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    dev_steps = steps(dev)
    build = index_of(dev_steps, r"^docker/build-push-action@", key="uses")
    # Immutable repository: the push is skipped when the commit's tag is already there (a re-run).
    assert dev_steps[build]["if"] == "steps.existing.outputs.digest == ''"
    assert dev_steps[build]["with"]["provenance"] == "mode=max" and dev_steps[build]["with"]["sbom"] is True
    scan = index_of(dev_steps, r"^scripts/ecr_image\.sh scan ")
    assert build < scan < index_of(dev_steps, r"^make apply ENV=")
    assert dev["outputs"]["image"] == "${{ steps.image.outputs.image }}"
    assert "@${digest}" in dev_steps[index_of(dev_steps, r"image=")]["run"]
    # prod never builds: it copies the manifest dev ran, by digest, before applying.
    prod_steps = steps(prod)
    assert not any(
        "build-push-action" in str(s.get("uses", "")) or "docker build" in s.get("run", "")
        for s in prod_steps
    )
    promote = index_of(prod_steps, r"^scripts/promote_image\.sh ")
    assert prod_steps[promote]["env"]["DEV_IMAGE"] == "${{ needs.dev.outputs.image }}"
    assert promote < index_of(prod_steps, r"^make apply ENV=")
    for job_steps in (dev_steps, prod_steps):
        apply = job_steps[index_of(job_steps, r"^make apply ENV=")]
        assert apply["env"]["TF_VAR_inference_image_tag"] == "${{ github.sha }}"
    script = (SCRIPTS / "promote_image.sh").read_text()
    assert "imagetools create" in script and '[[ "$copied" == "$digest" ]]' in script


def test_the_jobs_run_the_image_the_service_runs_published_by_digest_after_the_smoke_test(deploy):
    for name in ("dev", "prod"):
        job_steps = steps(deploy["jobs"][name])
        publish = index_of(job_steps, r"^scripts/ecr_image\.sh publish ")
        assert index_of(job_steps, r"^scripts/smoke_test\.sh$") < publish, name
    dev_steps, prod_steps = steps(deploy["jobs"]["dev"]), steps(deploy["jobs"]["prod"])
    dev = dev_steps[index_of(dev_steps, r"^scripts/ecr_image\.sh publish ")]
    assert dev["env"]["DIGEST"] == "${{ steps.image.outputs.digest }}" and dev["run"].endswith('"${DIGEST}"')
    # prod publishes its own repository's copy of the image dev ran (the same digest).
    prod = prod_steps[index_of(prod_steps, r"^scripts/ecr_image\.sh publish ")]
    assert prod["env"]["DEV_IMAGE"] == "${{ needs.dev.outputs.image }}"
    assert prod["run"].endswith('"${DEV_IMAGE##*@}"')
    script = (SCRIPTS / "ecr_image.sh").read_text()
    assert "aws ssm put-parameter" in script and "--overwrite" in script
    assert '"${PRODML_ECR_REPOSITORY_URL}@$1"' in script


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the AWS CLI the deploy scripts call")
def test_publish_writes_the_image_by_digest_and_refuses_one_the_repository_lacks(aws_env, tmp_path):
    """scripts/ecr_image.sh publish against the emulator, as the deploy workflow runs it."""
    ecr, ssm = aws.client("ecr", aws_env), aws.client("ssm", aws_env)
    repository = ecr.create_repository(
        repositoryName=naming.ecr_repository_name(aws_env.project, aws_env.env)
    )
    url = repository["repository"]["repositoryUri"]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"})
    image = ecr.put_image(repositoryName=repository["repository"]["repositoryName"], imageManifest=manifest)
    digest = image["image"]["imageId"]["imageDigest"]
    parameter = naming.image_parameter_name(aws_env.project, aws_env.env)
    ssm.put_parameter(Name=parameter, Value="unpublished", Type="String")  # as Terraform creates it
    env_file = tmp_path / "applied.env"
    env_file.write_text(
        f"PRODML_ENV={aws_env.env}\nPRODML_REGION={aws_env.region}\nPRODML_ECR_REPOSITORY_URL={url}\n"
        f"PRODML_IMAGE_PARAMETER_NAME={parameter}\n"
    )

    def publish(argument: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(SCRIPTS / "ecr_image.sh"), "publish", argument],
            env={**os.environ, "PRODML_ENV_FILE": str(env_file)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def value() -> str:
        return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])

    assert publish("latest").returncode == 64  # a tag is not a digest
    missing = publish("sha256:" + "0" * 64)
    assert missing.returncode != 0 and value() == "unpublished", missing.stderr
    published = publish(digest)
    assert published.returncode == 0, published.stderr
    assert value() == f"{url}@{digest}"


def test_code_is_shipped_with_prodml_ship_after_apply_and_prod_ships_what_dev_shipped(deploy):
    for name in ("dev", "prod"):
        job = deploy["jobs"][name]
        job_steps = steps(job)
        ship = index_of(job_steps, r"^\S.* prodml ship\b")  # a command line, not a message
        assert index_of(job_steps, r"^make apply ENV=") < ship, (
            "ship needs the bucket and Glue jobs apply creates"
        )
        # scripts/terraform.sh writes .prodml/env/<env>.env after an apply (and on make tf-env); ship reads it.
        assert job["env"]["PRODML_ENV_FILE"] == f".prodml/env/{name}.env"
    assert '.prodml/env/${env_name}.env"' in (SCRIPTS / "terraform.sh").read_text()
    prod_steps = steps(deploy["jobs"]["prod"])
    assert (
        prod_steps[index_of(prod_steps, r"prodml ship")]["env"]["DEV_RELEASE"]
        == "${{ needs.dev.outputs.release }}"
    )


def test_no_step_uploads_code_by_hand(deploy):
    for job in deploy["jobs"].values():
        for step in steps(job):
            run = step.get("run", "")
            assert not re.search(r"aws s3 (cp|sync)\b.*\bcode/", run), f"{step.get('name')}: use prodml ship"
            assert "package-etl" not in run, f"{step.get('name')}: prodml ship packages the Glue job itself"


def test_deploys_never_cancel_an_apply(deploy):
    for name, job in deploy["jobs"].items():
        if environment_name(job):
            assert job["concurrency"]["cancel-in-progress"] is False, name


# ---- plan.yml -----------------------------------------------------------------------------------------------


def test_pull_requests_are_planned_with_the_plan_role_and_the_plan_is_posted_and_kept():
    plan = workflow("plan.yml")
    assert set(triggers(plan)) == {"pull_request"}
    (job,) = plan["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    # The plan roles trust the pull_request subject, which a job naming an environment does not have.
    assert "environment" not in job
    roles = {entry["env"]: entry["plan_role"] for entry in job["strategy"]["matrix"]["include"]}
    assert roles == {env: f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}" for env in roles}
    assert "prod" not in roles, "prod has no pull-request plan role"
    job_steps = steps(job)
    (credentials,) = [s for _, _, s in role_steps(plan)]
    assert credentials["with"]["role-to-assume"] == "${{ matrix.plan_role }}"
    report = index_of(job_steps, r"^scripts/plan_report\.sh ")
    comment = index_of(job_steps, r"^gh pr comment ")
    upload = index_of(job_steps, r"^actions/upload-artifact@", key="uses")
    assert report < comment and report < upload
    assert "make plan ENV=" in (SCRIPTS / "plan_report.sh").read_text()
    text = (WORKFLOWS / "plan.yml").read_text()
    assert "make apply" not in text and "AWS_DEPLOY_ROLE_ARN" not in text


# ---- ci.yml -------------------------------------------------------------------------------------------------


def test_ci_cancels_superseded_runs_only_for_pull_requests():
    concurrency = workflow("ci.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    for name in ("deploy.yml", "train.yml"):
        assert "cancel-in-progress: true" not in (WORKFLOWS / name).read_text(), name


# ---- train.yml ----------------------------------------------------------------------------------------------


def test_training_runs_the_stage_commands_in_order_in_dev():
    train = workflow("train.yml")
    assert {"schedule", "workflow_dispatch"} <= set(triggers(train))
    job = train["jobs"]["train"]
    assert environment_name(job) == "dev" and MAIN_ONLY in job["if"]
    job_steps = steps(job)
    order = [
        index_of(job_steps, r"prodml ship\b"),
        index_of(job_steps, r"prodml etl --json\b"),
        index_of(job_steps, r"prodml train --json\b"),
        index_of(job_steps, r"prodml register\b"),
    ]
    assert order == sorted(order)
    assert "steps.etl.outputs.dataset_version" in str(job_steps[order[2]]["env"])
    assert "steps.train.outputs.job" in str(job_steps[order[3]]["env"])


def test_a_model_reaches_prod_only_through_an_approved_promotion():
    train = workflow("train.yml")
    promote = train["jobs"]["promote"]
    assert environment_name(promote) == "prod"
    assert promote["needs"] == "train" and "needs.train.outputs.status == 'Approved'" in promote["if"]
    assert MAIN_ONLY in promote["if"]
    job_steps = steps(promote)
    step = job_steps[index_of(job_steps, r"prodml models promote\b")]
    assert step["env"]["SOURCE_MODEL_PACKAGE_ARN"] == "${{ needs.train.outputs.model_package_arn }}"
    assert promote["env"]["PRODML_ENV_FILE"] == ".prodml/env/prod.env"
    # The training job acts on dev only, and never approves or promotes by hand: its approval is the gate's.
    job = train["jobs"]["train"]
    assert job["env"] == {"ENV": "dev", "PRODML_ENV_FILE": ".prodml/env/dev.env"}
    assert not any(re.search(r"prodml models (approve|promote)", s.get("run", "")) for s in steps(job))


# ---- every workflow -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_roles_come_from_github_variables_and_regions_from_the_environments_tfvars(name):
    wf = workflow(name)
    for job_name, job, step in role_steps(wf):
        role = step["with"]["role-to-assume"]
        if environment_name(job):
            # A deploy role is an environment variable: each GitHub environment holds its own account's role.
            assert role == "${{ vars.AWS_DEPLOY_ROLE_ARN }}", f"{name}:{job_name}: {role}"
        else:
            assert role == "${{ matrix.plan_role }}", (
                f"{name}:{job_name}: only pull-request plans name no environment"
            )
        assert job["permissions"]["id-token"] == "write"
        # The region is the environment's tfvars (scripts/terraform.sh region), read before there are credentials.
        assert step["with"]["aws-region"] == "${{ steps.region.outputs.region }}"
        job_steps = steps(job)
        region = job_steps[index_of(job_steps, r'^region="\$\(scripts/terraform\.sh region "\$\{ENV\}"\)"$')]
        assert region["id"] == "region" and job_steps.index(region) < job_steps.index(step)
        env_file = job.get("env", {}).get("PRODML_ENV_FILE")
        if env_file:
            assert env_file == f".prodml/env/{job['env']['ENV']}.env"
            first_credentials = min(job_steps.index(s) for _, j, s in role_steps(wf) if j is job)
            assert first_credentials < index_of(job_steps, r'^make tf-env ENV="\$\{ENV\}"$')
    assert wf.get("permissions") in ({}, {"contents": "read"}), "anything more is granted per job"


@pytest.mark.parametrize("name", ["deploy.yml", "plan.yml", "train.yml"])
def test_piped_commands_fail_their_step(name):
    # GitHub's implicit shell is `bash -e` without pipefail: `prodml ship --json | tee` would hide a failed ship.
    assert workflow(name)["defaults"]["run"]["shell"] == "bash"


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_actions_are_pinned_by_full_sha_with_their_version(name):
    for line in (WORKFLOWS / name).read_text().splitlines():
        match = re.search(r"uses:\s*(\S+)", line)
        if match and not match.group(1).startswith("./"):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)), line
            assert re.search(r"#\s*v\d", line), f"say which version the SHA is: {line.strip()}"


def test_dependabot_watches_every_ecosystem_the_repository_pins():
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"github-actions", "docker", "uv", "terraform"}


def test_image_is_built_from_a_digest_pinned_base_and_hash_checked_dependencies():
    text = (REPO / "services" / "inference" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases and all(re.search(r"@sha256:[0-9a-f]{64}$", base) for base in bases), bases
    assert "--no-hashes" not in text and "--require-hashes" in text
