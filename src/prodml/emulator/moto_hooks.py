"""The few places where prodml reaches into moto's in-process backends, so the executor can run jobs and
Step Functions can run state machines.

moto records a Glue job run, a SageMaker training job or a SageMaker Processing job and declares it
finished at once. The executor needs them to stay pending until it has run them, and then to carry what AWS
reports: a run's ``ErrorMessage`` and ``ExecutionTime``, a training job's own ``MetricDefinitions``,
``FailureReason`` and ``FinalMetricDataList``, a processing job's ``Environment``, ``ProcessingResources``,
``ProcessingStartTime``, ``ExitMessage`` and ``FailureReason`` (the runners, :mod:`prodml.emulator.glue`,
:mod:`prodml.emulator.sagemaker` and :mod:`prodml.emulator.processing`, set those as plain attributes on
moto's objects). moto also lacks Glue's ``UpdateJob``, which ``prodml ship`` calls to point a job at
released code; it is added here with AWS's semantics (the ``JobUpdate`` replaces the definition).

Step Functions: :func:`execute_state_machines` turns on moto's ASL interpreter and mends what keeps the
team's definitions from running on it (see there). Every patch of moto's code is in this file, and moto is
pinned to the minor version these hooks were written against (pyproject's ``local`` extra);
``tests/emulator/test_moto_hooks.py`` fails first if an upgrade moves them.
"""

from __future__ import annotations

import copy
import datetime
import functools
import inspect
import json
import os
import textwrap
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from moto.core.responses import ActionResult
from moto.glue import models as glue_models
from moto.glue import responses as glue_responses
from moto.sagemaker import exceptions as sagemaker_exceptions
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker import responses as sagemaker_responses

# What AWS reports and moto does not, set by the executor on moto's own objects.
GLUE_LOG_GROUP = "/aws-glue/python-jobs"
_installed = False


def install() -> None:
    """Patch moto once per process: job runs stay pending until the executor moves them."""
    global _installed
    if _installed:
        return
    _installed = True

    # Glue job runs: the status is whatever the executor set (moto's state manager would advance it).
    def _get_status(self: Any) -> str | None:
        return self._status

    def _set_status(self: Any, value: str) -> None:
        self._status = value

    glue_models.FakeJobRun.status = property(_get_status, _set_status)  # type: ignore[assignment,method-assign]  # a patch of moto's class
    original_as_dict = glue_models.FakeJobRun.as_dict

    @functools.wraps(original_as_dict)
    def as_dict(self: Any) -> dict[str, Any]:
        result = original_as_dict(self)
        result["LogGroupName"] = GLUE_LOG_GROUP
        result["ExecutionTime"] = getattr(self, "execution_time", 0)
        result.pop("GlueVersion", None)
        if getattr(self, "error_message", None):
            result["ErrorMessage"] = self.error_message
        if self._status in ("STARTING", "RUNNING", "STOPPING"):
            result.pop("CompletedOn", None)
        return result

    glue_models.FakeJobRun.as_dict = as_dict  # type: ignore[method-assign]  # a patch of moto's class

    # Glue UpdateJob: moto answers any action its response class has a method for.
    def update_job(self: Any) -> ActionResult:
        name = self._get_param("JobName")
        update = self._get_param("JobUpdate") or {}
        job = self.glue_backend.get_job(name)
        job.description = update.get("Description")
        job.log_uri = update.get("LogUri")
        job.role = update.get("Role", job.role)
        job.execution_property = update.get("ExecutionProperty") or {}
        job.command = update.get("Command", job.command)
        job.default_arguments = update.get("DefaultArguments") or {}
        job.non_overridable_arguments = update.get("NonOverridableArguments")
        job.connections = update.get("Connections")
        job.max_retries = update.get("MaxRetries")
        job.allocated_capacity = update.get("AllocatedCapacity")
        job.timeout = update.get("Timeout")
        job.max_capacity = update.get("MaxCapacity")
        job.security_configuration = update.get("SecurityConfiguration")
        job.notification_property = update.get("NotificationProperty")
        job.glue_version = update.get("GlueVersion")
        job.number_of_workers = update.get("NumberOfWorkers")
        job.worker_type = update.get("WorkerType")
        from moto.core.utils import utcnow

        job.last_modified_on = utcnow()
        return ActionResult({"JobName": name})

    glue_responses.GlueResponse.update_job = update_job  # type: ignore[attr-defined]  # the action moto lacks

    # SageMaker training jobs: keep the caller's MetricDefinitions (moto replaces them with a sample) and
    # start InProgress with no end time and no metrics.
    original_create = sagemaker_models.SageMakerModelBackend.create_training_job

    @functools.wraps(original_create)
    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        spec = kwargs.get("algorithm_specification") or {}
        definitions = list(spec.get("MetricDefinitions") or [])
        job = original_create(self, *args, **kwargs)
        if definitions:
            job.algorithm_specification["MetricDefinitions"] = definitions
        else:
            job.algorithm_specification.pop("MetricDefinitions", None)
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        # AWS leaves these unset until the job runs; moto types them as already set.
        job.training_start_time = None  # type: ignore[assignment]  # unset until the executor starts it
        job.training_end_time = None  # type: ignore[assignment]  # unset until it ends
        job.final_metric_data_list = None  # type: ignore[assignment]  # none until the log is scraped
        job.failure_reason = None  # type: ignore[attr-defined]  # AWS's FailureReason; moto has none
        return job

    sagemaker_models.SageMakerModelBackend.create_training_job = create_training_job  # type: ignore[method-assign]  # a patch of moto's class

    _install_processing_jobs()
    _install_alarm_events()


# ---- SageMaker Processing jobs --------------------------------------------------------------------------
# Held while a processing job's status moves between InProgress, Stopping and Stopped, so StopProcessingJob
# and the runner starting the job never both decide what happens to it.
PROCESSING_LOCK = threading.Lock()
_PROCESSING_DONE = ("Completed", "Failed", "Stopped")


def _install_processing_jobs() -> None:
    """moto records a processing job ``Completed`` at creation and drops ``Environment`` and
    ``ProcessingResources``; AWS keeps both and starts the job ``InProgress``. The runner
    (:mod:`prodml.emulator.processing`) sets ``processing_start_time``, ``exit_message``, ``failure_reason``
    and the end time as AWS reports them."""
    original_create = sagemaker_models.SageMakerModelBackend.create_processing_job

    @functools.wraps(original_create)
    def create_processing_job(
        self: Any,
        *args: Any,
        environment: dict[str, str] | None = None,
        processing_resources: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        name = kwargs["processing_job_name"]
        if name in self.processing_jobs:
            raise sagemaker_exceptions.ResourceInUseException(
                "Job name must be unique within an AWS account and region, and a job with this name already "
                f"exists ({self.processing_jobs[name].arn})"
            )
        job: Any = original_create(self, *args, **kwargs)  # Any: gains the attributes AWS reports
        job.environment = environment or None
        job.processing_resources = processing_resources
        job.processing_start_time = None
        job.processing_end_time = None
        job.exit_message = None
        job.failure_reason = None
        job.processing_job_status = "InProgress"  # last: the executor claims it from here on
        return job

    sagemaker_models.SageMakerModelBackend.create_processing_job = create_processing_job  # type: ignore[method-assign]  # a patch of moto's class

    # moto's response passes only the parameters its model has; this one passes the two it drops as well.
    def create_processing_job_response(self: Any) -> ActionResult:
        job = self.sagemaker_backend.create_processing_job(
            app_specification=self._get_param("AppSpecification"),
            experiment_config=self._get_param("ExperimentConfig"),
            network_config=self._get_param("NetworkConfig"),
            processing_inputs=self._get_param("ProcessingInputs"),
            processing_job_name=self._get_param("ProcessingJobName"),
            processing_output_config=self._get_param("ProcessingOutputConfig"),
            role_arn=self._get_param("RoleArn"),
            stopping_condition=self._get_param("StoppingCondition"),
            tags=self._get_param("Tags"),
            environment=self._get_param("Environment"),
            processing_resources=self._get_param("ProcessingResources"),
        )
        return ActionResult({"ProcessingJobArn": job.arn})

    sagemaker_responses.SageMakerResponse.create_processing_job = create_processing_job_response  # type: ignore[method-assign]  # a patch of moto's class

    # DescribeProcessingJob's shape (moto's echoes every attribute, Tags included, and no start time).
    def response_object(self: Any) -> dict[str, Any]:
        described = {
            "ProcessingInputs": self.processing_inputs,
            "ProcessingOutputConfig": self.processing_output_config,
            "ProcessingJobName": self.processing_job_name,
            "ProcessingResources": getattr(self, "processing_resources", None),
            "StoppingCondition": self.stopping_condition,
            "AppSpecification": self.app_specification,
            "Environment": getattr(self, "environment", None),
            "NetworkConfig": self.network_config,
            "RoleArn": self.role_arn,
            "ExperimentConfig": self.experiment_config,
            "ProcessingJobArn": self.arn,
            "ProcessingJobStatus": self.processing_job_status,
            "ExitMessage": getattr(self, "exit_message", None),
            "FailureReason": getattr(self, "failure_reason", None),
            "ProcessingEndTime": self.processing_end_time,
            "ProcessingStartTime": getattr(self, "processing_start_time", None),
            "LastModifiedTime": self.last_modified_time,
            "CreationTime": self.creation_time,
        }
        return {key: value for key, value in described.items() if value not in (None, [], {})}

    sagemaker_models.FakeProcessingJob.response_object = property(response_object)  # type: ignore[method-assign,assignment]  # a patch of moto's class

    # ListProcessingJobs' summaries: FailureReason and ExitMessage too, no ProcessingEndTime before the end.
    original_list = sagemaker_models.SageMakerModelBackend.list_processing_jobs

    @functools.wraps(original_list)
    def list_processing_jobs(self: Any, *args: Any, **kwargs: Any) -> Any:
        listed = original_list(self, *args, **kwargs)
        for summary in listed.get("ProcessingJobSummaries", []):
            job = self.processing_jobs.get(summary["ProcessingJobName"])
            for key, value in (
                ("FailureReason", getattr(job, "failure_reason", None)),
                ("ExitMessage", getattr(job, "exit_message", None)),
            ):
                if value:
                    summary[key] = value
            if summary.get("ProcessingEndTime") is None:
                summary.pop("ProcessingEndTime", None)
        return listed

    sagemaker_models.SageMakerModelBackend.list_processing_jobs = list_processing_jobs  # type: ignore[method-assign]  # a patch of moto's class

    # StopProcessingJob: InProgress → Stopping (the runner kills the container, then Stopped); a job the
    # executor has not started yet is Stopped at once. AWS refuses to stop a job that has ended.
    def stop_processing_job(self: Any, processing_job_name: str) -> None:
        job = self.processing_jobs.get(processing_job_name)
        if job is None:
            arn = sagemaker_models.FakeProcessingJob.arn_formatter(
                processing_job_name, self.account_id, self.region_name
            )
            raise sagemaker_exceptions.ValidationError(message=f"Could not find processing job '{arn}'.")
        from moto.core.utils import utcnow

        with PROCESSING_LOCK:
            if job.processing_job_status in _PROCESSING_DONE:
                raise sagemaker_exceptions.ValidationError(
                    message=f"The job {processing_job_name} has already reached a terminal state "
                    f"({job.processing_job_status}) and cannot be stopped."
                )
            job.last_modified_time = utcnow()
            if getattr(job, "processing_start_time", None) is None:
                job.processing_end_time = job.last_modified_time
                job.processing_job_status = "Stopped"
            else:
                job.processing_job_status = "Stopping"

    sagemaker_models.SageMakerModelBackend.stop_processing_job = stop_processing_job  # type: ignore[method-assign]  # a patch of moto's class


# ---- CloudWatch alarms and EventBridge -------------------------------------------------------------------
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"


def _install_alarm_events() -> None:
    """What AWS does around an alarm's state and moto does not:

    - a new alarm is ``INSUFFICIENT_DATA`` until evaluated, and PutMetricAlarm on an existing one keeps its
      state (moto starts both at ``OK``: re-creating an alarm in ALARM would fire it again);
    - every state change (SetAlarmState, or :mod:`prodml.emulator.alarms`' evaluation, which goes through it)
      sends the "CloudWatch Alarm State Change" event to the default event bus;
    - a rule delivers only while ``ENABLED``, and to Step Functions targets too: StartExecution with the
      target's ``Input``, ``InputPath`` or ``InputTransformer``, else the event (moto raises
      NotImplementedError for a state machine target).
    """
    from moto.cloudwatch import models as cloudwatch_models
    from moto.events import models as events_models

    original_put_alarm = cloudwatch_models.CloudWatchBackend.put_metric_alarm

    @functools.wraps(original_put_alarm)
    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        previous = self.alarms.get(name)
        alarm = original_put_alarm(self, name, *args, **kwargs)
        if previous is not None:
            alarm.state_value, alarm.state_reason = previous.state_value, previous.state_reason
            alarm.state_reason_data = previous.state_reason_data
            alarm.state_updated_timestamp, alarm.history = previous.state_updated_timestamp, previous.history
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
        return alarm

    cloudwatch_models.CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]  # a patch of moto's class
    original_set_state = cloudwatch_models.CloudWatchBackend.set_alarm_state

    @functools.wraps(original_set_state)
    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = self.alarms.get(alarm_name)
        before = _alarm_state(alarm) if alarm is not None else None
        original_set_state(self, alarm_name, reason, reason_data, state_value)
        if before is not None and before["value"] != alarm.state_value:
            try:
                _send_alarm_event(self.account_id, self.region_name, alarm, before)
            except Exception as exc:  # a target moto cannot deliver to must not fail SetAlarmState
                print(
                    f"prodml emulator: alarm event of {alarm_name}: {type(exc).__name__}: {exc}", flush=True
                )

    cloudwatch_models.CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]  # a patch of moto's class
    original_send = events_models.Rule.send_to_targets

    @functools.wraps(original_send)
    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        states = [t for t in self.targets if t["Arn"].split(":")[2:3] == ["states"]]
        for target in states:
            _start_execution(target, original_event)
        if len(states) < len(self.targets):
            others = copy.copy(self)
            others.targets = [t for t in self.targets if t not in states]
            original_send(others, original_event, transform_input)

    events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]  # a patch of moto's class


def _aws_time(value: datetime.datetime) -> str:
    """CloudWatch's timestamp format in alarm events: ``2026-11-30T02:04:40.985+0000``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _alarm_state(alarm: Any) -> dict[str, Any]:
    state = {"value": alarm.state_value, "reason": alarm.state_reason}
    if alarm.state_reason_data and alarm.state_reason_data != "{}":
        state["reasonData"] = alarm.state_reason_data
    state["timestamp"] = _aws_time(alarm.state_updated_timestamp)
    return state


def _alarm_configuration(alarm: Any) -> dict[str, Any]:
    metric: dict[str, Any] = {"namespace": alarm.namespace, "name": alarm.metric_name}
    metric["dimensions"] = {d.name: d.value for d in alarm.dimensions}
    stat = {"metric": metric, "period": alarm.period, "stat": alarm.statistic or alarm.extended_statistic}
    configuration: dict[str, Any] = {
        "metrics": [{"id": "m1", "metricStat": stat, "returnData": True}] if alarm.metric_name else []
    }
    if alarm.description:
        configuration["description"] = alarm.description
    return configuration


def _send_alarm_event(account_id: str, region: str, alarm: Any, previous: dict[str, Any]) -> None:
    """The event AWS sends to the default bus on an alarm's state change, through moto's PutEvents (which
    matches every rule's pattern)."""
    from moto.events import models as events_models

    detail = {
        "alarmName": alarm.name,
        "state": _alarm_state(alarm),
        "previousState": previous,
        "configuration": _alarm_configuration(alarm),
    }
    when = alarm.state_updated_timestamp.replace(tzinfo=datetime.UTC)
    entry = {
        "Source": "aws.cloudwatch",
        "DetailType": ALARM_STATE_CHANGE,
        "Detail": json.dumps(detail),
        "Resources": [alarm.alarm_arn],
        "Time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    events_models.events_backends[account_id][region].put_events([entry])


def _start_execution(target: dict[str, Any], event: Any) -> None:
    from moto.events.utils import EventTemplateParser
    from moto.stepfunctions.responses import get_backend

    delivered = {key: value for key, value in event.items() if key != "ingestion-time"}
    if "Input" in target:
        execution_input = target["Input"]
    elif "InputPath" in target:
        from jsonpath_ng.ext import parse

        found = parse(target["InputPath"]).find(delivered)
        execution_input = json.dumps(found[0].value if found else None)
    elif "InputTransformer" in target:
        transformer = target["InputTransformer"]
        execution_input = json.dumps(
            EventTemplateParser.parse(
                transformer["InputTemplate"], transformer.get("InputPathsMap", {}), event
            )
        )
    else:
        execution_input = json.dumps(delivered)
    _, _, _, region, account_id, *_ = target["Arn"].split(":")
    try:
        get_backend(account_id, region).start_execution(target["Arn"], "", execution_input)  # "": a UUID
    except Exception as exc:  # AWS counts a failed invocation; the event is not retried here
        print(f"prodml emulator: rule target {target['Arn']} failed: {type(exc).__name__}: {exc}", flush=True)


def execute_state_machines(port: int) -> None:
    """Have moto's Step Functions run executions with its ASL interpreter (LocalStack's), whose tasks call
    services through boto3 at ``http://localhost:$MOTO_PORT``: this server (``localhost`` reaches the
    127.0.0.1 bind). Without it, moto records an execution and never runs it. Also mended here:

    - a ``.sync`` task of a service without task tokens (``glue:startJobRun.sync``) always failed;
    - task results carried boto3's datetimes, which broke DescribeExecution; they are ISO 8601 strings;
    - StartExecution without a name got the name ``None``; it gets a UUID, as on AWS.
    """
    from moto.core.config import default_user_config

    os.environ["MOTO_PORT"] = str(port)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    _guard_sync_tasks()
    _json_task_results()
    from moto.stepfunctions.parser import models as sfn_models

    original_start = sfn_models.StepFunctionsParserBackend.start_execution
    if getattr(original_start, "_prodml_named", False):
        return

    # StartExecution without a name: AWS names the execution with a UUID; moto names it "None" (and then
    # returns that first execution again for every later unnamed start with the same input).
    @functools.wraps(original_start)
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    start_execution._prodml_named = True  # type: ignore[attr-defined]  # marks the wrapper
    sfn_models.StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]  # a patch of moto's class


# moto 5.2's interpreter ends every .sync task by calling interrupt_all() on its task-token endpoint, which
# only services with waitForTaskToken have: glue:startJobRun.sync always fails with "'NoneType' object has
# no attribute 'interrupt_all'" (LocalStack's interpreter, which moto vendors, fixed it in its PR 13705).
# The method's lines, dedented.
SYNC_TASK_BUG = "        callback_endpoint.interrupt_all()\n"
_SYNC_TASK_FIX = "        if callback_endpoint is not None:\n            callback_endpoint.interrupt_all()\n"


def _guard_sync_tasks() -> None:
    """Recompile that one method of moto's with the call guarded, as upstream fixed it."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )

    method = callback.StateTaskServiceCallback._eval_integration_pattern
    lines, first = inspect.getsourcelines(method)
    source = textwrap.dedent("".join(lines))
    if getattr(method, "_prodml_guarded", False) or SYNC_TASK_BUG not in source:
        return  # patched already, or moto fixed it (tests/emulator/test_moto_hooks.py says which)
    namespace: dict[str, Any] = {}
    # Padded to its own line numbers, so a traceback through it shows moto's lines.
    fixed = "\n" * (first - 1) + source.replace(SYNC_TASK_BUG, _SYNC_TASK_FIX)
    code = compile(fixed, inspect.getsourcefile(method) or "moto", "exec")
    exec(code, vars(callback), namespace)  # moto's own source with that one line guarded
    guarded = namespace["_eval_integration_pattern"]
    guarded._prodml_guarded = True
    callback.StateTaskServiceCallback._eval_integration_pattern = guarded  # type: ignore[method-assign]  # a patch of moto's class


def _json_native(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_native(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_native(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _json_task_results() -> None:
    """A task's result becomes state data, which must be JSON; boto3 parses timestamps into datetimes, and
    moto's DescribeExecution then fails on an execution whose output holds one (a Glue run's ``StartedOn``, a
    processing job's ``CreationTime``). The interpreter's clients give them as ISO 8601 strings instead."""
    import importlib
    import pkgutil

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import service

    def as_json(parsed: dict[str, Any], **_: Any) -> None:
        parsed.update(_json_native(parsed))

    def wrap(original: Any) -> Any:
        @functools.wraps(original)
        def boto_client_for(*args: Any, **kwargs: Any) -> Any:
            client = original(*args, **kwargs)
            client.meta.events.register("after-call.*.*", as_json)
            return client

        boto_client_for._prodml_json = True  # type: ignore[attr-defined]  # marks the wrapper
        return boto_client_for

    for info in pkgutil.iter_modules(service.__path__, service.__name__ + "."):
        module = importlib.import_module(info.name)
        original = getattr(module, "boto_client_for", None)
        if original is not None and not getattr(original, "_prodml_json", False):
            module.boto_client_for = wrap(original)  # type: ignore[attr-defined]  # the module's own import


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    for account_id, regions in list(backend_dict.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def glue_job_runs() -> Iterator[tuple[str, str, Any, Any]]:
    """(account, region, job, run) for every Glue job run moto holds."""
    for account_id, region, backend in _backends(glue_models.glue_backends):
        for job in list(backend.jobs.values()):
            for run in list(job.job_runs):
                yield account_id, region, job, run


def training_jobs() -> Iterator[tuple[str, str, Any]]:
    """(account, region, job) for every SageMaker training job moto holds."""
    for account_id, region, backend in _backends(sagemaker_models.sagemaker_backends):
        for job in list(backend.training_jobs.values()):
            yield account_id, region, job


def processing_jobs() -> Iterator[tuple[str, str, Any]]:
    """(account, region, job) for every SageMaker processing job moto holds."""
    for account_id, region, backend in _backends(sagemaker_models.sagemaker_backends):
        for job in list(backend.processing_jobs.values()):
            yield account_id, region, job


def metric_alarms() -> Iterator[tuple[str, str, Any]]:
    """(account, region, alarm) for every CloudWatch alarm moto holds."""
    from moto.cloudwatch import models as cloudwatch_models

    for account_id, region, backend in _backends(cloudwatch_models.cloudwatch_backends):
        for alarm in list(backend.alarms.values()):
            yield account_id, region, alarm


def metric_data(account_id: str, region: str) -> list[Any]:
    """Every datapoint moto holds for one account and region (``MetricDatum`` / ``MetricAggregatedDatum``)."""
    from moto.cloudwatch import models as cloudwatch_models

    return list(cloudwatch_models.cloudwatch_backends[account_id][region].metric_data)


def state_machine_executions() -> Iterator[tuple[str, str, Any]]:
    """(account, region, execution) for every execution moto's ASL interpreter holds."""
    from moto.stepfunctions.parser import models as sfn_models

    for account_id, region, backend in _backends(sfn_models.stepfunctions_parser_backends):
        for machine in list(backend.state_machines):
            for execution in list(getattr(machine, "executions", [])):
                yield account_id, region, execution


def fail_interrupted_executions(cause: str) -> int:
    """Executions that were running when the emulator stopped cannot resume (their worker threads are gone):
    they are failed with ``States.Runtime`` and ``cause``, as an execution whose runtime failed; a processing
    job that was stopping is Stopped. Returns how many executions were failed. (A processing job that was
    running is failed by its runner when the executor reaches it, see :mod:`prodml.emulator.processing`.)"""
    from moto.stepfunctions.parser.api import ExecutionStatus

    failed = 0
    for _, _, execution in state_machine_executions():
        if execution.exec_status == ExecutionStatus.RUNNING:
            execution.error, execution.cause = "States.Runtime", cause
            execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
            execution.exec_status = ExecutionStatus.FAILED
            failed += 1
    # A processing job being stopped when the emulator stopped: its container is gone, so it is Stopped.
    for _, _, job in processing_jobs():
        if job.processing_job_status == "Stopping":
            job.processing_end_time = job.last_modified_time = datetime.datetime.now(tz=datetime.UTC).replace(
                tzinfo=None
            )
            job.processing_job_status = "Stopped"
    return failed
