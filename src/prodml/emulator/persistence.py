"""The emulator's state on disk, so a laptop's buckets, datasets, jobs and models survive ``prodml emulator
down`` / ``up`` and a reboot.

What is saved: every moto backend the process has used (S3 objects and versions, the Glue catalog, jobs and
runs, the SageMaker registry and jobs, ECR, CloudWatch Logs, ...), pickled as one file and replaced
atomically (written beside it, then renamed).

When: on a clean stop (``prodml emulator down``: SIGTERM) after the server and the executor have stopped, and
every ``SNAPSHOT_SECONDS`` while anything has changed. So after a crash (SIGKILL, power loss) the state is
that of the last snapshot: at most ``SNAPSHOT_SECONDS`` of changes are lost, and the file is never half
written. A job that was running when the emulator stopped cannot resume: on load it is marked failed with
that reason (a Glue run ``FAILED``, a training job ``Failed``); a job still waiting to start runs as usual.

``prodml emulator up --fresh`` starts empty (the old file is moved aside, not deleted). An unreadable file is
moved aside too, and the emulator starts empty and says so. Locks inside moto's objects are not picklable;
they are saved as new, unlocked locks.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict

from prodml.emulator import moto_hooks

# How often a changed state is saved; what a crash can lose. PRODML_EMULATOR_SNAPSHOT_SECONDS overrides it.
SNAPSHOT_SECONDS = float(os.environ.get("PRODML_EMULATOR_SNAPSHOT_SECONDS", "10"))
_FORMAT = 1
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
INTERRUPTED = "the emulator stopped while this job was running; start it again"


@dataclass
class StateInfo:
    path: str
    restored: bool = False
    backends: int = 0
    saved_at: float | None = None  # the saved file holds every change made before this time
    snapshots: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return (threading.RLock if "RLock" in type(obj).__name__ else threading.Lock, ())
        return NotImplemented


def backend_dicts() -> dict[str, BackendDict]:
    """Every moto backend registry this process holds data in, by ``module:attribute``."""
    found: dict[str, BackendDict] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("moto."):
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, BackendDict) and len(value):
                found[f"{name}:{attribute}"] = value
    return found


def save(path: Path, attempts: int = 5) -> int:
    """Write the state atomically; returns how many backend registries it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + f".tmp-{os.getpid()}")
    for attempt in range(attempts):
        state = {key: dict(value) for key, value in backend_dicts().items()}
        try:
            with staging.open("wb") as handle:
                _Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump({"format": _FORMAT, "state": state})
            break
        except RuntimeError:  # a request changed a dict while it was being pickled: take it again
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    staging.replace(path)
    return len(state)


def load(path: Path) -> int:
    """Restore the saved state into moto's backend registries; returns how many it restored."""
    with path.open("rb") as handle:
        saved = pickle.load(handle)
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a prodml emulator state file of format {_FORMAT}")
    for key, accounts in saved["state"].items():
        module_name, _, attribute = key.partition(":")
        registry = getattr(importlib.import_module(module_name), attribute)
        registry.clear()
        registry.update(accounts)
    _fail_interrupted_jobs()
    return len(saved["state"])


def _fail_interrupted_jobs() -> None:
    from moto.core.utils import utcnow

    for _, _, _, run in moto_hooks.glue_job_runs():
        if run.status == "RUNNING":
            run.error_message = INTERRUPTED
            run.completed_on = utcnow()
            run.status = "FAILED"
    for _, _, job in moto_hooks.training_jobs():
        if job.training_job_status == "InProgress" and job.secondary_status != "Starting":
            job.failure_reason = f"ClientError: {INTERRUPTED}"
            job.training_end_time = utcnow()
            job.secondary_status = "Failed"
            job.training_job_status = "Failed"


def restore(path: Path, *, fresh: bool) -> StateInfo:
    """Load ``path`` unless ``fresh``; a file that cannot be read is moved aside and the state starts empty."""
    info = StateInfo(str(path))
    if not path.exists():
        return info
    aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}")
    if fresh:
        path.replace(aside)
        info.note = f"started fresh; the previous state was moved to {aside}"
        return info
    try:
        info.backends = load(path)
        info.restored = True
        info.saved_at = path.stat().st_mtime
    except Exception as exc:  # any unreadable file: keep it for inspection, start empty, say so
        with contextlib.suppress(OSError):
            path.replace(aside)
        info.note = f"could not read the saved state ({type(exc).__name__}: {exc}); moved it to {aside}"
    return info


class Snapshotter:
    """Saves the state every ``interval`` seconds while it changes (``touch``), and once more at ``stop``."""

    def __init__(self, path: Path, info: StateInfo, interval: float = SNAPSHOT_SECONDS):
        self.path, self.info, self.interval = path, info, interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="prodml-snapshot", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def touch(self) -> None:
        self._dirty.set()

    def _save(self) -> None:
        as_of = time.time()  # the file holds every change marked before this moment
        self._dirty.clear()
        self.info.backends = save(self.path)
        self.info.saved_at = as_of
        self.info.snapshots += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self._dirty.is_set():
                try:
                    self._save()
                except Exception as exc:  # keep serving; the next change tries again
                    print(f"prodml emulator: snapshot failed: {type(exc).__name__}: {exc}", flush=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self._save()
