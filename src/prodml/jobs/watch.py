"""Wait for an AWS job and stream its log: a Glue job run, a SageMaker training job or processing job.

Only AWS APIs: ``GetJobRun`` / ``DescribeTrainingJob`` / ``DescribeProcessingJob`` for the state, CloudWatch
Logs for the lines (Glue's ``/aws-glue/python-jobs/output`` and ``error`` streams named after the run;
SageMaker's ``/aws/sagemaker/TrainingJobs`` and ``/aws/sagemaker/ProcessingJobs`` streams ``<job>/...``). The caller presents: ``on_state`` hears each new state
and ``on_line`` every log line, in order. A job that ends in failure raises :class:`JobFailed` with the job's
own message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prodml.jobs import EVENT_PREFIX

GLUE_LOG_GROUPS = ("/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error")
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
GLUE_DONE = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}
TRAINING_DONE = {"Completed", "Failed", "Stopped"}
PROCESSING_DONE = {"Completed", "Failed", "Stopped"}


class JobFailed(RuntimeError):
    """The job ended without success; the message is the job's own reason."""

    def __init__(self, message: str, description: dict[str, Any]):
        super().__init__(message)
        self.description = description


def parse_event(line: str) -> dict[str, Any] | None:
    """A ``PRODML_EVENT`` line's event, or None for any other line."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        event = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


@dataclass
class LogTail:
    """Reads new events of some streams, each from where the last read stopped."""

    logs: Any
    tokens: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def read(self, group: str, stream: str) -> list[str]:
        key = (group, stream)
        lines: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            if self.tokens.get(key):
                kwargs["nextToken"] = self.tokens[key]
            try:
                page = self.logs.get_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return lines  # the job has not written yet
            events = page.get("events", [])
            lines += [event["message"] for event in events]
            token = page.get("nextForwardToken")
            if not events or token == self.tokens.get(key):
                self.tokens[key] = token
                return lines
            self.tokens[key] = token

    def streams(self, group: str, prefix: str) -> list[str]:
        try:
            found = self.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return sorted(s["logStreamName"] for s in found.get("logStreams", []))

    def job_lines(self, group: str, job_name: str) -> list[str]:
        """New lines of a SageMaker job's streams (``<job>/...``), stream by stream."""
        return [line for stream in self.streams(group, f"{job_name}/") for line in self.read(group, stream)]


def _watch(
    describe: Callable[[], dict[str, Any]],
    state_of: Callable[[dict[str, Any]], str],
    done: set[str],
    tail: Callable[[], list[str]],
    on_state: Callable[[str, dict[str, Any]], None],
    on_line: Callable[[str], None],
    poll_seconds: float,
    timeout_seconds: float | None,
) -> dict[str, Any]:
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    last_state = None
    while True:
        description = describe()
        state = state_of(description)
        for line in tail():
            on_line(line)
        if state != last_state:
            on_state(state, description)
            last_state = state
        if state in done:
            for line in tail():  # lines written between the last read and the end
                on_line(line)
            return description
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"still {state} after {timeout_seconds:.0f}s; it goes on without this command")
        time.sleep(poll_seconds)


def wait_glue_run(
    glue: Any,
    logs: Any,
    job_name: str,
    run_id: str,
    *,
    on_state: Callable[[str, dict[str, Any]], None] = lambda state, run: None,
    on_line: Callable[[str], None] = lambda line: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Wait for a Glue job run, streaming its output and error logs; its final ``JobRun``."""
    reader = LogTail(logs)

    def tail() -> list[str]:
        return [line for group in GLUE_LOG_GROUPS for line in reader.read(group, run_id)]

    run = _watch(
        lambda: glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"],
        lambda r: r["JobRunState"],
        GLUE_DONE,
        tail,
        on_state,
        on_line,
        poll_seconds,
        timeout_seconds,
    )
    if run["JobRunState"] != "SUCCEEDED":
        reason = run.get("ErrorMessage") or "no error message"
        raise JobFailed(f"Glue job {job_name} run {run_id} {run['JobRunState']}: {reason}", run)
    return run


def wait_training_job(
    sm: Any,
    logs: Any,
    job_name: str,
    *,
    on_state: Callable[[str, dict[str, Any]], None] = lambda state, job: None,
    on_line: Callable[[str], None] = lambda line: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Wait for a SageMaker training job, streaming its log; its final description."""
    reader = LogTail(logs)

    def state_of(job: dict[str, Any]) -> str:
        primary, secondary = job["TrainingJobStatus"], job.get("SecondaryStatus")
        return f"{primary}: {secondary}" if primary == "InProgress" and secondary else primary

    job = _watch(
        lambda: sm.describe_training_job(TrainingJobName=job_name),
        state_of,
        TRAINING_DONE,
        lambda: reader.job_lines(TRAINING_LOG_GROUP, job_name),
        on_state,
        on_line,
        poll_seconds,
        timeout_seconds,
    )
    if job["TrainingJobStatus"] != "Completed":
        reason = job.get("FailureReason") or "no failure reason"
        raise JobFailed(f"training job {job_name} {job['TrainingJobStatus']}: {reason}", job)
    return job


def wait_processing_job(
    sm: Any,
    logs: Any,
    job_name: str,
    *,
    on_state: Callable[[str, dict[str, Any]], None] = lambda state, job: None,
    on_line: Callable[[str], None] = lambda line: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Wait for a SageMaker processing job, streaming its log; its final description."""
    reader = LogTail(logs)

    job = _watch(
        lambda: sm.describe_processing_job(ProcessingJobName=job_name),
        lambda j: j["ProcessingJobStatus"],
        PROCESSING_DONE,
        lambda: reader.job_lines(PROCESSING_LOG_GROUP, job_name),
        on_state,
        on_line,
        poll_seconds,
        timeout_seconds,
    )
    if job["ProcessingJobStatus"] != "Completed":
        reason = job.get("FailureReason") or job.get("ExitMessage") or "no failure reason"
        raise JobFailed(f"processing job {job_name} {job['ProcessingJobStatus']}: {reason}", job)
    return job
