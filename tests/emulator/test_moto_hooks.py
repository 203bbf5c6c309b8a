"""What prodml.emulator.moto_hooks relies on in moto's internals. If an upgrade moves any of it, this fails
first, naming what moved (moto is pinned to a minor version in pyproject's `local` extra)."""

from __future__ import annotations

import inspect

from moto.glue import models as glue_models
from moto.glue import responses as glue_responses
from moto.sagemaker import models as sagemaker_models


def test_the_moto_internals_the_executor_uses_are_where_it_expects_them():
    run_init = inspect.signature(glue_models.FakeJobRun.__init__).parameters
    assert {"job_name", "arguments"} <= set(run_init)
    assert callable(glue_models.FakeJobRun.as_dict)
    job_source = inspect.getsource(glue_models.FakeJob.start_job_run)
    # Glue's argument merge and the concurrency check the executor relies on moto for.
    assert "default_arguments.copy()" in job_source and "non_overridable_arguments" in job_source
    assert "ConcurrentRunsExceededException" in job_source and '"STARTING", "RUNNING"' in job_source
    assert hasattr(glue_models, "glue_backends") and hasattr(sagemaker_models, "sagemaker_backends")
    create = inspect.signature(sagemaker_models.SageMakerModelBackend.create_training_job).parameters
    assert {"training_job_name", "hyper_parameters", "algorithm_specification", "input_data_config"} <= set(
        create
    )
    training = inspect.getsource(sagemaker_models.FakeTrainingJob.__init__)
    for attribute in ("training_job_status", "secondary_status", "final_metric_data_list", "model_artifacts"):
        assert f"self.{attribute}" in training, attribute
    assert "update_job" not in glue_responses.GlueResponse.__dict__ or getattr(
        glue_responses.GlueResponse.update_job, "__module__", ""
    ).startswith("prodml"), "moto now has UpdateJob itself: drop prodml's hook"


def test_installing_the_hooks_keeps_runs_pending_until_the_executor_moves_them():
    from prodml.emulator import moto_hooks

    moto_hooks.install()
    run = glue_models.FakeJobRun(job_name="j", arguments={})
    # Unhooked, moto's state manager reports a new run SUCCEEDED the first time its status is read.
    assert run.status == "STARTING" and run.status == "STARTING"
    run.status = "RUNNING"
    assert run.as_dict()["JobRunState"] == "RUNNING" and "CompletedOn" not in run.as_dict()
