"""What prodml.emulator.moto_hooks relies on in moto's internals. If an upgrade moves any of it, this fails
first, naming what moved (moto is pinned to a minor version in pyproject's `local` extra)."""

from __future__ import annotations

import datetime
import inspect

from moto.glue import models as glue_models
from moto.glue import responses as glue_responses
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker import responses as sagemaker_responses


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


def test_the_processing_job_internals_are_where_the_hooks_expect_them():
    create = inspect.signature(sagemaker_models.SageMakerModelBackend.create_processing_job).parameters
    assert {"processing_job_name", "app_specification", "processing_inputs", "stopping_condition"} <= set(
        create
    )
    # moto drops these two; the hook passes them itself. If moto takes them now, the hook can go.
    assert not {"environment", "processing_resources"} & set(create), (
        "moto keeps Environment now: drop the hook"
    )
    job_init = inspect.getsource(sagemaker_models.FakeProcessingJob.__init__)
    for attribute in ("processing_job_status", "processing_end_time", "last_modified_time", "creation_time"):
        assert f"self.{attribute}" in job_init, attribute
    assert hasattr(sagemaker_models.SageMakerModelBackend, "stop_processing_job")
    assert "processing_jobs" in inspect.getsource(sagemaker_models.SageMakerModelBackend.__init__)
    assert callable(getattr(sagemaker_responses.SageMakerResponse, "create_processing_job", None))
    listing = inspect.getsource(sagemaker_models.SageMakerModelBackend.list_processing_jobs)
    assert '"ProcessingJobSummaries": processing_job_summaries' in listing


def test_the_step_functions_internals_are_where_the_hooks_expect_them():
    from moto.core.config import default_user_config
    from moto.settings import moto_server_port
    from moto.stepfunctions import responses as sfn_responses
    from moto.stepfunctions.parser import models as sfn_models
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_callback,
        state_task_service_glue,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    from prodml.emulator import moto_hooks

    # The switch and the port the interpreter's clients use.
    assert "execute_state_machine" in default_user_config["stepfunctions"]
    assert "default_user_config" in inspect.getsource(sfn_responses.get_backend)
    assert "MOTO_PORT" in inspect.getsource(moto_server_port)
    assert "http://localhost:{moto_server_port()}" in inspect.getsource(boto_client.boto_client_for)
    # The clients whose results are made JSON-native are the modules' own imports.
    assert state_task_service_glue.boto_client_for and state_task_service_aws_sdk.boto_client_for
    # The .sync guard: the bug is still in moto's source (else drop _guard_sync_tasks).
    source = inspect.getsource(state_task_service_callback.StateTaskServiceCallback._eval_integration_pattern)
    moto_hooks.install()
    patched = getattr(
        state_task_service_callback.StateTaskServiceCallback._eval_integration_pattern,
        "_prodml_guarded",
        False,
    )
    assert patched or moto_hooks.SYNC_TASK_BUG.strip() in source, (
        "moto's .sync tasks changed: review the guard"
    )
    start = inspect.signature(sfn_models.StepFunctionsParserBackend.start_execution).parameters
    assert list(start)[:4] == ["self", "state_machine_arn", "name", "execution_input"]
    execution = inspect.getsource(sfn_models.Execution.__init__)
    for attribute in ("exec_status", "stop_date", "error", "cause"):
        assert f"self.{attribute}" in execution, attribute
    assert hasattr(sfn_models, "stepfunctions_parser_backends")


def test_the_step_functions_hooks_mend_what_they_say(monkeypatch):
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser import models as sfn_models
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_callback,
    )

    from prodml.emulator import moto_hooks

    monkeypatch.setenv("MOTO_PORT", "4566")  # restored after the test, as is moto's config
    monkeypatch.setitem(default_user_config, "stepfunctions", dict(default_user_config["stepfunctions"]))
    moto_hooks.execute_state_machines(4566)
    assert state_task_service_callback.StateTaskServiceCallback._eval_integration_pattern._prodml_guarded
    assert state_task_service_aws_sdk.boto_client_for._prodml_json
    assert sfn_models.StepFunctionsParserBackend.start_execution._prodml_named
    assert moto_hooks._json_native({"a": [datetime.datetime(2026, 1, 2, 3, 4, 5)]}) == {
        "a": ["2026-01-02T03:04:05"]
    }


def test_the_cloudwatch_and_eventbridge_internals_are_where_the_hooks_expect_them():
    from moto.cloudwatch import models as cloudwatch_models
    from moto.events import models as events_models
    from moto.events.utils import EventTemplateParser

    alarm = inspect.getsource(cloudwatch_models.Alarm.__init__)
    for attribute in (
        "state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history", "alarm_arn",
        "metric_data_queries", "treat_missing_data", "datapoints_to_alarm", "extended_statistic", "dimensions",
    ):  # fmt: skip
        assert f"self.{attribute}" in alarm, attribute
    assert "self.rule" in alarm
    set_state = inspect.signature(cloudwatch_models.CloudWatchBackend.set_alarm_state).parameters
    assert list(set_state) == ["self", "alarm_name", "reason", "reason_data", "state_value"]
    assert list(inspect.signature(cloudwatch_models.CloudWatchBackend.put_metric_alarm).parameters)[:2] == [
        "self",
        "name",
    ]
    assert "self.metric_data" in inspect.getsource(cloudwatch_models.CloudWatchBackend.__init__)
    for datum, attributes in (
        (cloudwatch_models.MetricDatum, ("value",)),
        (cloudwatch_models.MetricAggregatedDatum, ("sum", "min", "max", "sample_count")),
    ):
        source = inspect.getsource(datum.__init__)
        assert all(f"self.{a}" in source for a in attributes), datum
    # PutEvents hands every rule the event; the rule matches its pattern in send_to_targets.
    assert "rule.send_to_targets(event_msg)" in inspect.getsource(events_models.EventsBackend.put_events)
    assert 'event.get("Time"' in inspect.getsource(events_models.EventsBackend.put_events)
    assert "matches_event" in inspect.getsource(events_models.Rule.send_to_targets)
    assert callable(EventTemplateParser.parse)
