"""The closed loop's orchestration: start a dataset's retrain or drift state machine and follow it.

The state machines are the ASL templates of ``prodml/jobs/orchestration.yaml``, rendered from the variables
:func:`state_machine_variables` builds (Terraform builds the same values in modules/ and renders the same
files with ``templatefile()``). On AWS they poll their jobs every ``poll_seconds`` of orchestration.yaml; on
the emulator, bootstrap renders them with :data:`EMULATOR_POLL_SECONDS`, and that is the only difference.
``prodml retrain`` and ``prodml drift`` start an execution as the drift alarm and the schedules do, and
:func:`follow` reports it from the Step Functions API alone (``DescribeExecution``, ``GetExecutionHistory``)
plus the running job's log, so it follows an execution on AWS and on the emulator alike. The results are read
from where the jobs put them: the model registry (a retrain's registered version and the gate's decision) and
the monitoring prefix of the artifacts bucket (a drift run's ``drift.json`` and ``drift.html``).

It starts executions and reads; it never runs a job itself and never changes a model's status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodml import aws, naming
from prodml.jobs import (
    monitoring_spec,
    orchestration_spec,
    processing_spec,
    render_template,
)
from prodml.jobs.watch import PROCESSING_DONE, PROCESSING_LOG_GROUP, LogTail, parse_event
from prodml.registry import ModelRegistry, ModelVersion
from prodml.settings import Settings
from prodml.zones import Zones

KINDS = ("retrain", "drift")
# The emulator's state machines poll their jobs every second (AWS's: orchestration.yaml's poll_seconds).
EMULATOR_POLL_SECONDS = 1
# A run id as the templates make it (YYYYMMDD-HHMMSS and 4 hex digits) and the longest step name they use.
RUN_ID_EXAMPLE = "20260101-000000-abcd"
LONGEST_STEP = "register"
DRIFT_JSON = "drift.json"
DRIFT_HTML = "drift.html"
DRIFT_ALARM_EVENT = "drift_alarm_event.json"  # beside the ASL templates; Terraform reads it too
_DONE = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class OrchestrationError(RuntimeError):
    """An execution that did not succeed, or a result that is not where it should be."""


class AlreadyRunning(OrchestrationError):
    """The state machine has an execution running: one at a time."""


def untyped_client(service: str, settings: Settings) -> Any:
    """A client through :func:`prodml.aws.client` for a service with no typed overload there (stepfunctions,
    events, cloudwatch): the lint environment has no types-boto3 stubs for them."""
    return aws.client(service, settings)  # type: ignore[call-overload]  # no overload for this service


# ---- what the state machines are built from -----------------------------------------------------------


def processing_role_arn(settings: Settings, account_id: str) -> str:
    """The processing jobs' execution role Terraform creates, by the naming convention."""
    return f"arn:aws:iam::{account_id}:role/{naming.processing_role_name(settings.project, settings.env)}"


def state_machine_variables(
    settings: Settings, dataset: str, account_id: str, *, poll_seconds: int | None = None
) -> dict[str, object]:
    """Every template variable of orchestration.yaml for ``dataset``, from the naming convention and the job
    specs (Terraform builds the same values). ``poll_seconds`` defaults to orchestration.yaml's (AWS's)."""
    p, e = settings.project, settings.env
    # The longest job name a run makes must be a legal SageMaker name: refused here, not mid-run.
    naming.processing_job_name(p, e, dataset, LONGEST_STEP, RUN_ID_EXAMPLE)
    processing, monitoring = processing_spec(), monitoring_spec()
    return {
        "dataset": dataset,
        "project": p,
        "env": e,
        "region": settings.region,
        "job_name_prefix": naming.job_name_prefix(p, e, dataset),
        "etl_job_name": naming.glue_job_name(p, e, dataset),
        "image_parameter_name": naming.image_parameter_name(p, e),
        "processing_role_arn": processing_role_arn(settings, account_id),
        "artifacts_bucket": settings.bucket("artifacts"),
        "instance_type": processing.instance_type,
        "volume_size_gb": processing.volume_size_gb,
        "max_runtime_seconds": processing.max_runtime_seconds,
        "poll_seconds": orchestration_spec().poll_seconds if poll_seconds is None else poll_seconds,
        "window_hours": monitoring.window_hours,
    }


def drift_alarm_event_pattern(alarm_arn: str) -> dict[str, Any]:
    """The EventBridge pattern of the rule that starts retraining when ``alarm_arn`` goes to ALARM."""
    from importlib import resources

    text = resources.files("prodml.jobs").joinpath(DRIFT_ALARM_EVENT).read_text(encoding="utf-8")
    pattern: dict[str, Any] = json.loads(render_template(text, {"alarm_arn": alarm_arn}, DRIFT_ALARM_EVENT))
    return pattern


def state_machine_arn(settings: Settings, dataset: str, kind: str, account_id: str | None = None) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown state machine kind {kind!r}; kinds are {', '.join(KINDS)}")
    account = account_id or aws.client("sts", settings).get_caller_identity()["Account"]
    name = naming.state_machine_name(settings.project, settings.env, dataset, kind)
    return f"arn:aws:states:{settings.region}:{account}:stateMachine:{name}"


# ---- starting and following an execution ---------------------------------------------------------------


def start(kind: str, dataset: str, settings: Settings, input: Mapping[str, Any] | None = None) -> str:
    """Start the dataset's ``kind`` state machine, as its schedule or the drift alarm does; the execution ARN.
    :class:`AlreadyRunning` while an execution of it runs."""
    sfn = untyped_client("stepfunctions", settings)
    arn = state_machine_arn(settings, dataset, kind)
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        where = (
            "`make apply` creates it; an environment that serves promoted models has no retrain state machine"
            if settings.is_real_aws
            else "run `prodml bootstrap`"
        )
        raise LookupError(f"no {kind} state machine for {dataset!r} ({arn}): {where}") from None
    # One run at a time: a second retraining would fail on the ETL job's one-run limit halfway, and a second
    # drift check would only repeat the first. (The drift alarm's rule starts executions itself.)
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"]
    if running:
        raise AlreadyRunning(
            f"the {kind} state machine of {dataset!r} is already running {running[0]['executionArn']} "
            f"(started {running[0]['startDate']:%Y-%m-%d %H:%M:%S %Z}): wait for it, or stop it first"
        )
    document = dict(input or {"started_by": "prodml"})
    return str(sfn.start_execution(stateMachineArn=arn, input=json.dumps(document))["executionArn"])


@dataclass(frozen=True)
class ExecutionEvent:
    """Something that happened in an execution, for a caller to present.

    ``kind`` is ``state`` (a state was entered: ``state``, ``progress`` in [0, 1], ``first`` on its first
    visit), ``job`` (a job's status changed: ``job``, ``status``), ``log`` (a ``PRODML_EVENT`` a step job
    printed: ``detail``) or ``failed`` (a task or the execution failed: ``error``, ``cause``)."""

    kind: str
    state: str | None = None
    progress: float | None = None
    first: bool = False
    job: str | None = None
    status: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    status: str
    output: dict[str, Any]
    error: str | None
    cause: str | None
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def main_path(definition: Mapping[str, Any]) -> list[str]:
    """The states of a successful run in order: from StartAt along each ``Next`` (a Choice's first rule)."""
    states, order = definition["States"], []
    name: str | None = definition["StartAt"]
    while name is not None and name not in order:
        order.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            name = state["Choices"][0]["Next"] if state.get("Choices") else state.get("Default")
        else:
            name = None if state.get("End") else state.get("Next")
    return order


class _ProcessingLog:
    """New ``PRODML_EVENT`` lines of a processing job's log streams (``<job>/...``), each read from where the
    last read stopped (the log reader of :mod:`prodml.jobs.watch`)."""

    def __init__(self, logs: Any):
        self.tail = LogTail(logs)

    def events(self, job: str) -> list[dict[str, Any]]:
        lines = self.tail.job_lines(PROCESSING_LOG_GROUP, job)
        return [event for event in map(parse_event, lines) if event is not None]


def follow(
    execution_arn: str,
    settings: Settings,
    on_event: Callable[[ExecutionEvent], None] = lambda event: None,
    *,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> ExecutionResult:
    """Follow an execution to its end, reporting states entered, job status changes and the step jobs'
    ``PRODML_EVENT`` lines through ``on_event``; its result (whatever the status: the caller decides)."""
    sfn, logs = untyped_client("stepfunctions", settings), aws.client("logs", settings)
    started = time.monotonic()
    described = sfn.describe_execution(executionArn=execution_arn)
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=described["stateMachineArn"])["definition"]
    )
    path = main_path(definition)
    seen_ids: set[int] = set()
    visited: set[str] = set()
    job_status: dict[str, str] = {}
    log = _ProcessingLog(logs)
    # Processing jobs whose log is read each poll: name -> ended (read once more after it ended, then dropped).
    tailing: dict[str, bool] = {}

    def history() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def report(event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            progress = (path.index(name) / max(len(path) - 1, 1)) if name in path else None
            on_event(ExecutionEvent("state", state=name, progress=progress, first=name not in visited))
            visited.add(name)
        elif kind == "TaskStateExited":
            output = _json(event["stateExitedEventDetails"].get("output"))
            job = output.get("job") if isinstance(output, dict) else None
            if isinstance(job, dict) and job.get("name") and job.get("status"):
                name, status = str(job["name"]), str(job["status"])
                if "ProcessingJobArn" in (job.get("description") or {}):
                    tailing[name] = status in PROCESSING_DONE
                if job_status.get(name) != status:
                    job_status[name] = status
                    on_event(ExecutionEvent("job", job=name, status=status))
        elif kind in ("TaskFailed", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            on_event(ExecutionEvent("failed", error=details.get("error"), cause=details.get("cause")))

    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        for event in history():
            if event["id"] not in seen_ids:
                seen_ids.add(event["id"])
                report(event)
        finished = described["status"] in _DONE
        for name, ended in list(tailing.items()):
            for detail in log.events(name):
                on_event(ExecutionEvent("log", job=name, detail=detail))
            if ended or finished:
                del tailing[name]
        if finished:
            output = _json(described.get("output"))
            return ExecutionResult(
                execution_arn,
                described["status"],
                output if isinstance(output, dict) else {},
                described.get("error"),
                described.get("cause"),
                time.monotonic() - started,
            )
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise TimeoutError(
                f"execution still {described['status']} after {timeout_seconds:.0f}s; it goes on without this "
                f"command ({execution_arn})"
            )
        time.sleep(poll_seconds)


def _json(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


# ---- what a run produced -------------------------------------------------------------------------------


def registered_version(settings: Settings, dataset: str, training_job: str) -> ModelVersion | None:
    """The registry's version of ``training_job`` (registration names its artifact), with the gate's decision
    in its status and ApprovalDescription; None if it was not registered."""
    registry = ModelRegistry(aws.client("sagemaker", settings), settings.model_package_group(dataset))
    url = Zones(settings).uri("artifacts", Zones.model_artifact_key(training_job))
    return next((v for v in registry.versions() if v.model_data_url == url), None)


@dataclass(frozen=True)
class DriftReport:
    output_uri: str
    result: dict[str, Any]  # drift.json as the drift job wrote it
    html_uri: str
    local_html: Path | None


def drift_report(settings: Settings, output_uri: str, *, download_to: Path | None = None) -> DriftReport:
    """The drift job's ``drift.json`` from its output prefix; ``drift.html`` downloaded to ``download_to``."""
    s3 = aws.client("s3", settings)
    bucket, prefix = aws.split_s3_uri(output_uri)
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    if not aws.s3_object_exists(s3, bucket, prefix + DRIFT_JSON):
        raise OrchestrationError(f"the drift job wrote no {DRIFT_JSON} under {output_uri}")
    result = json.loads(s3.get_object(Bucket=bucket, Key=prefix + DRIFT_JSON)["Body"].read())
    html_uri, local = f"s3://{bucket}/{prefix}{DRIFT_HTML}", None
    if download_to is not None and aws.s3_object_exists(s3, bucket, prefix + DRIFT_HTML):
        download_to.mkdir(parents=True, exist_ok=True)
        local = download_to / DRIFT_HTML
        s3.download_file(bucket, prefix + DRIFT_HTML, str(local))
    return DriftReport(output_uri, result, html_uri, local)


def drift_reports_dir(settings: Settings, job: str) -> Path:
    """Where ``prodml drift`` keeps a run's report: ``<state dir>/reports/<drift job>/``."""
    return settings.state_dir / "reports" / job


# ---- the drift alarm and what it started ---------------------------------------------------------------


def drift_alarm(settings: Settings, dataset: str) -> dict[str, Any]:
    """The dataset's drift alarm as CloudWatch describes it (StateValue, StateReason, StateUpdatedTimestamp)."""
    name = naming.drift_alarm_name(settings.project, settings.env, dataset)
    alarms = untyped_client("cloudwatch", settings).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not alarms:
        raise LookupError(f"no drift alarm {name}; run `prodml bootstrap` (or `make apply` on AWS)")
    return dict(alarms[0])


def wait_for_alarm(
    settings: Settings,
    dataset: str,
    state: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 1.0,
    on_poll: Callable[[dict[str, Any]], None] = lambda alarm: None,
) -> dict[str, Any]:
    """Wait until the dataset's drift alarm is in ``state`` (CloudWatch evaluates it; this only reads)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        alarm = drift_alarm(settings, dataset)
        on_poll(alarm)
        if alarm["StateValue"] == state:
            return alarm
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the drift alarm stayed {alarm['StateValue']} for {timeout_seconds:.0f}s (waiting for {state})"
            )
        time.sleep(poll_seconds)


def executions_since(settings: Settings, dataset: str, kind: str, since: Any) -> list[dict[str, Any]]:
    """The ``kind`` state machine's executions started at or after ``since`` (an aware datetime), oldest first:
    how a caller finds the execution an alarm's rule or a schedule started."""
    sfn = untyped_client("stepfunctions", settings)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn(settings, dataset, kind)}
    while True:
        page = sfn.list_executions(**kwargs)
        found += [e for e in page["executions"] if e["startDate"] >= since]
        if not page.get("nextToken"):
            return sorted(found, key=lambda e: e["startDate"])
        kwargs["nextToken"] = page["nextToken"]
