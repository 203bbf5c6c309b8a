"""The Glue job's runtime arguments agree everywhere they are written: the environments' Terraform (the
pinned list evaluated by Terraform itself, offline), the glue_etl module, and the job `prodml etl` records."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from prodml import aws
from prodml.cli.etl import GLUE_REQUIREMENTS, ensure_glue_job, glue_python_modules
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    REPO,
    ROOTS,
    load_resources,
    run_terraform,
    unwrap,
)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_terraform_passes_the_committed_pins_as_python_modules(tmp_path, env):
    main = (ROOTS / "environments" / env / "main.tf").read_text()
    expression = re.search(r"^  glue_python_modules = \[\n.*?^  \]\n", main, re.M | re.S)
    assert expression, "terraform/environments/*/main.tf builds local.glue_python_modules"
    assert re.search(r"^\s+python_modules\s+=\s+local\.glue_python_modules$", main, re.M)
    # The same relative layout as the repository, holding only the local and the requirements file.
    workdir = tmp_path / "terraform" / "environments" / env
    workdir.mkdir(parents=True)
    (workdir / "main.tf").write_text("locals {\n" + expression.group(0) + "}\n")
    pinned = tmp_path / GLUE_REQUIREMENTS.relative_to(REPO)
    pinned.parent.mkdir(parents=True)
    shutil.copy(GLUE_REQUIREMENTS, pinned)
    result = run_terraform("console", cwd=workdir, stdin="jsonencode(local.glue_python_modules)\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout.strip())) == glue_python_modules()


@pytest.mark.integration
def test_the_module_and_the_local_runner_set_the_same_runtime_arguments(aws_env, churn_contract):
    ((_, _, _, job),) = [r for r in load_resources(MODULES / "glue_etl") if r[1] == "aws_glue_job"]
    assert unwrap(unwrap(job["command"])["python_version"]) == "3.9"
    # python-hcl2 renders the merge() of the default arguments as one string expression.
    arguments = str(unwrap(job["default_arguments"]))
    assert re.search(r"'--extra-py-files': '\$\{join\(\",\", ?\[for key in var\.python_wheel_keys", arguments)
    assert re.search(r"'--additional-python-modules': '\$\{join\(\",\", ?var\.python_modules\)\}'", arguments)
    assert "'library-set': 'none'" in arguments

    glue = aws.client("glue", aws_env)
    described = glue.get_job(JobName=ensure_glue_job(glue, aws_env, churn_contract))["Job"]
    assert described["Command"]["PythonVersion"] == "3.9"
    arguments = described["DefaultArguments"]
    assert arguments["--additional-python-modules"].split(",") == glue_python_modules()
    assert arguments["--extra-py-files"].endswith(".whl") and arguments["library-set"] == "none"
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^,= ]+", m) for m in glue_python_modules())
