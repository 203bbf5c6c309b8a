"""Terraform builds each job from the same spec file prodml.jobs reads (src/prodml/jobs/*.yaml), so the two
agree by construction; these tests show that they do, with Terraform itself evaluating the HCL, offline.

The evaluation runs the platform root's own expressions (the locals that read the spec files, and the
module inputs built from them) in a copy of the repository's layout, against the modules' ``spec.tf``: the
files that turn a spec into a job's settings, with no provider. Editing a value in that copy of a spec and
seeing Terraform's answer change shows the value is read from the spec, not written a second time.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import hcl2
import pytest
import yaml

import prodml
from prodml import naming
from prodml.bootstrap import SHIPPED_ARGUMENTS, UNSHIPPED_RELEASE, glue_job_definition
from prodml.jobs import ETL_DEPLOYMENT_VALUES, etl_spec, training_spec
from prodml.settings import Settings
from prodml.zones import Zones
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    REPO,
    load_blocks,
    load_resources,
    run_terraform,
    unwrap,
)

JOBS = REPO / "src" / "prodml" / "jobs"
PROJECT = "prodml"
DATASETS = ["customer_churn", "house_prices"]
RELEASE = UNSHIPPED_RELEASE
SPEC_MODULES = ("glue_etl", "sagemaker")


def module_inputs(env: str, release: str = RELEASE) -> dict[str, dict]:
    """What this test sets for the module inputs that come from other modules or root variables."""
    buckets = {zone: naming.bucket_name(PROJECT, env, zone) for zone in naming.ZONES}
    common = {
        "bucket_ids": buckets,
        "data_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/data",
        "tags": {},
    }
    return {
        "glue_etl": {
            **common,
            "name": f"{PROJECT}-{env}",
            "job_names": {d: naming.glue_job_name(PROJECT, env, d) for d in DATASETS},
            "database_name": naming.glue_database_name(PROJECT, env),
            "logs_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/logs",
            "schedule_enabled": True,
            "code_release": release,
            "iam_role_permissions_boundary": None,
        },
        "sagemaker": {
            **common,
            "name": f"{PROJECT}-{env}-training",
            "job_name_prefix": f"{PROJECT}-{env}-",
            "training_log_group_arn": "arn:aws:logs:us-east-1:123456789012:log-group:/prodml-training",
            "model_package_group_names": {
                d: naming.model_package_group_name(PROJECT, env, d) for d in DATASETS
            },
            "failure_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "iam_role_permissions_boundary": None,
        },
    }


def load_locals(path: Path) -> dict[str, object]:
    """The `locals` of a file, by name (python-hcl2 gives each expression as "${...}" text)."""
    with path.open() as handle:
        blocks = hcl2.load(handle).get("locals", [])
    return {
        name: unwrap(value) for block in blocks for name, value in block.items() if not name.startswith("__")
    }


def references(expression) -> set[str]:
    return set(re.findall(r"\b(var|module|local)\.", str(expression)))


def only_locals(expression, names) -> bool:
    """Whether an expression refers to nothing but these locals (or to nothing at all)."""
    used = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", str(expression)))
    return references(expression) <= {"local"} and used <= set(names)


def hcl(value) -> str:
    """A Python value as an HCL expression (JSON is valid HCL for strings, numbers, bools, lists and maps)."""
    return json.dumps(value)


def hcl_expression(expression: str) -> str:
    # python-hcl2's "${...}" text, quoted: a template that is one interpolation evaluates to the expression's
    # own value and type, and quotes inside the interpolation need no escaping.
    return f'"{expression}"'


def spec_root(env: str, release: str) -> str:
    """A root with the platform root's spec-reading locals (those that refer to no variable or module)
    and its calls of the spec modules: every input built from those locals is the root's own expression,
    the others are this test's values."""
    directory = PLATFORM
    root_locals = {
        name: expression
        for path in sorted(directory.glob("*.tf"))
        for name, expression in load_locals(path).items()
        if isinstance(expression, str) and references(expression) <= {"local"}
    }
    assert root_locals, f"{directory} reads no spec file"
    lines = ["locals {", *(f"  {n} = {hcl_expression(e)}" for n, e in root_locals.items()), "}"]
    calls = load_blocks(directory, "module")
    inputs = module_inputs(env, release)
    for module in SPEC_MODULES:
        _, body = calls[module]
        lines += [f'module "{module}" {{', f'  source = "../../modules/{module}"']
        for name, value in body.items():
            if name in ("source", "__start_line__", "__end_line__"):
                continue
            expression = unwrap(value)
            if references(expression) and only_locals(expression, root_locals):
                lines.append(f"  {name} = {hcl_expression(expression)}")
            else:
                assert name in inputs[module], (
                    f"module.{module}.{name} = {expression!r}: give the test a value"
                )
                lines.append(f"  {name} = {hcl(inputs[module][name])}")
        lines.append("}")
    return "\n".join(lines) + "\n"


def evaluate(
    tmp_path: Path, env: str, edit: Callable[[Path], None] | None = None, release: str = RELEASE
) -> dict[str, dict]:
    """Terraform's values of every local in the spec modules' spec.tf, for this environment's root."""
    repo = tmp_path / "repo"
    # The files the roots read, in the repository's layout: the specs, the version, the Glue requirements.
    for source in [
        *JOBS.glob("*.yaml"),
        REPO / "src" / "prodml" / "__init__.py",
        REPO / etl_spec().requirements,
    ]:
        target = repo / source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    if edit:
        edit(repo)
    for module in SPEC_MODULES:
        target = repo / "modules" / module
        target.mkdir(parents=True)
        for name in ("variables.tf", "spec.tf"):
            shutil.copy(MODULES / module / name, target / name)
        values = ", ".join(f"{name} = local.{name}" for name in load_locals(MODULES / module / "spec.tf"))
        (target / "spec_values.tf").write_text(f'output "spec_values" {{\n  value = {{ {values} }}\n}}\n')
    root = repo / PLATFORM.relative_to(REPO)
    root.mkdir(parents=True)
    (root / "main.tf").write_text(spec_root(env, release))
    init = run_terraform("init", "-input=false", "-no-color", cwd=root)
    assert init.returncode == 0, init.stdout + init.stderr
    expression = "jsonencode({ " + ", ".join(f"{m} = module.{m}.spec_values" for m in SPEC_MODULES) + " })\n"
    result = run_terraform("console", cwd=root, stdin=expression)
    # A failed variable validation is a warning to console, and the value stays unknown.
    assert result.returncode == 0 and result.stdout.startswith('"'), result.stdout + result.stderr
    # console prints the jsonencode()d string as an HCL string literal: decode twice.
    return json.loads(json.loads(result.stdout.strip()))


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def evaluated(request, tmp_path_factory) -> tuple[str, dict[str, dict]]:
    env = request.param
    return env, evaluate(tmp_path_factory.mktemp(f"specs-{env}"), env)


# ---- the Glue job ---------------------------------------------------------------------------------------


def test_glue_default_arguments_are_the_ones_prodml_jobs_builds(evaluated):
    env, values = evaluated
    glue = values["glue_etl"]
    artifacts = naming.bucket_name(PROJECT, env, "artifacts")
    wheel = f"prodml-{prodml.__version__}-py3-none-any.whl"
    spec = etl_spec()
    for dataset in DATASETS:
        deployment = {
            "dataset": dataset,
            "raw_uri": f"s3://{naming.bucket_name(PROJECT, env, 'raw')}/{dataset}/",
            "processed_uri": f"s3://{naming.bucket_name(PROJECT, env, 'processed')}/",
            "contract_uri": f"s3://{artifacts}/{Zones.contract_key(RELEASE, dataset)}",
            "glue_database": naming.glue_database_name(PROJECT, env),
        }
        assert set(deployment) == set(ETL_DEPLOYMENT_VALUES)
        assert glue["deployment_values"][dataset] == deployment
        assert glue["default_arguments"][dataset] == spec.default_arguments(
            deployment,
            extra_py_files=[f"s3://{artifacts}/{Zones.wheel_key(RELEASE, wheel)}"],
            python_modules=glue["python_modules"],
        )
    script = Path(spec.script).name
    assert glue["job"]["script_location"] == f"s3://{artifacts}/{Zones.glue_script_key(RELEASE, script)}"


def test_the_glue_job_is_the_one_bootstrap_creates_on_the_emulator(evaluated):
    """prodml.bootstrap builds the same job from the same spec for the emulator: every setting agrees."""
    env, values = evaluated
    glue = values["glue_etl"]
    settings = Settings(project=PROJECT, env=env)
    for dataset in DATASETS:
        python = glue_job_definition(settings, dataset, "123456789012")
        assert {
            "ScriptLocation": glue["job"]["script_location"],
            "PythonVersion": glue["job"]["python_version"],
            "MaxCapacity": glue["job"]["max_capacity"],
            "Timeout": glue["job"]["timeout"],
            "MaxConcurrentRuns": glue["job"]["max_concurrent_runs"],
            "DefaultArguments": glue["default_arguments"][dataset],
        } == {
            "ScriptLocation": python["Command"]["ScriptLocation"],
            "PythonVersion": python["Command"]["PythonVersion"],
            "MaxCapacity": python["MaxCapacity"],
            "Timeout": python["Timeout"],
            "MaxConcurrentRuns": python["ExecutionProperty"]["MaxConcurrentRuns"],
            "DefaultArguments": python["DefaultArguments"],
        }
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^,= ]+", m) for m in glue["python_modules"])


def test_new_jobs_start_at_the_unshipped_release_in_both():
    for directory in (MODULES / "glue_etl", PLATFORM):
        _, variable = load_blocks(directory, "variable")["code_release"]
        assert unwrap(variable["default"]) == UNSHIPPED_RELEASE, directory


def test_glue_settings_are_the_specs(evaluated):
    _, values = evaluated
    spec, job = etl_spec(), values["glue_etl"]["job"]
    assert (
        job["python_version"],
        job["max_capacity"],
        job["timeout"],
        job["max_concurrent_runs"],
        job["schedule"],
    ) == (
        spec.python_version,
        spec.max_capacity,
        spec.timeout_minutes,
        spec.max_concurrent_runs,
        spec.schedule,
    )


def edit_spec(name: str, changes: dict) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        path = repo / JOBS.relative_to(REPO) / name
        spec = yaml.safe_load(path.read_text())
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        path.write_text(yaml.safe_dump(spec, sort_keys=False))

    return edit


def test_every_glue_setting_is_read_from_the_spec_file(tmp_path):
    spec = etl_spec()
    # python_version has one allowed value (3.9): the refusal of 3.11 below shows it is read from the file.
    changed = {
        "max_capacity": 1 if spec.max_capacity != 1 else 0.0625,
        "timeout_minutes": spec.timeout_minutes + 7,
        "max_concurrent_runs": spec.max_concurrent_runs + 2,
        "schedule": "cron(15 4 * * ? *)",
        "glue_arguments": {"--enable-metrics": "true"},
        "arguments": {"dataset_name": {"from": "dataset"}, "raw_uri": {"default": "s3://elsewhere/"}},
    }
    values = evaluate(tmp_path, "dev", edit_spec("etl.yaml", changed))["glue_etl"]
    job = values["job"]
    assert (job["max_capacity"], job["timeout"], job["max_concurrent_runs"], job["schedule"]) == (
        changed["max_capacity"],
        changed["timeout_minutes"],
        changed["max_concurrent_runs"],
        changed["schedule"],
    )
    arguments = values["default_arguments"]["customer_churn"]
    assert arguments["--enable-metrics"] == "true"
    assert arguments["--dataset_name"] == "customer_churn"
    # An argument with only a default is the job parser's, not a DefaultArgument.
    assert "--raw_uri" not in arguments


def test_a_spec_without_a_schedule_gives_no_trigger(tmp_path):
    values = evaluate(tmp_path, "prod", edit_spec("etl.yaml", {"schedule": None}))["glue_etl"]
    assert values["job"]["schedule"] is None


def test_the_wheel_version_and_requirements_are_read_from_their_files(tmp_path):
    def edit(repo: Path) -> None:
        init = repo / "src" / "prodml" / "__init__.py"
        init.write_text(init.read_text().replace(f'"{prodml.__version__}"', '"9.8.7"'))
        requirements = repo / etl_spec().requirements
        requirements.write_text("# pinned\nsomething==1.2.3  # why\n\nother==4\n")

    values = evaluate(tmp_path, "dev", edit, release="r-42")["glue_etl"]
    assert values["job"]["extra_py_files"] == [
        f"s3://{naming.bucket_name(PROJECT, 'dev', 'artifacts')}/{Zones.wheel_key('r-42', 'prodml-9.8.7-py3-none-any.whl')}"
    ]
    assert values["python_modules"] == ["something==1.2.3", "other==4"]
    assert (
        values["default_arguments"]["customer_churn"]["--additional-python-modules"]
        == "something==1.2.3,other==4"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"python_version": "3.11"}, "python_version one of: 3.9"),
        ({"max_capacity": 2}, "max_capacity must be one of: 0.0625, 1"),
        ({"schedule": "daily"}, "cron(...)"),
        ({"arguments": {"dataset": {"from": "bucket"}}}, "from must be one of"),
    ],
)
def test_the_module_refuses_a_spec_glue_would_not_run(tmp_path, changes, message):
    with pytest.raises(AssertionError) as refused:
        evaluate(tmp_path, "dev", edit_spec("etl.yaml", changes))
    # Terraform colours and wraps its messages: compare with both undone.
    said = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(refused.value)).replace("│", " ").split())
    assert message in said, said


def test_the_glue_job_takes_its_settings_from_the_spec_and_leaves_the_code_to_prodml_ship():
    ((_, _, _, job),) = [r for r in load_resources(MODULES / "glue_etl") if r[1] == "aws_glue_job"]
    command, execution = unwrap(job["command"]), unwrap(job["execution_property"])
    assert unwrap(job["max_capacity"]) == "${local.job.max_capacity}"
    assert unwrap(job["timeout"]) == "${local.job.timeout}"
    assert unwrap(command["python_version"]) == "${local.job.python_version}"
    assert unwrap(command["script_location"]) == "${local.job.script_location}"
    assert unwrap(execution["max_concurrent_runs"]) == "${local.job.max_concurrent_runs}"
    assert unwrap(job["default_arguments"]) == "${local.default_arguments[each.key]}"
    # Exactly what prodml ship repoints (bootstrap leaves the same arguments alone when it reconciles).
    ignored = [str(item) for item in unwrap(unwrap(job["lifecycle"])["ignore_changes"])]
    assert sorted(ignored) == sorted(
        [
            "${command[0].script_location}",
            *(f'${{default_arguments["{name}"]}}' for name in SHIPPED_ARGUMENTS),
        ]
    ), ignored
    ((_, _, _, trigger),) = [r for r in load_resources(MODULES / "glue_etl") if r[1] == "aws_glue_trigger"]
    assert unwrap(trigger["schedule"]) == "${local.job.schedule}"


# ---- the training job -----------------------------------------------------------------------------------


def test_training_metric_names_are_the_metric_definitions_prodml_jobs_builds(evaluated):
    _, values = evaluated
    spec = training_spec()
    assert values["sagemaker"]["training_metric_definition_names"] == {
        task: [definition["Name"] for definition in spec.metric_definitions(task)]
        for task in spec.metric_names
    }
    # The dashboard shows every one of them.
    shown = [name for names in values["sagemaker"]["training_dashboard_metrics"].values() for name in names]
    assert sorted(shown) == sorted(
        {d["Name"] for task in spec.metric_names for d in spec.metric_definitions(task)}
    )


def test_training_metric_names_are_read_from_the_spec_file(tmp_path):
    values = evaluate(
        tmp_path,
        "dev",
        edit_spec("training.yaml", {"metric_splits": ["holdout"], "metric_names": {"regression": ["mape"]}}),
    )["sagemaker"]
    assert values["training_metric_definition_names"]["regression"] == ["holdout:mape"]
    assert values["training_dashboard_metrics"]["mape"] == ["holdout:mape"]


def test_the_training_dashboard_shows_those_metrics_for_the_environments_jobs(evaluated):
    env, values = evaluated
    assert values["sagemaker"]["training_host_search_terms"] == f"Host={PROJECT} Host={env}"
    ((_, _, _, dashboard),) = [
        r for r in load_resources(MODULES / "sagemaker") if r[1] == "aws_cloudwatch_dashboard"
    ]
    body = str(unwrap(dashboard["dashboard_body"]))
    assert "local.training_dashboard_metrics" in body and "local.training_host_search_terms" in body
    assert "/aws/sagemaker/TrainingJobs,Host" in body
