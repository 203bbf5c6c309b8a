"""Module and root structure, checked with python-hcl2: the four files and a README whose tables match the
code, typed and described variables, module calls that pass exactly what a module declares, and tags
merged into every taggable resource."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest
from checkov.common.checks_infra.resources_types import resources_types

from tests.terraform.terraform_config import (
    ENV_FILES,
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    REPO,
    ROOTS,
    load_blocks,
    load_resources,
    module_dirs,
    root_dirs,
    tfvars,
    unwrap,
)

MODULE_NAMES = [path.name for path in module_dirs()]
# checkov's list of AWS resource types that accept `tags`, taken from the provider schema.
TAGGABLE = set(resources_types["aws_taggable"])
# Tags set on resources; the naming module creates none.
EXPECTED_MODULES = {
    "naming",
    "github_oidc",
    "s3_data_zones",
    "glue_etl",
    "ecr",
    "ecs_service",
    "sagemaker",
    "cloudwatch",
    "network",
    "orchestration",
    "knowledge",
}


def readme_table(readme: str, heading: str) -> dict[str, list[str]]:
    """Rows of the markdown table under `## heading`, keyed by the first cell."""
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and cells[0] not in ("Name", "") and not set(cells[0]) <= set("-:"):
            rows[cells[0]] = cells
    return rows


def test_every_expected_module_exists():
    assert set(MODULE_NAMES) == EXPECTED_MODULES


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_has_the_four_files_and_a_readme(module):
    present = {path.name for path in (MODULES / module).iterdir()}
    missing = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} - present
    assert not missing, f"modules/{module} lacks {sorted(missing)}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_readme_tables_match_the_code(module):
    directory = MODULES / module
    readme = (directory / "README.md").read_text()
    variables = load_blocks(directory, "variable")
    inputs = readme_table(readme, "Inputs")
    assert set(inputs) == set(variables), "README Inputs table differs from variables.tf"
    for name, (_, body) in variables.items():
        required = "no" if "default" in body else "yes"
        assert inputs[name][-1] == required, f"README says {name} required={inputs[name][-1]}"
    outputs = load_blocks(directory, "output")
    assert set(readme_table(readme, "Outputs")) == set(outputs), (
        "README Outputs table differs from outputs.tf"
    )


def all_config_dirs() -> list[Path]:
    return [*module_dirs(), *root_dirs()]


@pytest.mark.parametrize("directory", all_config_dirs(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_variable_has_type_and_description_and_every_output_a_description(directory):
    for name, (path, body) in load_blocks(directory, "variable").items():
        assert "type" in body, f"{path.name}: variable {name} has no type"
        assert str(unwrap(body.get("description", ""))).strip(), (
            f"{path.name}: variable {name} has no description"
        )
        assert "${any}" not in str(body["type"]), f"{path.name}: variable {name} is typed any"
    for name, (path, body) in load_blocks(directory, "output").items():
        assert str(unwrap(body.get("description", ""))).strip(), (
            f"{path.name}: output {name} has no description"
        )


def test_variables_live_in_variables_tf_and_outputs_in_outputs_tf():
    for directory in all_config_dirs():
        for name, (path, _) in load_blocks(directory, "variable").items():
            assert path.name == "variables.tf", f"{directory.name}: variable {name} is in {path.name}"
        for name, (path, _) in load_blocks(directory, "output").items():
            assert path.name == "outputs.tf", f"{directory.name}: output {name} is in {path.name}"


def test_module_calls_pass_only_declared_inputs_and_all_required_ones():
    directory = PLATFORM
    meta = {
        "source",
        "count",
        "for_each",
        "depends_on",
        "providers",
        "version",
        "__start_line__",
        "__end_line__",
    }
    calls = load_blocks(directory, "module")
    assert calls, "no module calls"
    for call, (_, body) in calls.items():
        source = (directory / unwrap(body["source"])).resolve()
        declared = load_blocks(source, "variable")
        passed = set(body) - meta
        unknown = passed - set(declared)
        assert not unknown, f"module.{call} passes undeclared inputs {sorted(unknown)}"
        required = {name for name, (_, var) in declared.items() if "default" not in var}
        missing = required - passed
        assert not missing, f"module.{call} misses required inputs {sorted(missing)}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_modules_take_tags_and_merge_them_into_every_taggable_resource(module):
    directory = MODULES / module
    resources = load_resources(directory)
    if module == "naming":
        assert resources == [], "the naming module must create nothing"
        return
    variables = load_blocks(directory, "variable")
    assert "tags" in variables and unwrap(variables["tags"][1]["default"]) == {}
    taggable = [(path, rtype, name, body) for path, rtype, name, body in resources if rtype in TAGGABLE]
    assert taggable, "a module with no taggable resource is suspicious"
    for path, rtype, name, body in taggable:
        tags = str(unwrap(body.get("tags", "")))
        assert tags == "${var.tags}" or tags.startswith("${merge(var.tags"), (
            f"{path.name}: {rtype}.{name} tags={tags!r}"
        )


def test_the_main_resource_of_each_module_is_named_this():
    for directory in module_dirs():
        if directory.name == "naming":
            continue
        assert any(name == "this" for _, _, name, _ in load_resources(directory)), directory.name


def test_the_platform_root_builds_one_local_tags_and_defines_no_resources():
    directory = PLATFORM
    assert load_resources(directory) == [], "roots only compose modules"
    calls = load_blocks(directory, "module")
    for call, (_, body) in calls.items():
        # The naming module (for this environment, or for those images are promoted from) creates nothing.
        if not unwrap(body["source"]).endswith("/modules/naming"):
            assert unwrap(body.get("tags")) == "${local.tags}", f"module.{call} does not get local.tags"
    main = (directory / "main.tf").read_text()
    for key in ("Project", "Environment", "Repository"):
        assert re.search(rf"^\s+{key}\s+=", main, re.M), f"local.tags lacks {key}"


def test_there_is_one_platform_root_and_environments_are_files():
    assert {path.name for path in ROOTS.iterdir() if path.is_dir()} == {"bootstrap", "platform"}
    files = {path.name for path in ENV_FILES.iterdir()}
    assert files == {f"{env}.{kind}" for env in ENVIRONMENTS for kind in ("tfvars", "backend.hcl")}
    # Nothing environment-specific is written in the root's own files.
    for path in (PLATFORM / name for name in ("main.tf", "outputs.tf", "versions.tf")):
        for env in ENVIRONMENTS:
            assert not re.search(rf'"{env}"|/{env}/', path.read_text()), f"{path.name} names {env}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_uses_s3_native_locking_and_the_environments_own_key(env):
    versions = (PLATFORM / "versions.tf").read_text()
    assert re.search(r"use_lockfile\s+=\s+true", versions)
    assert "dynamodb_table" not in versions
    with (ENV_FILES / f"{env}.backend.hcl").open() as handle:
        backend = {k: unwrap(v) for k, v in hcl2.load(handle).items() if not k.startswith("__")}
    # Only the key: the bucket carries the account ID and the region is the tfvars', both from terraform.sh.
    assert backend == {"key": f"prodml/{env}/terraform.tfstate"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tfvars_name_the_environment_and_set_only_declared_variables(env):
    values = tfvars(env)
    assert values["environment"] == env
    declared = load_blocks(PLATFORM, "variable")
    assert set(values) <= set(declared), sorted(set(values) - set(declared))
    # Every required variable is set here, except those the shell or CI passes (TF_VAR_*): the certificate and
    # image tag, and the state's bucket and key, which scripts/terraform.sh takes from the backend it inits.
    required = {name for name, (_, body) in declared.items() if "default" not in body}
    assert required - set(values) == {
        "alb_certificate_arn",
        "inference_image_tag",
        "state_bucket_name",
        "state_key",
    }
    script = (REPO / "scripts" / "terraform.sh").read_text()
    assert 'TF_VAR_state_bucket_name="$state_bucket" TF_VAR_state_key="$state_key"' in script


def test_environments_differ_only_in_values_the_root_declares():
    keys = [set(tfvars(env)) for env in ENVIRONMENTS]
    assert all(k == keys[0] for k in keys), "every environment sets the same variables"


def test_outputs_feed_python_settings():
    from prodml.settings import Settings

    outputs = load_blocks(PLATFORM, "output")
    value = unwrap(outputs["prodml_env"][1]["value"])
    keys = set(re.findall(r"'(PRODML_[A-Z_]+)'", str(value)))
    # The keys Settings reads (env_prefix PRODML_) must be there, so the env file configures it.
    for field in ("project", "env", "region"):
        assert f"PRODML_{field.upper()}" in keys
    assert Settings.model_config["env_prefix"] == "PRODML_"
