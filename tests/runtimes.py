"""Other Python runtimes for the tests that run our code where AWS runs it: Glue's Python shell (3.9) and
the SageMaker scikit-learn container (3.10). Environments are built with uv from its cache (the one
`make install` fills), so a repeat run links files instead of downloading them."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO

UV = REPO / "scripts" / "uv.sh"


def uv(*args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        [str(UV), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        # Only the interpreter we name: never download one, never pick up the caller's virtualenv.
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
    )
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def make_venv(python: str, path: Path, *install: str) -> str:
    """A virtual environment at ``path`` for ``python`` with ``uv pip install <install>``; its interpreter."""
    uv("venv", "--quiet", "--python", python, str(path))
    interpreter = str(path / "bin" / "python")
    if install:
        uv("pip", "install", "--quiet", "--python", interpreter, *install)
    return interpreter


def installed(python: str) -> dict[str, str]:
    """``{canonical name: version, or the file it came from}`` of what an environment holds."""
    found = {}
    for line in uv("pip", "freeze", "--python", python).splitlines():
        name, _, version = line.partition(" @ ") if " @ " in line else line.partition("==")
        found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


@contextmanager
def timed(pytestconfig, what: str):
    """Print how long ``what`` took, past pytest's output capture, so every run shows the cost."""
    started = time.perf_counter()
    yield
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\n  [{what}: {time.perf_counter() - started:.1f}s]", end="", flush=True)
