"""GitHub Actions' roles (modules/github_oidc): Terraform itself evaluates the module's policy documents
(policies.tf is locals and variables only), offline, with stand-ins for what main.tf looks up. The trust
conditions are asserted exactly: one repository, one GitHub environment (or pull requests), one audience."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import hcl2
import pytest

from prodml import naming
from prodml.jobs import training_spec
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    as_list,
    load_blocks,
    load_resources,
    not_allowed_by,
    run_terraform,
    unwrap,
)

MODULE = MODULES / "github_oidc"
ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
REPOSITORY = "acme-corp/prodml"
STATE_BUCKET = f"prodml-tfstate-{ACCOUNT}"
POLICIES = ("deploy_trust_policy", "plan_trust_policy", "boundary_policy", "read_policy")
INLINE = ("deploy_terraform_policy", "deploy_release_policy")
# What main.tf looks up with the provider; the tests give these values instead.
STAND_INS = f"""locals {{
  account_id        = "{ACCOUNT}"
  partition         = "aws"
  region            = "us-east-1"
  oidc_provider_arn = "{PROVIDER_ARN}"
}}
"""


def evaluate(tmp_path: Path, env: str, **overrides) -> tuple[int, dict | None, str]:
    workdir = tmp_path / f"github-oidc-{env}"
    workdir.mkdir(parents=True)
    for name in ("variables.tf", "policies.tf"):
        shutil.copy(MODULE / name, workdir / name)
    (workdir / "stand_ins.tf").write_text(STAND_INS)
    variables = {
        "name": f"prodml-{env}",
        "environment": env,
        "github_repository": REPOSITORY,
        "state_bucket_name": STATE_BUCKET,
        "state_key": f"prodml/{env}/terraform.tfstate",
        "training_instance_types": json.dumps([training_spec().instance_type]),
        "image_parameter_name": naming.image_parameter_name("prodml", env),
        **overrides,
    }
    expression = "jsonencode({ " + ", ".join(f"{n} = local.{n}" for n in (*POLICIES, *INLINE)) + " })\n"
    result = run_terraform(
        "console", *(f"-var={k}={v}" for k, v in variables.items()), cwd=workdir, stdin=expression
    )
    if result.returncode != 0 or not result.stdout.startswith('"'):
        return 1, None, result.stdout + result.stderr
    # console prints the jsonencode()d string as an HCL string literal: decode twice.
    return 0, json.loads(json.loads(result.stdout.strip())), result.stderr


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def policies(request, tmp_path_factory) -> tuple[str, dict]:
    code, values, said = evaluate(tmp_path_factory.mktemp("oidc"), request.param)
    assert code == 0, said
    return request.param, values


def statements(policy: dict) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


# ---- trust ----------------------------------------------------------------------------------------------


def test_the_deploy_role_trusts_exactly_this_repositorys_environment_and_the_sts_audience(policies):
    env, values = policies
    assert values["deploy_trust_policy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubEnvironment",
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:{env}",
                    }
                },
            }
        ],
    }


def test_the_plan_role_trusts_exactly_this_repositorys_pull_requests(policies):
    _, values = policies
    (statement,) = values["plan_trust_policy"]["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:pull_request",
        }
    }


def test_no_trust_condition_is_a_pattern(policies):
    _, values = policies
    for name in ("deploy_trust_policy", "plan_trust_policy"):
        text = json.dumps(values[name])
        assert "StringLike" not in text and "*" not in text, name


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("github_repository", "your-org/prodml", "not the your-org/ placeholder"),
        ("github_repository", "prodml", "owner/name"),
        ("training_instance_types", "[]", "at least one SageMaker instance type"),
    ],
)
def test_the_module_refuses_a_placeholder_repository_and_no_instance_type(tmp_path, variable, value, message):
    code, _, said = evaluate(tmp_path, "dev", **{variable: value})
    assert code != 0
    assert message in " ".join(re.sub(r"\x1b\[[0-9;]*m", "", said).replace("│", " ").split())


# ---- what the roles may do ------------------------------------------------------------------------------


def test_training_starts_only_on_the_training_specs_instance_type_and_this_environments_jobs(policies):
    env, values = policies
    start = statements(values["deploy_release_policy"])["StartTraining"]
    assert actions(start) == ["sagemaker:CreateTrainingJob"]
    assert start["Resource"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/prodml-{env}-*"
    assert start["Condition"] == {
        "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": [training_spec().instance_type]},
        "Null": {"sagemaker:InstanceTypes": "false"},
    }
    # The platform passes the spec's instance type (the local that yamldecodes training.yaml).
    _, call = load_blocks(PLATFORM, "module")["github_oidc"]
    assert unwrap(call["training_instance_types"]) == ["${local.training_job_spec.instance_type}"]


def test_ship_and_the_image_push_are_this_environments_only(policies):
    env, values = policies
    release = statements(values["deploy_release_policy"])
    assert release["ShipRelease"]["Resource"] == f"arn:aws:s3:::prodml-{env}-artifacts/code/*"
    assert sorted(actions(release["GlueJobs"])) == sorted(
        ["glue:GetJob", "glue:UpdateJob", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"]
    )
    assert release["GlueJobs"]["Resource"] == f"arn:aws:glue:us-east-1:{ACCOUNT}:job/prodml-{env}-*"
    apply = statements(values["deploy_terraform_policy"])
    passed = apply["PassEnvironmentRoles"]
    assert passed["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/prodml-{env}-*"
    assert "glue.amazonaws.com" in passed["Condition"]["StringEquals"]["iam:PassedToService"]
    assert (
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/prodml-{env}-*"
        in apply["EnvironmentServices"]["Resource"]
    )
    # Every name the platform gives is <name> or <name>-*: the dashboard is the one named <name> itself.
    assert f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/prodml-{env}" in apply["EnvironmentServices"]["Resource"]


def test_the_deploy_role_writes_exactly_the_image_parameter_and_passes_roles_to_the_loops_services(policies):
    env, values = policies
    parameter = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prodml-{env}-inference/image-uri"
    assert parameter.endswith(naming.image_parameter_name("prodml", env))
    release = statements(values["deploy_release_policy"])
    assert release["PublishImage"] == {
        "Sid": "PublishImage",
        "Effect": "Allow",
        "Action": ["ssm:PutParameter", "ssm:GetParameter"],
        "Resource": parameter,
    }
    # No other statement of either role names an SSM parameter or writes one.
    for name in ("read_policy", *INLINE):
        for statement in values[name]["Statement"]:
            ssm = [a for a in actions(statement) if a.startswith("ssm:")]
            if ssm and ssm != ["ssm:DescribeParameters"]:
                assert parameter in as_list(statement["Resource"]), (name, statement["Sid"])
                assert all(":parameter/" not in r or r == parameter for r in as_list(statement["Resource"]))
    apply = statements(values["deploy_terraform_policy"])
    passed = apply["PassEnvironmentRoles"]["Condition"]["StringEquals"]["iam:PassedToService"]
    assert {"states.amazonaws.com", "scheduler.amazonaws.com", "events.amazonaws.com"} <= set(passed)
    assert (
        f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:prodml-{env}-*"
        in apply["EnvironmentServices"]["Resource"]
    )


SOURCES = json.dumps(
    [
        {
            "name_prefix": f"prodml-{env}",
            "ecr_repository_name": f"prodml-{env}-inference",
            "artifacts_bucket_name": f"prodml-{env}-artifacts",
        }
        for env in ("dev", "staging")
    ]
)


def test_promotion_only_reads_the_source_environments(tmp_path):
    code, values, said = evaluate(tmp_path, "prod", promotion_sources=SOURCES)
    assert code == 0, said
    release = statements(values["deploy_release_policy"])
    pull = release["PullPromotedImages"]
    assert not any(action.startswith("ecr:Put") or "Upload" in action for action in actions(pull))
    assert pull["Resource"] == [
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/prodml-dev-inference",
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/prodml-staging-inference",
    ]
    models = release["ReadPromotedModels"]
    assert all(action.startswith(("sagemaker:Describe", "sagemaker:List")) for action in actions(models))
    assert release["ReadPromotedModelArtifacts"] == {
        "Sid": "ReadPromotedModelArtifacts",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [
            "arn:aws:s3:::prodml-dev-artifacts/training/*",
            "arn:aws:s3:::prodml-staging-artifacts/training/*",
        ],
    }
    # The copy lands in this environment's own bucket.
    assert release["WriteTrainingRecords"]["Resource"] == [
        f"arn:aws:s3:::prodml-prod-artifacts/training/*/{part}/*"
        for part in ("input/config", "report", "output")
    ]
    # The boundary admits exactly those reads, and the roles' policies stay inside it.
    boundary = statements(values["boundary_policy"])["PromotionSourcesReadOnly"]
    assert set(boundary["Action"]) == set(actions(models)) | {"s3:GetObject"}
    assert outside_the_boundary(values) == []
    size = sum(len(json.dumps(values[n], separators=(",", ":"))) for n in INLINE)
    assert size < 10240, size
    assert len(json.dumps(values["boundary_policy"], separators=(",", ":"))) < 6144
    # Without sources there is no such statement at all.
    _, values, _ = evaluate(tmp_path / "none", "dev")
    assert not {"PullPromotedImages", "ReadPromotedModels"} & set(statements(values["deploy_release_policy"]))
    assert "PromotionSourcesReadOnly" not in statements(values["boundary_policy"])
    # The platform takes the sources' names from the naming module, per environment file.
    _, call = load_blocks(PLATFORM, "module")["github_oidc"]
    assert "module.promotion_source_naming" in str(unwrap(call["promotion_sources"]))


def test_no_statement_grants_everything_or_identities(policies):
    _, values = policies
    for name in ("read_policy", *INLINE):
        for statement in values[name]["Statement"]:
            assert statement["Effect"] == "Allow", (name, statement["Sid"])
            for action in actions(statement):
                assert action != "*" and not action.startswith("iam:*"), (name, statement["Sid"], action)
                assert not re.match(
                    r"iam:(Create|Delete|Put|Attach)(User|Group|AccessKey|LoginProfile)", action
                )


def test_both_roles_touch_only_their_own_state_and_lock_file(policies):
    env, values = policies
    read = statements(values["read_policy"])
    state = f"arn:aws:s3:::{STATE_BUCKET}/prodml/{env}/terraform.tfstate"
    assert read["StateObject"]["Resource"] == [state, f"{state}.tflock"]
    assert read["StateLockRelease"]["Resource"] == f"{state}.tflock"


def test_the_boundary_forbids_roles_without_it_and_edits_of_the_guardrails(policies):
    env, values = policies
    boundary = statements(values["boundary_policy"])
    arn = f"arn:aws:iam::{ACCOUNT}:policy/prodml-{env}-boundary"
    assert boundary["NoRoleWithoutThisBoundary"] == {
        "Sid": "NoRoleWithoutThisBoundary",
        "Effect": "Deny",
        "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
        "Resource": "*",
        "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": arn}},
    }
    assert boundary["BoundaryStays"]["Effect"] == "Deny"
    guarded = boundary["GuardrailsAreAdministrators"]
    assert guarded["Effect"] == "Deny"
    assert set(guarded["Resource"]) == {
        f"arn:aws:iam::{ACCOUNT}:role/prodml-{env}-github-deploy",
        f"arn:aws:iam::{ACCOUNT}:role/prodml-{env}-github-plan",
        arn,
        f"arn:aws:iam::{ACCOUNT}:policy/prodml-{env}-terraform-read",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    }
    assert {"iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:CreatePolicyVersion"} <= set(
        actions(guarded)
    )


def outside_the_boundary(values: dict) -> list[str]:
    """Each (action, resource) a GitHub role's policy allows that no Allow of the boundary covers."""
    return not_allowed_by(
        values["boundary_policy"], {name: values[name] for name in ("read_policy", *INLINE)}
    )


def test_the_boundary_never_cuts_what_the_roles_own_policies_grant(policies):
    _, values = policies
    assert outside_the_boundary(values) == []


def test_the_boundary_keeps_every_named_resource_in_this_environment(policies):
    env, values = policies
    (scoped,) = [s for s in values["boundary_policy"]["Statement"] if s["Sid"] == "ThisEnvironmentOnly"]
    for resource in as_list(scoped["Resource"]):
        shared = resource.endswith(
            (
                "log-group:/aws/sagemaker/TrainingJobs*",
                "log-group:/aws/sagemaker/ProcessingJobs*",
                "log-group:/aws-glue/*",
                ":catalog",
            )
        )
        state = STATE_BUCKET in resource
        assert shared or state or f"prodml-{env}" in resource or f"prodml_{env}_" in resource, resource
    assert "s3:*" in scoped["Action"] and "iam:*RolePolicy" in scoped["Action"]
    (wide,) = [s for s in values["boundary_policy"]["Statement"] if s["Sid"] == "AccountWide"]
    # Nothing that reads or writes data, code or roles is account-wide.
    for action in wide["Action"]:
        assert not re.match(
            r"(s3|secretsmanager):(?!GetRandomPassword|DescribeSecret|GetResourcePolicy|ListSecrets)", action
        ), action
        assert not re.match(r"iam:(?!Get|List|CreateServiceLinkedRole)", action), action
        assert not re.match(r"glue:(Update|Start|Create(?!SecurityConfiguration))", action), action


def test_the_policies_fit_iams_size_limits(policies):
    _, values = policies
    size = {name: len(json.dumps(values[name], separators=(",", ":"))) for name in values}
    # Managed policies: 6,144 characters each; a role's inline policies: 10,240 together.
    assert size["boundary_policy"] < 6144 and size["read_policy"] < 6144, size
    assert size["deploy_terraform_policy"] + size["deploy_release_policy"] < 10240, size


# ---- every role of the environment carries the boundary -------------------------------------------------


def test_every_role_the_platform_creates_carries_the_boundary():
    boundary_modules = []
    for directory in sorted(path for path in MODULES.iterdir() if path.is_dir()):
        roles = [body for _, rtype, _, body in load_resources(directory) if rtype == "aws_iam_role"]
        for body in roles:
            expected = (
                "${aws_iam_policy.boundary.arn}"
                if directory == MODULE
                else "${var.iam_role_permissions_boundary}"
            )
            assert unwrap(body.get("permissions_boundary")) == expected, directory.name
        if roles and directory != MODULE:
            boundary_modules.append(directory.name)
    assert sorted(boundary_modules) == [
        "ecs_service",
        "glue_etl",
        "knowledge",
        "network",
        "orchestration",
        "sagemaker",
    ]
    calls = load_blocks(PLATFORM, "module")
    by_source = {Path(unwrap(body["source"])).name: name for name, (_, body) in calls.items()}
    for module in boundary_modules:
        _, call = calls[by_source[module]]
        assert (
            unwrap(call["iam_role_permissions_boundary"]) == "${module.github_oidc.permissions_boundary_arn}"
        ), module


def test_each_environment_says_who_creates_the_oidc_provider_and_whether_prs_plan():
    values = {}
    for env in ENVIRONMENTS:
        with (PLATFORM / "env" / f"{env}.tfvars").open() as handle:
            values[env] = {k: unwrap(v) for k, v in hcl2.load(handle).items() if not k.startswith("__")}
    # One environment per account creates the provider; the default layout shares one account.
    assert [env for env in ENVIRONMENTS if values[env]["github_oidc_provider_create"]] == ["dev"]
    assert values["prod"]["github_plan_role_enabled"] is False
    outputs = load_blocks(PLATFORM, "output")
    assert {"github_deploy_role_arn", "github_plan_role_arn"} <= set(outputs)
