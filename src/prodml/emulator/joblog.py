"""What every runner shares: boto3 clients at the emulator's own URL, a CloudWatch Logs stream writer, a
process whose output lines go to the logs as they come, and S3 prefix downloads."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

import boto3
from botocore.config import Config

from prodml.emulator.executor import JobContext

_FLUSH_SECONDS = 0.5
_MAX_BATCH = 1000
_CANCEL_POLL = 0.2  # how soon a cancelled job's process is killed
_RETRIES = Config(retries={"max_attempts": 5})
# Every job process running now: each in its own session (so a timeout kills its whole tree), so the
# emulator ends them itself when it stops (terminate_all) rather than leaving orphans.
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()


_STOPPING = threading.Event()


def stopping() -> bool:
    """True once the emulator is stopping: a job killed now was interrupted, it did not fail."""
    return _STOPPING.is_set()


def terminate_all() -> int:
    """Kill every running job process (the emulator is stopping); returns how many there were."""
    _STOPPING.set()
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return len(running)


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def client(context: JobContext, service: Literal["s3", "logs", "ecr", "cloudwatch", "events"]) -> Any:
    """A client of the emulator, from one session a region (a session parses each service's model once;
    it is not thread-safe, so clients are made under a lock)."""
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(context.region)
        if session is None:
            session = _SESSIONS[context.region] = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=context.region
            )
        return session.client(service, endpoint_url=context.endpoint_url, config=_RETRIES)


def job_environment(context: JobContext, extra: dict[str, str]) -> dict[str, str]:
    """The process environment AWS gives a job: its region and credentials (here, for the emulator's own URL).

    The job's code reaches AWS through boto3 only, which honours ``AWS_ENDPOINT_URL``; nothing else differs.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "AWS_ENDPOINT_URL": context.endpoint_url,
            "AWS_REGION": context.region,
            "AWS_DEFAULT_REGION": context.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def with_own_python(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this process's Python environment first on PATH, so ``python`` and ``prodml`` in a job's
    command line are the project's (as they are the image's own inside the platform image)."""
    bin_dir = str(Path(sys.executable).parent)  # not resolved: a venv's bin holds the symlink, not the base
    return {**env, "PATH": os.pathsep.join(p for p in (bin_dir, env.get("PATH", "")) if p)}


class LogStream:
    """Lines to one CloudWatch Logs stream, batched, in order; creates the group and stream as AWS does."""

    def __init__(self, logs: Any, group: str, stream: str):
        self.logs, self.group, self.stream = logs, group, stream
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)

    def write(self, line: str) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line or " "})
            due = len(self._pending) >= _MAX_BATCH or time.monotonic() - self._last_flush > _FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if batch:
            self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)


def _pump(pipe: IO[str], sinks: list[Callable[[str], None]]) -> None:
    for line in pipe:
        line = line.rstrip("\n")
        for sink in sinks:
            sink(line)


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: list[Callable[[str], None]],
    stderr: list[Callable[[str], None]] | None = None,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> int | None:
    """Run ``argv``; every output line goes to the sinks as it comes. Returns the exit code, or None when
    ``timeout`` seconds passed or ``cancel`` was set, and the process (its whole session) was killed."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is not None else subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    assert process.stdout is not None
    pumps = [threading.Thread(target=_pump, args=(process.stdout, stdout), daemon=True)]
    if stderr is not None:
        assert process.stderr is not None
        pumps.append(threading.Thread(target=_pump, args=(process.stderr, stderr), daemon=True))
    for pump in pumps:
        pump.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    code: int | None = None
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                code = process.wait(
                    timeout=left if cancel is None else min(_CANCEL_POLL, left or _CANCEL_POLL)
                )
                break
            except subprocess.TimeoutExpired:
                if (deadline is not None and time.monotonic() >= deadline) or (cancel and cancel.is_set()):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    break
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
    for pump in pumps:
        pump.join()
    return code


def download_prefix(s3: Any, uri: str, into: Path) -> int:
    """Every object under ``s3://bucket/prefix`` into ``into``, keeping paths below the prefix (a key equal
    to the URI is one file). Returns the number of files."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    into.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :].lstrip("/") or Path(obj["Key"]).name
            if obj["Key"].endswith("/"):
                continue
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            count += 1
    return count
