"""The few places where prodml reaches into moto's in-process backends, so the executor can run jobs.

moto records a Glue job run or a SageMaker training job and declares it finished at once. The executor
needs them to stay pending until it has run them, and then to carry what AWS reports: a run's
``ErrorMessage`` and ``ExecutionTime``, a training job's own ``MetricDefinitions``, ``FailureReason`` and
``FinalMetricDataList`` (the runners, :mod:`prodml.emulator.glue` and :mod:`prodml.emulator.sagemaker`,
set those as plain attributes on moto's objects). moto also lacks Glue's ``UpdateJob``, which
``prodml ship`` calls to point a job at released code; it is added here with AWS's semantics (the
``JobUpdate`` replaces the definition). Every patch of moto's code is in this file, and moto is pinned to
the minor version these hooks were written against (pyproject's ``local`` extra);
``tests/emulator/test_moto_hooks.py`` fails first if an upgrade moves them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from moto.core.responses import ActionResult
from moto.glue import models as glue_models
from moto.glue import responses as glue_responses
from moto.sagemaker import models as sagemaker_models

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
