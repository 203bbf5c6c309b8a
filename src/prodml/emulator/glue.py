"""A Glue Python shell job run, executed as Glue executes it.

- The script comes from the job's ``Command.ScriptLocation`` in S3.
- The arguments are the job's ``DefaultArguments`` merged with the run's ``Arguments`` (moto merges them as
  Glue does: the run's win, ``NonOverridableArguments`` win over both); the script gets them as
  ``--name value`` pairs after ``--JOB_NAME`` and ``--JOB_RUN_ID``, minus those Glue consumes itself.
- ``--extra-py-files`` (S3 ``.py``, ``.zip``, ``.whl``, ``.egg``) are downloaded and put on ``PYTHONPATH``;
  ``--additional-python-modules`` decide the environment (:mod:`prodml.emulator.environments`).
- The state goes ``STARTING`` → ``RUNNING`` → ``SUCCEEDED`` / ``FAILED`` (``TIMEOUT`` past the job's
  timeout), with ``ErrorMessage`` (the script's last line on stderr) and ``ExecutionTime`` in seconds.
- stdout goes to ``/aws-glue/python-jobs/output`` and stderr to ``/aws-glue/python-jobs/error``, in a
  stream named after the run id.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from prodml.emulator import environments, joblog
from prodml.emulator.executor import JobContext
from prodml.emulator.moto_hooks import GLUE_LOG_GROUP

# Arguments Glue reads itself rather than passing to the script.
CONSUMED = (
    "--extra-py-files",
    "--additional-python-modules",
    "--python-modules-installer-option",
    "library-set",
)
_MAX_ERROR = 2048


def script_argv(job_name: str, run_id: str, arguments: dict[str, str]) -> list[str]:
    argv = ["--JOB_NAME", job_name, "--JOB_RUN_ID", run_id]
    for name, value in arguments.items():
        if name in CONSUMED or name in ("--JOB_NAME", "--JOB_RUN_ID"):
            continue
        argv += [name if name.startswith("--") else f"--{name}", value]
    return argv


def run(context: JobContext, job: Any, run: Any) -> None:
    started = time.monotonic()
    workdir = context.work_dir / "glue" / run.job_run_id
    logs = joblog.client(context, "logs")
    output = joblog.LogStream(logs, f"{GLUE_LOG_GROUP}/output", run.job_run_id)
    errors = joblog.LogStream(logs, f"{GLUE_LOG_GROUP}/error", run.job_run_id)
    last_error: list[str] = []

    def on_error(line: str) -> None:
        errors.write(line)
        if line.strip():
            last_error[:] = [line.strip()]

    state, message = "FAILED", ""
    try:
        run.status = "RUNNING"
        arguments = dict(run.arguments or {})
        script = _prepare(context, job, arguments, workdir, output)
        modules = [m for m in arguments.get("--additional-python-modules", "").split(",") if m.strip()]
        env = environments.environment_for(modules, job.command.get("PythonVersion"))
        output.write(f"prodml emulator: running {job.command.get('ScriptLocation')} with {env.description}")
        pythonpath = [str(p) for p in sorted((workdir / "py").iterdir())] if (workdir / "py").is_dir() else []
        tmp = workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        extra = {"TMPDIR": str(tmp), "PYTHONPATH": ":".join(pythonpath)}
        timeout = 60.0 * job.timeout if job.timeout else None
        code = joblog.run_process(
            [env.python, str(script), *script_argv(job.name, run.job_run_id, arguments)],
            cwd=workdir,
            env=joblog.job_environment(context, extra),
            stdout=[output.write],
            stderr=[on_error],
            timeout=timeout,
        )
        if code is None:
            state, message = "TIMEOUT", f"Job run timed out after {job.timeout} minutes"
        elif code == 0:
            state = "SUCCEEDED"
        else:
            message = last_error[0] if last_error else f"the script exited with code {code}"
    except Exception as exc:  # anything that stops the run is the run's failure, with its reason
        message = f"{type(exc).__name__}: {exc}"
        errors.write(message)
    finally:
        output.flush()
        errors.flush()
        shutil.rmtree(workdir, ignore_errors=True)
        run.execution_time = max(1, round(time.monotonic() - started))
        run.error_message = message[:_MAX_ERROR] if state != "SUCCEEDED" else None
        from moto.core.utils import utcnow

        run.completed_on = run.modified_on = utcnow()
        run.status = state


def _prepare(context: JobContext, job: Any, arguments: dict[str, str], workdir: Path, log: Any) -> Path:
    """Download the script and the extra Python files; returns the script's local path."""
    s3 = joblog.client(context, "s3")
    location = job.command.get("ScriptLocation") or ""
    if not location.startswith("s3://"):
        raise ValueError(f"ScriptLocation must be an s3:// URI, got {location!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / Path(location).name
    _download(s3, location, script)
    for uri in filter(None, (u.strip() for u in arguments.get("--extra-py-files", "").split(","))):
        target = workdir / "py" / Path(uri).name
        target.parent.mkdir(parents=True, exist_ok=True)
        _download(s3, uri, target)
        log.write(f"prodml emulator: --extra-py-files {uri}")
    # A .py file is importable from its folder; archives (.zip, .whl, .egg) go on the path themselves.
    loose = [p for p in (workdir / "py").glob("*.py")] if (workdir / "py").is_dir() else []
    if loose:
        modules = workdir / "py" / "_modules"
        modules.mkdir(exist_ok=True)
        for path in loose:
            path.rename(modules / path.name)
    return script


def _download(s3: Any, uri: str, target: Path) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        s3.download_file(bucket, key, str(target))
    except Exception as exc:
        raise FileNotFoundError(f"cannot read {uri}: {exc}") from None
