"""`prodml serve` stops gunicorn, master and workers, whatever stops it (SIGTERM, SIGHUP, SIGINT), and exits
128 + the signal: a real `prodml serve` process, a real gunicorn, real signals."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration

STOP_BOUND_S = 20.0  # gunicorn stops gracefully in about a second with no request in flight


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_prodml_serve_stops_gunicorn_and_its_workers(platform, tmp_path, stop_signal):
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prodml",
            "serve",
            "--dataset",
            platform.contract.name,
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # signals go to it alone, as a supervisor's would
    )
    gunicorn: set[int] = set()
    try:

        def up() -> bool:
            if serve.poll() is not None:
                raise AssertionError(
                    f"prodml serve exited with {serve.returncode}:\n{serve.stdout.read().decode()}"
                )
            masters = children(serve.pid)
            gunicorn.update(masters, *(children(master) for master in masters))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                return response.status == 200 and len(gunicorn) == 3  # the master and two workers

        def answering() -> bool:
            try:
                return up()
            except OSError:
                return False

        wait_for(answering, 60, "gunicorn to answer /health with two workers")
        started = time.monotonic()
        serve.send_signal(stop_signal)
        try:
            code = serve.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"prodml serve still running {STOP_BOUND_S}s after {stop_signal.name}"
            ) from None
        wait_for(
            lambda: not any(alive(pid) for pid in gunicorn),
            max(0.5, STOP_BOUND_S - (time.monotonic() - started)),
            "gunicorn to exit",
        )
        assert not listening(port), f"port {port} still open after prodml serve exited"
        assert code == 128 + stop_signal, serve.stdout.read().decode() if serve.stdout else code
        output = serve.stdout.read().decode() if serve.stdout else ""
        assert "auth: none (PRODML_AUTH=none" in output, output  # the local mode is said out loud
        assert f"{stop_signal.name}: stopping gunicorn" in output, output
    finally:
        for pid in [serve.pid, *gunicorn]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)  # only what this test started
        serve.wait(timeout=10)


@pytest.mark.parametrize(
    ("bound_s", "signals"),
    [(1.0, [signal.SIGTERM]), (120.0, [signal.SIGTERM, signal.SIGINT])],
    ids=["after-the-bound", "on-a-second-signal"],
)
def test_a_server_that_ignores_sigterm_is_killed_with_its_children(tmp_path, bound_s, signals):
    """The forceful half: a server that ignores SIGTERM (and a child of it that does too) is killed, whole
    process group, once the bound passes or a second signal comes; the caller still exits 128 + the first."""
    pids = tmp_path / "pids"
    stubborn = textwrap.dedent(
        f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(120)
        """
    )
    caller = textwrap.dedent(
        f"""
        import subprocess, sys
        from prodml import local_service
        start = lambda: subprocess.Popen([sys.executable, "-c", {stubborn!r}], start_new_session=True)
        sys.exit(local_service.serve_until_stopped(start, bound_s={bound_s}))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", caller], start_new_session=True)
    started: list[int] = []
    try:
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, 30, "the stubborn server")
        started = [int(pid) for pid in pids.read_text().split()]
        for stop_signal in signals:
            process.send_signal(stop_signal)
            time.sleep(0.5)
        assert process.wait(timeout=15) == 128 + signals[0]
        wait_for(
            lambda: not any(alive(pid) for pid in started), 5, "the stubborn server and its child to die"
        )
    finally:
        for pid in [process.pid, *started]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
