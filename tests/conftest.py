"""Shared fixtures. The AWS side is always a real moto server process, started by prodml's own emulator code
on a free port, so a developer's `make demo` emulator on 4566 is never touched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

# The CLI's rich consoles take their width from COLUMNS when prodml.cli is first imported, whichever test does
# it first; set here, before any import of it, output wraps the same in every test order and test worker.
os.environ["COLUMNS"] = "200"

from prodml.contract import load_contract
from prodml.emulator import Emulator
from prodml.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CHURN_CONTRACT = REPO / "contracts" / "customer_churn.yaml"
FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> str:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = Emulator(
        Settings(endpoint_url=endpoint),
        port=port,
        state_dir=tmp_path_factory.mktemp("emulator"),
        persist=False,  # every test resets it; the persistence tests start emulators of their own
    )
    emulator.up()
    yield endpoint
    emulator.down()


@pytest.fixture
def aws_env(moto_server, monkeypatch, tmp_path) -> Settings:
    """A clean emulator (reset before each test) and an environment pointing every client at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    point_at(moto_server, monkeypatch, tmp_path / ".prodml")
    return Settings()


def point_at(endpoint: str, monkeypatch, state_dir: Path) -> None:
    """Point every client of this process and its children at ``endpoint``, with no PRODML_ setting left
    from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("PRODML_") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PRODML_STATE_DIR", str(state_dir))


@pytest.fixture
def shipped_env(aws_env) -> Settings:
    """A clean emulator provisioned as `make apply` provisions AWS (every contract's dataset), with code
    released by `prodml ship` and an inference image in ECR: what every job-running test starts from."""
    from prodml.bootstrap import bootstrap
    from prodml.release import record_image, ship

    bootstrap(aws_env, [load_contract(path).name for path in sorted((REPO / "contracts").glob("*.yaml"))])
    ship(aws_env)
    record_image(aws_env)
    return aws_env


@pytest.fixture
def churn_contract():
    return load_contract(CHURN_CONTRACT)


def run_prodml(
    *args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the CLI as a user would: a separate process, exit code and output captured."""
    return subprocess.run(
        [sys.executable, "-m", "prodml", *args],
        cwd=cwd,
        env={**os.environ, **(env or {}), "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli():
    """The real `prodml` app invoked in-process (no interpreter start-up): for the many error-path checks.
    End-to-end checks use `run_prodml`, a separate process, as a user would."""
    from typer.testing import CliRunner

    from prodml.cli import app

    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None) -> CliResult:
        result = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke
