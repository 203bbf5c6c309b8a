"""The state machines Terraform deploys are the ones the emulator runs, by construction: Terraform itself
evaluates the platform root's expressions (the locals that read src/prodml/jobs/ and the orchestration
module's inputs built from them) and the module's spec.tf and policies.tf, offline, in a copy of the
repository's layout, and each definition must be exactly what prodml.jobs.state_machine_definition renders
from the variables prodml.orchestration computes for bootstrap on the emulator. Editing the template in the
copy changes Terraform's answer, so the definition is read from the template, never written a second time.

The roles are checked against the same rendered definitions: a state machine's role may call exactly the
service integrations its definitions call, on its own dataset's resources.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import hcl2
import pytest

from prodml import naming
from prodml.jobs import (
    monitoring_spec,
    orchestration_spec,
    render_template,
    state_machine_definition,
    training_spec,
)
from prodml.orchestration import drift_alarm_event_pattern, state_machine_variables
from prodml.settings import Settings
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    REPO,
    as_list,
    evaluate_module_locals,
    load_blocks,
    load_resources,
    not_allowed_by,
    tfvars,
    unwrap,
)
from tests.terraform.test_github_oidc import evaluate as evaluate_github_roles

MODULE = MODULES / "orchestration"
JOBS = REPO / "src" / "prodml" / "jobs"
PROJECT = "prodml"
ACCOUNT = "123456789012"
DATASETS = ["customer_churn", "house_prices"]
# The module's files that hold no resource or data source; main.tf supplies these locals, the test stands in.
OFFLINE_FILES = ("variables.tf", "spec.tf", "policies.tf")
VALUES = (
    "template_variables",
    "state_machines",
    "drift_alarm_event_patterns",
    "state_machine_policies",
    "processing_policy",
    "triggers_policy",
    "state_machine_trust_policy",
    "processing_trust_policy",
    "triggers_trust_policy",
)


def region(env: str) -> str:
    return str(tfvars(env)["region"])


def processing_role_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{naming.processing_role_name(PROJECT, env)}"


def stand_ins(env: str) -> str:
    return f"""locals {{
  account_id          = "{ACCOUNT}"
  partition           = "aws"
  region              = "{region(env)}"
  processing_role_arn = "{processing_role_arn(env)}"
}}
"""


def alarm_arn(env: str, dataset: str) -> str:
    return (
        f"arn:aws:cloudwatch:{region(env)}:{ACCOUNT}:alarm:{naming.drift_alarm_name(PROJECT, env, dataset)}"
    )


def module_inputs(env: str) -> dict[str, object]:
    """What this test sets for the inputs that come from other modules or the root's variables."""
    values = tfvars(env)
    groups = {d: naming.model_package_group_name(PROJECT, env, d) for d in DATASETS}
    kinds = list(orchestration_spec().state_machines)
    return {
        "name": f"{PROJECT}-{env}",
        "job_settings": {"project": PROJECT, "env": env, "region": region(env)},
        "state_machine_names": {
            d: {k: naming.state_machine_name(PROJECT, env, d, k) for k in kinds} for d in DATASETS
        },
        "job_name_prefixes": {d: naming.job_name_prefix(PROJECT, env, d) for d in DATASETS},
        "etl_job_names": {d: naming.glue_job_name(PROJECT, env, d) for d in DATASETS},
        "processing_role_name": naming.processing_role_name(PROJECT, env),
        "image_parameter_name": naming.image_parameter_name(PROJECT, env),
        "log_group_name": f"/{PROJECT}-{env}-orchestration",
        # The root's own expression is `length(var.promoted_from) == 0` (asserted below).
        "retrain_enabled": len(values["promoted_from"]) == 0,
        "drift_alarm_arns": {d: alarm_arn(env, d) for d in DATASETS},
        "schedules_enabled": values["orchestration_schedules_enabled"],
        "bucket_ids": {zone: naming.bucket_name(PROJECT, env, zone) for zone in naming.ZONES},
        "data_kms_key_arn": f"arn:aws:kms:{region(env)}:{ACCOUNT}:key/data",
        "ecr_repository_arn": f"arn:aws:ecr:{region(env)}:{ACCOUNT}:repository/{naming.ecr_repository_name(PROJECT, env)}",
        "training_role_arn": f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-{env}-training",
        "model_package_group_arns": {
            d: f"arn:aws:sagemaker:{region(env)}:{ACCOUNT}:model-package-group/{g}" for d, g in groups.items()
        },
        "log_group_retention_in_days": values["log_retention_in_days"],
        "log_group_kms_key_arn": f"arn:aws:kms:{region(env)}:{ACCOUNT}:key/logs",
        "iam_role_permissions_boundary": None,
        "tags": {},
    }


def load_locals(path: Path) -> dict[str, object]:
    with path.open() as handle:
        blocks = hcl2.load(handle).get("locals", [])
    return {
        name: unwrap(value) for block in blocks for name, value in block.items() if not name.startswith("__")
    }


def references(expression) -> set[str]:
    return set(re.findall(r"\b(var|module|local)\.", str(expression)))


def only_locals(expression, names) -> bool:
    used = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", str(expression)))
    return references(expression) <= {"local"} and used <= set(names)


def as_hcl(expression) -> str:
    """python-hcl2's parse of an expression written back as HCL: "${...}" text quoted (a template that is one
    interpolation evaluates to the expression's own value and type), lists and objects rebuilt around it."""
    if isinstance(expression, list):
        return "[" + ", ".join(as_hcl(item) for item in expression) + "]"
    if isinstance(expression, dict):
        return "{ " + ", ".join(f"{key} = {as_hcl(value)}" for key, value in expression.items()) + " }"
    return json.dumps(expression) if not isinstance(expression, str) else f'"{expression}"'


def root(env: str, overrides: dict[str, object] | None = None) -> str:
    """The platform root's spec-reading locals and its call of the orchestration module: every input built
    from those locals is the root's own expression, the others are this test's values."""
    root_locals = {
        name: expression
        for path in sorted(PLATFORM.glob("*.tf"))
        for name, expression in load_locals(path).items()
        if isinstance(expression, str) and references(expression) <= {"local"}
    }
    lines = ["locals {", *(f'  {n} = "{e}"' for n, e in root_locals.items()), "}"]
    _, body = load_blocks(PLATFORM, "module")["orchestration"]
    inputs = {**module_inputs(env), **(overrides or {})}
    lines += ['module "orchestration" {', '  source = "../../modules/orchestration"']
    for name, value in body.items():
        if name in ("source", "__start_line__", "__end_line__"):
            continue
        expression = unwrap(value)
        if name not in (overrides or {}) and references(expression) and only_locals(expression, root_locals):
            lines.append(f"  {name} = {as_hcl(expression)}")
        else:
            assert name in inputs, f"module.orchestration.{name} = {expression!r}: give the test a value"
            lines.append(f"  {name} = {json.dumps(inputs[name])}")
    lines.append("}")
    lines.append('output "values" {\n  value = module.orchestration.values\n}')
    return "\n".join(lines) + "\n"


def evaluate(
    tmp_path: Path,
    env: str,
    edit: Callable[[Path], None] | None = None,
    overrides: dict[str, object] | None = None,
) -> tuple[int, dict, str]:
    """Terraform's values of the module's offline locals (VALUES), for this environment's root."""
    repo = tmp_path / "repo"
    for source in [*JOBS.glob("*.yaml"), *JOBS.glob("*.json"), REPO / "src" / "prodml" / "__init__.py"]:
        target = repo / source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    if edit:
        edit(repo / JOBS.relative_to(REPO))
    return evaluate_module_locals(
        repo, "orchestration", OFFLINE_FILES, stand_ins(env), VALUES, root(env, overrides)
    )


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def evaluated(request, tmp_path_factory) -> tuple[str, dict]:
    env = request.param
    code, values, said = evaluate(tmp_path_factory.mktemp(f"orchestration-{env}"), env)
    assert code == 0, said
    return env, values


def emulator_variables(env: str, dataset: str) -> dict[str, object]:
    """What bootstrap renders the templates with (except poll_seconds, which the emulator sets to 1)."""
    settings = Settings(project=PROJECT, env=env, region=region(env))
    return state_machine_variables(settings, dataset, ACCOUNT)


def retrains(env: str) -> bool:
    return len(tfvars(env)["promoted_from"]) == 0


# ---- the definitions ------------------------------------------------------------------------------------


def test_every_definition_is_the_one_the_emulator_runs(evaluated):
    env, values = evaluated
    machines = values["state_machines"]
    kinds = [k for k in orchestration_spec().state_machines if k != "retrain" or retrains(env)]
    assert sorted(machines) == sorted(f"{d}/{k}" for d in DATASETS for k in kinds)
    for dataset in DATASETS:
        variables = emulator_variables(env, dataset)
        assert values["template_variables"][dataset] == variables
        for kind in kinds:
            machine = machines[f"{dataset}/{kind}"]
            assert machine["name"] == naming.state_machine_name(PROJECT, env, dataset, kind)
            assert machine["schedule"] == orchestration_spec().state_machines[kind].schedule
            python = state_machine_definition(kind, variables)
            # Byte for byte, and so as JSON too.
            assert machine["definition"] == python
            assert json.loads(machine["definition"]) == json.loads(python)


def test_the_templates_variables_are_exactly_orchestration_yamls(evaluated):
    _, values = evaluated
    for variables in values["template_variables"].values():
        assert sorted(variables) == sorted(orchestration_spec().variables)


def test_editing_the_template_changes_terraforms_answer(tmp_path):
    definition = orchestration_spec().state_machines["retrain"].definition

    def edit(jobs: Path) -> None:
        # Text edits: a template is JSON only once rendered (numbers are bare ${...}).
        path = jobs / definition
        text = re.sub(
            r'"Comment": "[^"]*"',
            '"Comment": "edited: ${dataset} in ${env}, every ${poll_seconds} seconds"',
            path.read_text(),
            count=1,
        )
        path.write_text(text.replace('"StartAt":', '"TimeoutSeconds": 86400, "StartAt":', 1))

    code, values, said = evaluate(tmp_path, "dev", edit)
    assert code == 0, said
    edited = json.loads(values["state_machines"]["customer_churn/retrain"]["definition"])
    assert (
        edited["Comment"]
        == f"edited: customer_churn in dev, every {orchestration_spec().poll_seconds} seconds"
    )
    assert edited["TimeoutSeconds"] == 86400
    # And it is still what Python renders from the same (edited) file.
    text = (tmp_path / "repo" / JOBS.relative_to(REPO) / definition).read_text()
    assert values["state_machines"]["customer_churn/retrain"]["definition"] == render_template(
        text, emulator_variables("dev", "customer_churn")
    )


def test_a_template_variable_terraform_does_not_give_fails_the_evaluation(tmp_path):
    def edit(jobs: Path) -> None:
        path = jobs / orchestration_spec().state_machines["drift"].definition
        path.write_text(path.read_text().replace("${window_hours}", "${window_minutes}", 1))

    code, _, said = evaluate(tmp_path, "prod", edit)
    assert code != 0
    assert "window_minutes" in said


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"drift_alarm_arns": {}}, "drift_alarm_arns must give every dataset's drift alarm"),
        ({"job_name_prefixes": {"customer_churn": "prodml-dev-customer-churn"}}, "exactly the datasets"),
    ],
)
def test_the_module_refuses_inputs_that_would_leave_a_dataset_half_wired(tmp_path, overrides, message):
    code, _, said = evaluate(tmp_path, "dev", overrides=overrides)
    assert code != 0
    # Terraform colours and wraps its messages: compare with both undone.
    assert message in " ".join(re.sub(r"\x1b\[[0-9;]*m", "", said).replace("│", " ").split())


def test_the_state_machines_deploy_the_rendered_definitions():
    (machine,) = [body for _, rtype, _, body in load_resources(MODULE) if rtype == "aws_sfn_state_machine"]
    assert unwrap(machine["for_each"]) == "${local.state_machines}"
    assert unwrap(machine["definition"]) == "${each.value.definition}"
    assert unwrap(machine["type"]) == "STANDARD"
    logging = unwrap(machine["logging_configuration"])
    assert unwrap(logging["include_execution_data"]) is True


# ---- the triggers ---------------------------------------------------------------------------------------


def test_the_drift_alarm_rule_is_bootstraps_pattern_and_exists_only_where_models_are_trained(evaluated):
    env, values = evaluated
    patterns = values["drift_alarm_event_patterns"]
    if not retrains(env):
        assert patterns == {}
        return
    assert sorted(patterns) == DATASETS
    for dataset, pattern in patterns.items():
        assert json.loads(pattern) == drift_alarm_event_pattern(alarm_arn(env, dataset))
    ((_, _, _, target),) = [r for r in load_resources(MODULE) if r[1] == "aws_cloudwatch_event_target"]
    assert unwrap(target["arn"]) == '${aws_sfn_state_machine.this["${each.key}/retrain"].arn}'


def test_the_rule_watches_the_alarms_modules_cloudwatch_creates():
    """The ARNs the rules match are the outputs of the alarms themselves (named by modules/naming), so a
    renamed alarm cannot leave a rule matching nothing."""
    calls = load_blocks(PLATFORM, "module")
    _, orchestration = calls["orchestration"]
    assert unwrap(orchestration["drift_alarm_arns"]) == "${module.cloudwatch.drift_alarm_arns}"
    _, cloudwatch = calls["cloudwatch"]
    assert unwrap(cloudwatch["drift_alarm_names"]) == "${module.naming.drift_alarm_names}"
    _, output = load_blocks(MODULES / "cloudwatch", "output")["drift_alarm_arns"]
    assert "aws_cloudwatch_metric_alarm.drift" in str(unwrap(output["value"]))


def test_the_triggers_start_this_environments_state_machines_only(evaluated):
    env, values = evaluated
    (statement,) = values["triggers_policy"]["Statement"]
    assert statement["Action"] == ["states:StartExecution"]
    assert sorted(statement["Resource"]) == sorted(
        f"arn:aws:states:{region(env)}:{ACCOUNT}:stateMachine:{machine['name']}"
        for machine in values["state_machines"].values()
    )
    (trust,) = values["triggers_trust_policy"]["Statement"]
    assert sorted(trust["Principal"]["Service"]) == ["events.amazonaws.com", "scheduler.amazonaws.com"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_prod_never_retrains_and_each_environment_sets_its_schedules():
    _, call = load_blocks(PLATFORM, "module")["orchestration"]
    assert unwrap(call["retrain_enabled"]) == "${length(var.promoted_from) == 0}"
    assert [env for env in ENVIRONMENTS if retrains(env)] == ["dev"]
    for env in ENVIRONMENTS:
        assert set(tfvars(env)["orchestration_schedules_enabled"]) == set(orchestration_spec().state_machines)
    ((_, _, _, schedule),) = [r for r in load_resources(MODULE) if r[1] == "aws_scheduler_schedule"]
    assert "var.schedules_enabled" in unwrap(schedule["state"])
    assert unwrap(schedule["schedule_expression"]) == "${each.value.schedule}"


# ---- the roles ------------------------------------------------------------------------------------------


def statements(policy: dict) -> dict[str, dict]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


# The optimized integrations a template might use, with the IAM actions AWS documents for them.
OPTIMIZED = {
    "arn:aws:states:::glue:startJobRun.sync": {
        "glue:StartJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:BatchStopJobRun",
    },
}


def integrations(definition: str) -> set[str]:
    """The IAM actions of the service integrations a definition's Task states call."""
    actions: set[str] = set()
    for state in json.loads(definition)["States"].values():
        if state["Type"] != "Task":
            continue
        resource = state["Resource"]
        match = re.fullmatch(r"arn:aws:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)", resource)
        if match:
            service, action = match.groups()
            actions.add(f"{service}:{action[0].upper()}{action[1:]}")
        else:
            assert resource in OPTIMIZED, f"{resource}: an integration this test does not know"
            actions |= OPTIMIZED[resource]
    return actions


def test_a_state_machine_role_calls_exactly_its_definitions_integrations_on_its_own_resources(evaluated):
    env, values = evaluated
    for dataset in DATASETS:
        called = set().union(
            *(
                integrations(machine["definition"])
                for machine in values["state_machines"].values()
                if machine["dataset"] == dataset
            )
        )
        policy = statements(values["state_machine_policies"][dataset])
        granted = {
            action
            for sid, statement in policy.items()
            if sid not in ("PassProcessingRole", "DeliverExecutionLogs", "Tracing")
            for action in statement["Action"]
        }
        assert granted == called, dataset
        prefix = naming.job_name_prefix(PROJECT, env, dataset)
        head = f"arn:aws:{{}}:{region(env)}:{ACCOUNT}"
        assert policy["ProcessingJobs"]["Resource"] == f"{head.format('sagemaker')}:processing-job/{prefix}-*"
        assert policy["ReadImageParameter"]["Resource"] == (
            f"{head.format('ssm')}:parameter/{naming.image_parameter_name(PROJECT, env).lstrip('/')}"
        )
        if "RunEtlJob" in policy:
            assert policy["RunEtlJob"]["Resource"] == (
                f"{head.format('glue')}:job/{naming.glue_job_name(PROJECT, env, dataset)}"
            )
        # It passes the one role its definitions name, to SageMaker only.
        roles = {
            role
            for machine in values["state_machines"].values()
            if machine["dataset"] == dataset
            for role in re.findall(r'"RoleArn": "([^"]+)"', machine["definition"])
        }
        assert roles == {policy["PassProcessingRole"]["Resource"]} == {processing_role_arn(env)}
        assert policy["PassProcessingRole"]["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
        }
        # "*" only where AWS scopes nothing: log delivery and X-Ray.
        for sid, statement in policy.items():
            if "*" in as_list(statement["Resource"]):
                assert sid in ("DeliverExecutionLogs", "Tracing"), sid


def test_the_processing_role_publishes_only_the_drift_namespace_and_trains_only_where_models_are_trained(
    evaluated,
):
    env, values = evaluated
    policy = statements(values["processing_policy"])
    assert policy["DriftMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": monitoring_spec().namespace}
    }
    training = {
        "WriteTrainingRecords",
        "StartTraining",
        "FollowTraining",
        "PassTrainingRole",
        "RegisterModels",
    }
    if retrains(env):
        assert training <= set(policy)
        assert policy["StartTraining"]["Condition"]["ForAllValues:StringEquals"] == {
            "sagemaker:InstanceTypes": [training_spec().instance_type]
        }
        assert policy["StartTraining"]["Resource"] == [
            f"arn:aws:sagemaker:{region(env)}:{ACCOUNT}:training-job/{naming.job_name_prefix(PROJECT, env, d)}-*"
            for d in DATASETS
        ]
    else:
        # Where models are promoted, nothing here can make one: no training, no registry writes.
        assert not training & set(policy)
        granted = {a for s in policy.values() for a in s["Action"]}
        assert not {a for a in granted if a.startswith(("sagemaker:Create", "sagemaker:Update"))}
    # No write outside the artifacts bucket's monitoring/, batch/ and training records; nothing in raw.
    writes = [r for s in policy.values() if "s3:PutObject" in s["Action"] for r in as_list(s["Resource"])]
    artifacts = f"arn:aws:s3:::{naming.bucket_name(PROJECT, env, 'artifacts')}/"
    assert writes and all(w.startswith(artifacts) for w in writes), writes
    assert naming.bucket_name(PROJECT, env, "raw") not in json.dumps(values["processing_policy"])
    for sid, statement in policy.items():
        if "*" in as_list(statement["Resource"]):
            assert sid in ("EcrToken", "DriftMetrics"), sid
    (trust,) = values["processing_trust_policy"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_the_boundary_every_role_carries_admits_all_that_the_loops_roles_are_granted(evaluated, tmp_path):
    """Each (action, resource) of the three roles' policies falls inside an Allow of the environment's
    permissions boundary (modules/github_oidc, evaluated by Terraform too); wildcards in a role's policy are
    taken literally, conditions are ignored (they only narrow)."""
    env, values = evaluated
    code, roles, said = evaluate_github_roles(tmp_path, env)
    assert code == 0, said
    policies = {
        **{f"states {d}": p for d, p in values["state_machine_policies"].items()},
        "processing": values["processing_policy"],
        "triggers": values["triggers_policy"],
    }
    assert not_allowed_by(roles["boundary_policy"], policies) == []


def test_every_role_of_the_module_carries_the_boundary_and_the_root_passes_it():
    roles = [body for _, rtype, _, body in load_resources(MODULE) if rtype == "aws_iam_role"]
    assert len(roles) == 3
    for body in roles:
        assert unwrap(body["permissions_boundary"]) == "${var.iam_role_permissions_boundary}"
    _, call = load_blocks(PLATFORM, "module")["orchestration"]
    assert unwrap(call["iam_role_permissions_boundary"]) == "${module.github_oidc.permissions_boundary_arn}"


def test_the_image_parameter_is_created_once_and_then_left_to_the_deploy_workflow():
    ((_, _, _, parameter),) = [r for r in load_resources(MODULE) if r[1] == "aws_ssm_parameter"]
    assert unwrap(parameter["name"]) == "${var.image_parameter_name}"
    assert [str(i) for i in unwrap(unwrap(parameter["lifecycle"])["ignore_changes"])] == ["${value}"]
    # python-hcl2 keeps the string's HCL escapes (\\ for one backslash).
    pattern = re.compile(unwrap(parameter["allowed_pattern"]).replace("\\\\", "\\"))
    digest = "sha256:" + "0" * 64
    assert pattern.fullmatch(unwrap(parameter["value"]))
    assert pattern.fullmatch(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/prodml-dev-inference@{digest}")
    assert not pattern.fullmatch(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/prodml-dev-inference:latest")
    _, call = load_blocks(PLATFORM, "module")["orchestration"]
    assert unwrap(call["image_parameter_name"]) == "${module.naming.image_parameter_name}"
    outputs = load_blocks(PLATFORM, "output")
    assert "PRODML_IMAGE_PARAMETER_NAME" in str(unwrap(outputs["prodml_env"][1]["value"]))
