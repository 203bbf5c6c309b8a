"""The names Terraform builds (modules/naming) are the names prodml.naming builds, for every environment.

Terraform itself evaluates the module (`terraform console`, offline: the module has no provider), so this
compares real HCL evaluation with the Python functions rather than a re-implementation of either.
"""

from __future__ import annotations

import json
import shutil

import pytest

from prodml import naming
from prodml.jobs import orchestration_spec
from tests.terraform.terraform_config import (
    ENVIRONMENTS,
    MODULES,
    PLATFORM,
    load_blocks,
    run_terraform,
    unwrap,
)

DATASETS = ["customer_churn", "house_prices"]
# The state machine kinds the platform root passes (orchestration.yaml's state_machines).
KINDS = list(orchestration_spec().state_machines)


def evaluate_names(tmp_path, project: str, env: str, datasets: list[str]) -> tuple[int, dict | None, str]:
    workdir = tmp_path / f"naming-{project}-{env}"
    shutil.copytree(MODULES / "naming", workdir)
    result = run_terraform(
        "console",
        f"-var=project={project}",
        f"-var=environment={env}",
        f"-var=datasets={json.dumps(datasets)}",
        f"-var=state_machine_kinds={json.dumps(KINDS)}",
        cwd=workdir,
        stdin="jsonencode(local.names)\n",
    )
    if result.returncode != 0:
        return result.returncode, None, result.stderr
    # console prints the jsonencode()d string as an HCL string literal: decode twice.
    return 0, json.loads(json.loads(result.stdout.strip())), result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_hcl_names_match_python_naming(tmp_path, env):
    project = "prodml"
    code, names, stderr = evaluate_names(tmp_path, project, env, DATASETS)
    assert code == 0, stderr

    assert names["bucket_names"] == {zone: naming.bucket_name(project, env, zone) for zone in naming.ZONES}
    assert names["glue_database_name"] == naming.glue_database_name(project, env)
    assert names["ecr_repository_name"] == naming.ecr_repository_name(project, env)
    assert names["log_group_names"] == {
        purpose: naming.log_group_name(project, env, purpose) for purpose in naming.LOG_GROUP_PURPOSES
    }
    assert names["model_package_group_names"] == {
        dataset: naming.model_package_group_name(project, env, dataset) for dataset in DATASETS
    }
    assert names["glue_job_names"] == {
        dataset: naming.glue_job_name(project, env, dataset) for dataset in DATASETS
    }
    assert names["image_parameter_name"] == naming.image_parameter_name(project, env)
    assert names["drift_alarm_names"] == {
        dataset: naming.drift_alarm_name(project, env, dataset) for dataset in DATASETS
    }
    assert names["processing_role_name"] == naming.processing_role_name(project, env)
    assert names["knowledge_queue_name"] == naming.knowledge_queue_name(project, env)
    assert names["knowledge_dead_letter_queue_name"] == naming.knowledge_dead_letter_queue_name(project, env)
    assert names["job_name_prefixes"] == {
        dataset: naming.job_name_prefix(project, env, dataset) for dataset in DATASETS
    }
    assert names["state_machine_names"] == {
        dataset: {kind: naming.state_machine_name(project, env, dataset, kind) for kind in KINDS}
        for dataset in DATASETS
    }
    # The state machines name a run's processing jobs <job name prefix>-<step>-<run id> (States.Format in the
    # ASL templates): the names prodml.naming.processing_job_name gives.
    for dataset in DATASETS:
        assert f"{names['job_name_prefixes'][dataset]}-train-1a2b3c4d" == naming.processing_job_name(
            project, env, dataset, "train", "1a2b3c4d"
        )
    # Terraform-only names still follow the convention.
    for key in (
        "access_log_bucket_name",
        "inference_service_name",
        "alerts_topic_name",
        "training_name",
        "knowledge_worker_name",
        "knowledge_guardrail_name",
        "knowledge_vector_bucket_name",
    ):
        assert names[key].startswith(f"{project}-{env}-"), key
    assert names["orchestration_log_group_name"] == f"/{project}-{env}-orchestration"


def test_spot_check_against_literal_names(tmp_path):
    # Guards against both sides drifting together: the documented names, written out.
    _, names, stderr = evaluate_names(tmp_path, "prodml", "dev", ["customer_churn"])
    assert names is not None, stderr
    assert names["bucket_names"]["raw"] == "prodml-dev-raw"
    assert names["glue_database_name"] == "prodml_dev_catalog"
    assert names["log_group_names"]["inference"] == "/prodml-dev-inference"
    assert names["model_package_group_names"]["customer_churn"] == "prodml-dev-customer-churn"
    assert names["state_machine_names"]["customer_churn"]["retrain"] == "prodml-dev-customer-churn-retrain"
    assert names["image_parameter_name"] == "/prodml-dev-inference/image-uri"
    assert names["knowledge_queue_name"] == "prodml-dev-knowledge-ingest"
    assert names["knowledge_dead_letter_queue_name"] == "prodml-dev-knowledge-ingest-dlq"


def test_name_over_63_characters_is_refused_by_both(tmp_path):
    long_dataset = "d" * 50
    with pytest.raises(ValueError, match="63"):
        naming.glue_job_name("prodml", "prod", long_dataset)
    code, _, stderr = evaluate_names(tmp_path, "prodml", "prod", [long_dataset])
    assert code != 0
    assert "longer than 63 characters" in stderr


def test_a_state_machine_name_over_63_characters_is_refused_by_both(tmp_path):
    # The Glue job's name fits; the retrain state machine's does not.
    dataset = "d" * 45
    naming.glue_job_name("prodml", "prod", dataset)
    with pytest.raises(ValueError, match="63"):
        naming.state_machine_name("prodml", "prod", dataset, "retrain")
    code, _, stderr = evaluate_names(tmp_path, "prodml", "prod", [dataset])
    assert code != 0
    assert "longer than 63 characters" in stderr


def test_a_dataset_whose_retraining_job_names_pass_63_characters_is_refused_by_both(tmp_path):
    """The state machine's name fits, but <prefix>-register-<run id>, named mid-run by the retrain state
    machine, would not: both sides refuse it up front, at the same length."""
    from prodml.orchestration import LONGEST_STEP, RUN_ID_EXAMPLE

    fits = 63 - len(f"prodml-prod--{LONGEST_STEP}-{RUN_ID_EXAMPLE}")
    naming.processing_job_name("prodml", "prod", "d" * fits, LONGEST_STEP, RUN_ID_EXAMPLE)
    code, _, stderr = evaluate_names(tmp_path / "fits", "prodml", "prod", ["d" * fits])
    assert code == 0, stderr
    naming.state_machine_name("prodml", "prod", "d" * (fits + 1), "retrain")
    with pytest.raises(ValueError, match="63"):
        naming.processing_job_name("prodml", "prod", "d" * (fits + 1), LONGEST_STEP, RUN_ID_EXAMPLE)
    code, _, stderr = evaluate_names(tmp_path / "too-long", "prodml", "prod", ["d" * (fits + 1)])
    assert code != 0 and "longer than 63 characters" in stderr


def test_unknown_environment_is_refused(tmp_path):
    code, _, stderr = evaluate_names(tmp_path, "prodml", "qa", DATASETS)
    assert code != 0
    assert "dev, staging, prod" in stderr


def test_the_platform_root_takes_every_name_from_the_naming_module():
    """No root builds a name by hand: each *name* input of a module call comes from module.naming."""
    calls = load_blocks(PLATFORM, "module")
    assert "naming" in calls
    name_inputs = {
        (call, key): unwrap(value)
        for call, (_, body) in calls.items()
        if call != "naming"
        for key, value in body.items()
        if key in {"name", "bucket_names", "access_log_bucket_name", "job_names", "database_name"}
        or key in {"repository_name", "log_group_names", "alerts_topic_name", "model_package_group_names"}
    }
    assert len(name_inputs) >= 10
    for (call, key), value in name_inputs.items():
        assert str(value).startswith("${module.naming."), f"module.{call}.{key} = {value!r}"


def test_naming_tftest_passes_offline(tmp_path):
    # The one .tftest.hcl that needs no provider, so it runs here as well as for users.
    workdir = tmp_path / "naming"
    shutil.copytree(MODULES / "naming", workdir)
    init = run_terraform("init", "-input=false", "-no-color", cwd=workdir)
    assert init.returncode == 0, init.stderr
    result = run_terraform("test", "-no-color", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 0 failed" in result.stdout
