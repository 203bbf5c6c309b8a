"""The job executor: runs the Glue job runs, SageMaker training jobs and SageMaker Processing jobs that the
emulator records, with AWS's contract, inside the emulator's process.

It watches moto's backends (see :mod:`prodml.emulator.moto_hooks`) for runs that are still pending and
hands each to its runner (:mod:`prodml.emulator.glue`, :mod:`prodml.emulator.sagemaker`,
:mod:`prodml.emulator.processing`) on a worker thread. A runner reaches AWS only through boto3 at the
emulator's own URL (S3, CloudWatch Logs, ECR), like the job itself, and reports its outcome by setting the
fields AWS would on moto's objects.

While it runs, it also evaluates CloudWatch alarms about once a second (:mod:`prodml.emulator.alarms`).

Stopped (``prodml emulator executor stop``, or ``prodml emulator up --no-executor``), it runs nothing:
runs stay ``STARTING`` / ``InProgress`` until it starts again. It never executes a job twice.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodml.emulator import moto_hooks

POLL_SECONDS = 0.1


@dataclass
class ExecutorState:
    running: bool
    active: list[str] = field(default_factory=list)
    finished: int = 0


@dataclass(frozen=True)
class JobContext:
    """What a runner needs besides the job: where AWS is, the account and region, a scratch directory."""

    endpoint_url: str
    account_id: str
    region: str
    work_dir: Path


class JobExecutor:
    def __init__(
        self,
        endpoint_url: str,
        work_dir: Path,
        *,
        running: bool = True,
        max_workers: int = 4,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.endpoint_url = endpoint_url
        self.work_dir = work_dir
        # Marks the state changed for the snapshotter when a change happened in this process, not by a
        # request: a job's final status, an execution that ended after its last task.
        self.on_change = on_change
        self._running = threading.Event()
        if running:
            self._running.set()
        self._stop = threading.Event()
        self._claimed: set[str] = set()
        self._active: dict[str, str] = {}
        self._finished = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="prodml-job")
        self._thread = threading.Thread(target=self._loop, name="prodml-executor", daemon=True)

    # ---- control ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def set_running(self, running: bool) -> None:
        if running:
            self._running.set()
        else:
            self._running.clear()

    def state(self) -> ExecutorState:
        with self._lock:
            return ExecutorState(self._running.is_set(), sorted(self._active.values()), self._finished)

    # ---- the loop ---------------------------------------------------------------------------------------
    def _loop(self) -> None:
        from prodml.emulator import alarms, glue, processing, sagemaker

        next_alarm_check = 0.0
        running_executions: set[str] = set()

        while not self._stop.wait(POLL_SECONDS):
            if not self._running.is_set():
                continue
            for account_id, region, job, run in moto_hooks.glue_job_runs():
                if run.status == "STARTING":
                    key = f"glue/{account_id}/{region}/{run.job_run_id}"
                    label = f"glue {job.name} {run.job_run_id}"
                    self._claim(key, label, account_id, region, glue.run, job, run)
            for account_id, region, job in moto_hooks.training_jobs():
                if job.training_job_status == "InProgress":
                    key = f"training/{job.arn}/{job.creation_time.isoformat()}"
                    label = f"training {job.training_job_name}"
                    self._claim(key, label, account_id, region, sagemaker.run, job)
            for account_id, region, job in moto_hooks.processing_jobs():
                if job.processing_job_status == "InProgress":
                    key = f"processing/{job.arn}/{job.creation_time.isoformat()}"
                    label = f"processing {job.processing_job_name}"
                    self._claim(key, label, account_id, region, processing.run, job)
            if time.monotonic() >= next_alarm_check:
                next_alarm_check = time.monotonic() + alarms.EVALUATE_SECONDS
                try:
                    alarms.evaluate_all(self.endpoint_url, self.work_dir)
                except Exception:  # an evaluation bug must never stop the executor
                    traceback.print_exc()
            still_running = {
                e.exec_arn for _, _, e in moto_hooks.state_machine_executions() if e.exec_status == "RUNNING"
            }
            if running_executions - still_running:
                self.on_change()
            running_executions = still_running

    def _claim(
        self, key: str, label: str, account_id: str, region: str, runner: Callable[..., None], *args: Any
    ) -> None:
        with self._lock:
            if key in self._claimed:
                return
            self._claimed.add(key)
            self._active[key] = label
        context = JobContext(self.endpoint_url, account_id, region, self.work_dir)
        self._pool.submit(self._run, key, runner, context, *args)

    def _run(self, key: str, runner: Callable[..., None], context: JobContext, *args: Any) -> None:
        try:
            runner(context, *args)
        except Exception:  # a runner bug must fail the job, never kill the executor
            traceback.print_exc()
        finally:
            self.on_change()
            with self._lock:
                self._active.pop(key, None)
                self._finished += 1
