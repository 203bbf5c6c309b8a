"""The embedded AWS emulator: moto server with prodml's job executor (:mod:`prodml.emulator.server`) as a
background process, with a pid file and a log file.

Started only for a local endpoint that nothing else serves; a user's LocalStack or real AWS is used as-is.
Its state is kept in ``<state dir>/emulator/state-<port>.pickle`` and survives ``down`` / ``up`` (see
:mod:`prodml.emulator.persistence` for what survives a crash); ``persist=False`` keeps it in memory only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prodml.settings import EMULATOR_HOST, Settings


@dataclass(frozen=True)
class EmulatorStatus:
    running: bool
    owned: bool  # started by prodml (pid file names a live process)
    pid: int | None
    url: str
    detail: str


class Emulator:
    def __init__(
        self,
        settings: Settings,
        port: int | None = None,
        state_dir: Path | None = None,
        *,
        persist: bool = True,
    ):
        self.settings = settings
        self.persist = persist
        self.port = port or settings.emulator_port
        # Absolute: the server process and the jobs it runs work in other directories.
        self.dir = ((state_dir or settings.state_dir) / "emulator").resolve()
        self.url = f"http://{EMULATOR_HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.dir / f"moto-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"moto-{self.port}.log"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def responding(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def port_in_use(self) -> bool:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((EMULATOR_HOST, self.port)) == 0

    def status(self) -> EmulatorStatus:
        pid = self._pid()
        if pid and self.responding():
            return EmulatorStatus(True, True, pid, self.url, f"moto server (pid {pid}) is serving {self.url}")
        if self.port_in_use():
            return EmulatorStatus(
                True,
                False,
                None,
                self.url,
                f"{self.url} is served by a process prodml did not start (LocalStack?)",
            )
        return EmulatorStatus(False, False, None, self.url, f"nothing is serving {self.url}")

    @property
    def state_file(self) -> Path:
        return self.dir / f"state-{self.port}.pickle"

    @property
    def work_dir(self) -> Path:
        return self.dir / f"jobs-{self.port}"

    def up(
        self, timeout: float = 30.0, *, executor: bool = True, fresh: bool = False
    ) -> tuple[EmulatorStatus, bool]:
        """Start the emulator unless something already serves the port. Returns (status, started_now).

        ``executor=False`` starts it with the job executor stopped: job runs are recorded and wait.
        ``fresh=True`` starts with an empty state (the saved one is moved aside)."""
        current = self.status()
        if current.running:
            return current, False
        self.dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        argv = [sys.executable, "-m", "prodml.emulator.server", "--host", EMULATOR_HOST]
        argv += ["--port", str(self.port), "--work-dir", str(self.work_dir)]
        if self.persist:
            argv += ["--state-file", str(self.state_file)] + (["--fresh"] if fresh else [])
        process = subprocess.Popen(
            argv + ([] if executor else ["--no-executor"]),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the CLI; `down` stops it
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise RuntimeError(f"moto server exited with code {process.returncode}; see {self.log_file}")
            if self.responding():
                return self.status(), True
            time.sleep(0.1)
        self.down()
        raise RuntimeError(
            f"moto server did not answer on {self.url} within {timeout:.0f}s; see {self.log_file}"
        )

    def down(self, timeout: float = 120.0) -> bool:
        """Stop the emulator prodml started (it saves its state first). Returns False when there was none."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    # ---- the job executor -----------------------------------------------------------------------------------
    def executor(self, action: str | None = None) -> dict:
        """The executor's state (``running``, ``active`` jobs, ``finished`` count); ``action`` ``start`` or
        ``stop`` changes it first. Only prodml's emulator has one."""
        path = "/_prodml/executor" + (f"/{action}" if action else "")
        request = urllib.request.Request(self.url + path, method="POST" if action else "GET")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{self.url} has no prodml job executor (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"the emulator at {self.url} is not answering: {exc}") from None

    def state(self) -> dict:
        """Where the running emulator keeps its state, whether it restored one, when it last saved."""
        try:
            with urllib.request.urlopen(self.url + "/_prodml/state", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"the emulator at {self.url} is not answering: {exc}") from None
