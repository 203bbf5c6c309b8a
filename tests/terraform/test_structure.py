"""Module and root structure, checked with python-hcl2: the four files and a README whose tables match the
code, typed and described variables, module calls that pass exactly what a module declares, and tags
merged into every taggable resource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from checkov.common.checks_infra.resources_types import resources_types

from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    ROOTS,
    load_blocks,
    load_resources,
    module_dirs,
    root_dirs,
    unwrap,
)

MODULE_NAMES = [path.name for path in module_dirs()]
# checkov's list of AWS resource types that accept `tags`, taken from the provider schema.
TAGGABLE = set(resources_types["aws_taggable"])
# Tags set on resources; the naming module creates none.
EXPECTED_MODULES = {
    "naming",
    "s3_data_zones",
    "glue_etl",
    "ecr",
    "ecs_service",
    "sagemaker",
    "cloudwatch",
    "network",
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


@pytest.mark.parametrize(
    "directory", [ROOTS / "environments" / env for env in ENVIRONMENTS], ids=ENVIRONMENTS
)
def test_module_calls_pass_only_declared_inputs_and_all_required_ones(directory):
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


@pytest.mark.parametrize("directory", root_dirs()[1:], ids=ENVIRONMENTS)
def test_environment_roots_build_one_local_tags_and_define_no_resources(directory):
    assert load_resources(directory) == [], "roots only compose modules"
    calls = load_blocks(directory, "module")
    for call, (_, body) in calls.items():
        if call != "naming":
            assert unwrap(body.get("tags")) == "${local.tags}", f"module.{call} does not get local.tags"
    main = (directory / "main.tf").read_text()
    for key in ("Project", "Environment", "Repository"):
        assert re.search(rf"^\s+{key}\s+=", main, re.M), f"local.tags lacks {key}"


def test_dev_and_prod_differ_only_in_values_and_backend_key():
    dev, prod = (ROOTS / "environments" / env for env in ENVIRONMENTS)
    for name in ("main.tf", "variables.tf", "outputs.tf"):
        assert (dev / name).read_text() == (prod / name).read_text(), f"{name} drifted between dev and prod"
    assert (dev / "versions.tf").read_text().replace("prodml/dev/", "prodml/prod/") == (
        prod / "versions.tf"
    ).read_text()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_uses_s3_native_locking_and_tfvars_name_the_environment(env):
    directory = ROOTS / "environments" / env
    versions = (directory / "versions.tf").read_text()
    assert re.search(r"use_lockfile\s+=\s+true", versions)
    assert "dynamodb_table" not in versions
    assert re.search(rf'^environment\s+=\s+"{env}"$', (directory / "terraform.tfvars").read_text(), re.M)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_feed_python_settings(env):
    from prodml.settings import Settings

    outputs = load_blocks(ROOTS / "environments" / env, "output")
    value = unwrap(outputs["prodml_env"][1]["value"])
    keys = set(re.findall(r"'(PRODML_[A-Z_]+)'", str(value)))
    # The keys Settings reads (env_prefix PRODML_) must be there, so the env file configures it.
    for field in ("project", "env", "region"):
        assert f"PRODML_{field.upper()}" in keys
    assert Settings.model_config["env_prefix"] == "PRODML_"
