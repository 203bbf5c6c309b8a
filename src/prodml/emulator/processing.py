"""A SageMaker Processing job, executed as SageMaker executes one in the platform image.

- ``AppSpecification.ImageUri`` must name an image in the emulator's ECR (any repository, by tag or by
  ``@sha256:`` digest), as on AWS, where a job whose image cannot be pulled fails. The image's code is this
  repository (``prodml image record`` records the inference image without building it), so
  ``ContainerEntrypoint`` + ``ContainerArguments`` run as a process of this machine, with the emulator's own
  Python environment first on ``PATH`` (``python`` and ``prodml`` resolve there) and the image's ``WORKDIR``,
  ``services/inference``, as the working directory (``python -m app.batch`` imports the service).
- The container's ``/opt/ml`` is a per-job directory under the executor's work dir: the prefix is rewritten
  in the entrypoint, the arguments, ``Environment`` values and every input's and output's ``LocalPath``. The
  job also gets ``PRODML_CONTAINER_ROOT`` = that directory (for diagnostics: a job should never need it).
- ``ProcessingInputs`` (``S3Input``, ``S3DataType`` ``S3Prefix``, ``S3InputMode`` ``File``) are downloaded
  into their ``LocalPath`` before the container starts; ``ProcessingOutputConfig.Outputs`` (``S3Output``) are
  uploaded from theirs after it succeeds, relative paths kept (``Continuous`` upload mode is uploaded at the
  end too). Anything else (Pipe mode, manifest files, Athena/Redshift dataset definitions, Feature Store
  outputs) fails the job with a ``ClientError`` saying so.
- The environment is the job's ``Environment`` over what every runner gives a job
  (:func:`prodml.emulator.joblog.job_environment`: the emulator's URL, region, dummy credentials).
- The status goes ``InProgress`` → ``Completed`` / ``Failed``; ``StopProcessingJob`` makes it ``Stopping``,
  the container is killed, then ``Stopped``; past ``StoppingCondition.MaxRuntimeInSeconds`` the container is
  killed and the job ``Stopped`` with a ``FailureReason`` that says so. ``/opt/ml/output/message`` becomes
  ``ExitMessage`` (and, on failure, ``FailureReason``; without it, the exit code and the last lines on
  stderr). stdout and stderr go to ``/aws/sagemaker/ProcessingJobs``, stream ``<job>/algo-1-<epoch>``.
- A job that had started when the emulator stopped cannot resume: the next executor fails it, with that
  reason, instead of running it a second time.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow

from prodml import paths
from prodml.emulator import joblog
from prodml.emulator.executor import JobContext
from prodml.emulator.moto_hooks import PROCESSING_LOCK

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
HOST = "algo-1"
CONTAINER_ROOT = "/opt/ml"
ROOT_ENV = "PRODML_CONTAINER_ROOT"
INTERRUPTED = "ClientError: the emulator stopped while this job was running; start it again"
_MAX_MESSAGE = 1024  # ExitMessage and FailureReason are at most 1 KB on AWS
_STDERR_TAIL = 5
_CONTAINER_PATH = re.compile(r"(?<![\w./-])/opt/ml(?![\w.-])")


class ProcessingJobError(RuntimeError):
    """What stops the job before or after its container runs (a ClientError on AWS)."""


def container_path(value: str, root: Path) -> str:
    """``value`` with every ``/opt/ml`` path in it moved under ``root`` (the job's local /opt/ml)."""
    return _CONTAINER_PATH.sub(lambda _: str(root), value)


def image_reference(uri: str) -> tuple[str, dict[str, str]]:
    """(repository, ECR image id) of ``registry/repository:tag`` or ``registry/repository@sha256:...``."""
    name = uri
    first, _, rest = uri.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # the registry host is not part of the repository name
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, {"imageDigest": digest}
    repository, _, tag = name.rpartition(":") if ":" in name else (name, "", "latest")
    return repository, {"imageTag": tag}


def resolve_image(context: JobContext, uri: str) -> str:
    """The image's digest in the emulator's ECR; a ProcessingJobError when it is not there."""
    repository, image_id = image_reference(uri)
    ecr = joblog.client(context, "ecr")
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[image_id])["imageDetails"]
    except Exception as exc:  # RepositoryNotFound, ImageNotFound, or a malformed name
        raise ProcessingJobError(
            f"the image {uri} is not in the emulator's ECR ({exc}); record it with `prodml image record`"
        ) from None
    if not found:
        raise ProcessingJobError(f"the image {uri} is not in the emulator's ECR")
    return str(found[0]["imageDigest"])


def run(context: JobContext, job: Any) -> None:
    name = job.processing_job_name
    work = context.work_dir / "processing" / name
    root = work / "opt" / "ml"
    with PROCESSING_LOCK:
        if job.processing_job_status != "InProgress":
            return  # stopped before the executor reached it
        interrupted = job.processing_start_time is not None  # started by an emulator that has stopped since
        if not interrupted:
            job.processing_start_time = job.last_modified_time = utcnow()
    if interrupted:
        _finish(job, "Failed", INTERRUPTED, None)
        return
    try:
        log = joblog.LogStream(joblog.client(context, "logs"), LOG_GROUP, f"{name}/{HOST}-{int(time.time())}")
    except Exception as exc:  # the emulator is stopping, or CloudWatch Logs refuses the stream
        if not joblog.stopping():
            _finish(job, "Failed", f"ClientError: cannot write the job's log: {exc}", None)
        return
    tail: deque[str] = deque(maxlen=_STDERR_TAIL)

    def on_stderr(line: str) -> None:
        log.write(line)
        if line.strip():
            tail.append(line.rstrip())

    cancel = threading.Event()
    watcher = threading.Thread(target=_watch_stop, args=(job, cancel), daemon=True)
    status, reason, message = "Failed", None, None
    try:
        app = job.app_specification or {}
        digest = resolve_image(context, app.get("ImageUri", ""))
        shutil.rmtree(work, ignore_errors=True)
        (root / "output").mkdir(parents=True)
        s3 = joblog.client(context, "s3")
        _download_inputs(s3, job.processing_inputs or [], root)
        outputs = _output_dirs((job.processing_output_config or {}).get("Outputs") or [], root)
        argv = [container_path(a, root) for a in (app.get("ContainerEntrypoint") or [])]
        argv += [container_path(a, root) for a in (app.get("ContainerArguments") or [])]
        if not argv:
            raise ProcessingJobError("the job has no ContainerEntrypoint (the platform image has none)")
        environment = {k: container_path(str(v), root) for k, v in (job.environment or {}).items()}
        env = joblog.with_own_python(joblog.job_environment(context, {ROOT_ENV: str(root)}))
        env.update(environment)
        log.write(f"prodml emulator: running image {app.get('ImageUri')} ({digest}) as {argv}")
        timeout = (job.stopping_condition or {}).get("MaxRuntimeInSeconds")
        watcher.start()
        code = joblog.run_process(
            argv,
            cwd=paths.inference_service_dir(),  # the platform image's WORKDIR
            env=env,
            stdout=[log.write],
            stderr=[on_stderr],
            timeout=float(timeout) if timeout else None,
            cancel=cancel,
        )
        message_file = root / "output" / "message"
        if message_file.is_file():
            message = message_file.read_text(errors="replace").strip() or None
        if code == 0:
            _upload_outputs(s3, outputs)
            status = "Completed"
        elif code is None and job.processing_job_status == "Stopping":
            status = "Stopped"
        elif code is None:
            status = "Stopped"
            reason = f"MaxRuntimeExceeded: the job ran longer than its MaxRuntimeInSeconds ({timeout})"
        else:
            detail = message or f"the container exited with code {code}" + (
                ": " + " | ".join(tail) if tail else ""
            )
            reason = f"AlgorithmError: {detail}"
            message = message or detail
    except Exception as exc:  # whatever stops the job is its failure, with the reason
        detail = str(exc) if isinstance(exc, ProcessingJobError) else f"{type(exc).__name__}: {exc}"
        reason = f"ClientError: {detail}"
        log.write(reason)
    finally:
        cancel.set()  # ends the watcher
        with contextlib.suppress(Exception):
            log.flush()
        shutil.rmtree(work, ignore_errors=True)
        if not joblog.stopping():  # killed because the emulator stops: the next one says it was interrupted
            _finish(job, status, reason, message)


def _finish(job: Any, status: str, reason: str | None, message: str | None) -> None:
    with PROCESSING_LOCK:
        job.processing_end_time = job.last_modified_time = utcnow()
        job.failure_reason = reason[:_MAX_MESSAGE] if reason else None
        job.exit_message = message[:_MAX_MESSAGE] if message else None
        job.processing_job_status = status


def _watch_stop(job: Any, cancel: threading.Event) -> None:
    """Set ``cancel`` when StopProcessingJob moves the job to Stopping (or the job ends)."""
    while not cancel.wait(0.1):
        if job.processing_job_status == "Stopping":
            cancel.set()


def _local(path: str, root: Path, what: str) -> Path:
    if not path.startswith(CONTAINER_ROOT + "/"):
        raise ProcessingJobError(f"{what}: LocalPath {path!r} must be under {CONTAINER_ROOT}/")
    return Path(container_path(path, root))


def _download_inputs(s3: Any, inputs: list[dict[str, Any]], root: Path) -> None:
    for item in inputs:
        label = f"ProcessingInput {item.get('InputName')!r}"
        source = item.get("S3Input")
        if not source:
            raise ProcessingJobError(
                f"{label}: only S3Input is supported by the emulator (not DatasetDefinition)"
            )
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise ProcessingJobError(
                f"{label}: S3DataType {source.get('S3DataType')} is not supported (S3Prefix)"
            )
        if source.get("S3InputMode", "File") != "File":
            raise ProcessingJobError(
                f"{label}: S3InputMode {source.get('S3InputMode')} is not supported (File)"
            )
        if source.get("S3CompressionType", "None") != "None":
            raise ProcessingJobError(f"{label}: S3CompressionType is only supported in Pipe mode")
        target = _local(source.get("LocalPath", ""), root, label)
        if not joblog.download_prefix(s3, source["S3Uri"], target):
            raise ProcessingJobError(
                f'Data download failed: No S3 objects found under S3 URL "{source["S3Uri"]}" given in {label}'
            )


def _output_dirs(outputs: list[dict[str, Any]], root: Path) -> list[tuple[Path, str]]:
    """(local directory, S3 URI) of every output; the directories exist before the container starts."""
    found = []
    for item in outputs:
        label = f"ProcessingOutput {item.get('OutputName')!r}"
        target = item.get("S3Output")
        if not target:
            raise ProcessingJobError(
                f"{label}: only S3Output is supported by the emulator (not FeatureStoreOutput)"
            )
        local = _local(target.get("LocalPath", ""), root, label)
        local.mkdir(parents=True, exist_ok=True)
        found.append((local, str(target["S3Uri"])))
    return found


def _upload_outputs(s3: Any, outputs: list[tuple[Path, str]]) -> None:
    for local, uri in outputs:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            key = "/".join(part for part in (prefix.rstrip("/"), path.relative_to(local).as_posix()) if part)
            s3.upload_file(str(path), bucket, key)
