"""The inference service run on this machine exactly as its container runs it (gunicorn with
services/inference/gunicorn.conf.py), for `prodml serve` and the demo.

gunicorn runs in its own process group, so stopping it reaches every worker; whatever stops the caller
(SIGTERM, SIGHUP, SIGINT) stops gunicorn first. It must never leave a gunicorn master or worker serving after
the command that started it is gone, and never turn the API key off unless the run is on loopback against the
emulator and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prodml.paths import NotACheckoutError, inference_service_dir
from prodml.settings import Settings

CMD = ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]  # the Dockerfile's CMD
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# gunicorn.conf.py's graceful_timeout (its default when unset) is how long workers get to finish their
# requests; beyond it, plus this margin, the whole process group is killed.
_GRACEFUL_TIMEOUT_DEFAULT_S = 20.0
_KILL_MARGIN_S = 10.0
KEY_VARIABLES = ("PRODML_API_KEY", "PRODML_API_KEY_SECRET")


def service_dir() -> Path:
    """services/inference in this checkout (or PRODML_INFERENCE_DIR)."""
    override = os.environ.get("PRODML_INFERENCE_DIR")
    try:
        candidate = Path(override) if override else inference_service_dir()
    except NotACheckoutError as exc:
        raise NotACheckoutError(f"{exc} (or set PRODML_INFERENCE_DIR)") from None
    if not (candidate / "gunicorn.conf.py").is_file():
        raise FileNotFoundError(
            f"{candidate} holds no gunicorn.conf.py (set PRODML_INFERENCE_DIR to services/inference)"
        )
    return candidate


def _gunicorn() -> str:
    local = Path(sys.executable).parent / "gunicorn"
    return str(local) if local.exists() else "gunicorn"


def auth_environment(settings: Settings, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """What to add to the service's environment for authentication, and a line saying what that means.

    An explicit PRODML_AUTH is the caller's (the service validates it). A configured key is enforced. With
    neither, a run against the emulator turns the key off explicitly (PRODML_AUTH=none, which the service
    accepts only there, bound to loopback); anywhere else a key is required, and this says so before starting.
    """
    if environ.get("PRODML_AUTH"):
        return {}, f"auth: PRODML_AUTH={environ['PRODML_AUTH']} (from the environment)"
    configured = [name for name in KEY_VARIABLES if environ.get(name)]
    if configured:
        return {}, f"auth: API key required (X-API-Key; from {configured[0]})"
    if settings.is_local_endpoint:
        return (
            {"PRODML_AUTH": "none"},
            f"auth: none (PRODML_AUTH=none: a local run on loopback against the emulator at "
            f"{settings.endpoint_url}; set PRODML_API_KEY to require a key)",
        )
    raise LookupError(
        f"serving against {settings.endpoint_url or 'real AWS'} needs an API key: set PRODML_API_KEY or "
        "PRODML_API_KEY_SECRET (no key is possible only against the emulator on this machine)"
    )


def server_env(
    settings: Settings,
    dataset: str | None,
    port: int,
    workers: int | None,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """The service's environment for a run on 127.0.0.1:port, and the line describing its authentication."""
    env = {**os.environ, "PRODML_BIND": f"127.0.0.1:{port}", **(extra or {})}
    if dataset:
        env["PRODML_DATASET"] = dataset
    if workers:
        env["PRODML_WORKERS"] = str(workers)
    env.setdefault("PRODML_MODEL_DIR", str(Path(settings.state_dir).resolve() / "serving" / "models"))
    auth, auth_line = auth_environment(settings, env)
    return {**env, **auth}, auth_line


def start_server(env: Mapping[str, str], log_path: Path | None = None) -> subprocess.Popen:
    """gunicorn in a new session: its own process group (so stopping it reaches every worker), and out of the
    terminal's, so a Ctrl-C reaches only the caller, which then stops gunicorn gracefully."""
    out = open(log_path, "wb") if log_path else None  # noqa: SIM115 - handed to the child process
    try:
        return subprocess.Popen(
            [_gunicorn(), *CMD[1:]],
            cwd=service_dir(),
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()  # the child has its own descriptor


def kill_bound_s(env: Mapping[str, str]) -> float:
    """How long a graceful stop may take before the process group is killed."""
    graceful = env.get("PRODML_GRACEFUL_TIMEOUT")
    return (float(graceful) if graceful else _GRACEFUL_TIMEOUT_DEFAULT_S) + _KILL_MARGIN_S


def _kill_group(process: subprocess.Popen) -> None:
    # Only while the master is unreaped: its pid (the group's id) cannot have been reused yet.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def stop_server(process: subprocess.Popen, bound_s: float) -> int:
    """SIGTERM to the master (gunicorn's graceful stop: workers finish their requests), then, after
    ``bound_s``, SIGKILL to the whole group. Returns gunicorn's exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
    return process.wait()


class Stopped(SystemExit):
    """A stop signal ended the run; the exit code is 128 + the signal's number, as a shell reports it."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def running(
    start: Callable[[], subprocess.Popen],
    bound_s: float,
    on_stopping: Callable[[int], None] | None = None,
) -> Iterator[subprocess.Popen]:
    """gunicorn, started with ``start``, for the length of a with block, and stopped when the block ends however
    it ends: gracefully, then its whole process group killed after ``bound_s``.

    SIGTERM, SIGHUP and SIGINT end the block by raising :class:`Stopped`; a second one, or one that arrives while
    stopping, kills the group at once. The handlers are in place before gunicorn starts, so no signal can end
    this process and leave gunicorn behind."""
    received: list[int] = []
    started: list[subprocess.Popen] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if not started:
            return  # starting: raised once it has started (below)
        if len(received) == 1 and not stopping:
            raise Stopped(signum)
        if started[0].returncode is None:
            _kill_group(started[0])

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        started.append(start())
        if received:
            raise Stopped(received[0])
        yield started[0]
    finally:
        stopping = True
        try:
            if started:
                if received and on_stopping is not None:
                    on_stopping(received[0])
                stop_server(started[0], bound_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_until_stopped(
    start: Callable[[], subprocess.Popen],
    bound_s: float,
    on_stopping: Callable[[int], None] | None = None,
) -> int:
    """Run gunicorn until it exits or a stop signal stops it (see :func:`running`). Returns the conventional exit
    code: 128 + the signal's number when a signal stopped it, else gunicorn's own status."""
    try:
        with running(start, bound_s, on_stopping) as process:
            return process.wait()
    except Stopped as stopped:
        return 128 + stopped.signum
