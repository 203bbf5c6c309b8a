"""The Python environment a job runs in: the project's own when it already satisfies the job's
requirements, otherwise one installed once into a cache keyed by the requirements' hash.

Glue installs ``--additional-python-modules`` and the SageMaker scikit-learn container installs the source
dir's ``requirements.txt`` before the script runs; the executor does the same with uv. A cached environment
uses the interpreter of the job's Python version when this machine has one (``python3.9``, pyenv's, or
``$PRODML_PYTHON_3_9``), else the project's interpreter, and says which in the job's log.

``PRODML_EXECUTOR_EXACT_PYTHON=1`` (in the emulator's environment) makes the job's Python version binding:
the project's environment is never used for a job that declares another Python minor version, and a cached
environment is built with that version's interpreter; without one on this machine the job fails and says
so. For proving code on the Python AWS runs (the slow runtime tests); off by default, since the project's
environment is faster. Training jobs normally run in it (the source dir's requirements pin the artifact's
libraries to this environment's versions); the Glue job's pins, resolved for Python 3.9, never match it, so
Glue runs always get a cached environment.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

CACHE_ENV = "PRODML_JOB_ENV_CACHE"
EXACT_PYTHON_ENV = "PRODML_EXECUTOR_EXACT_PYTHON"


@dataclass(frozen=True)
class JobEnvironment:
    python: str
    description: str  # one line for the job's log: which environment and why


class JobEnvironmentError(RuntimeError):
    """The job's requirements cannot be installed (the job fails with this message)."""


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "prodml" / "job-envs"
    return Path(os.environ.get(CACHE_ENV, default))


def parse_requirements(lines: list[str]) -> list[Requirement]:
    found = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise JobEnvironmentError(f"invalid requirement {line!r}: {exc}") from None
    return found


def satisfied_here(requirements: list[Requirement]) -> bool:
    """True when this interpreter's environment already holds a fitting version of every requirement."""
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            return False
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            return False
    return True


def find_python(version: str) -> str | None:
    """A working CPython ``version`` ("3.9"): ``$PRODML_PYTHON_3_9``, ``python3.9`` on PATH, or pyenv's."""
    candidates = [
        os.environ.get(f"PRODML_PYTHON_{version.replace('.', '_')}"),
        shutil.which(f"python{version}"),
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")), reverse=True),
    ]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:  # a pyenv shim may exist and not run
            return candidate
    return None


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    # The pinned uv that scripts/install.sh puts beside the project; else uv as a module of this interpreter.
    for parent in Path(sys.prefix).resolve().parents:
        candidate = parent / ".tools" / "bin" / "uv"
        if candidate.is_file():
            return [str(candidate)]
    return [sys.executable, "-m", "uv"]


def environment_for(lines: list[str], python_version: str | None) -> JobEnvironment:
    """The interpreter to run a job with ``lines`` as its requirements (installing them once if needed)."""
    requirements = parse_requirements(lines)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    exact = os.environ.get(EXACT_PYTHON_ENV) == "1" and python_version not in (None, here)
    if not exact and satisfied_here(requirements):
        return JobEnvironment(
            sys.executable,
            f"the project's environment (Python {here}), which satisfies all {len(requirements)} requirements",
        )
    python = find_python(python_version) if python_version else None
    version, note = python_version, ""
    if python is None:
        if exact:
            raise JobEnvironmentError(f"{EXACT_PYTHON_ENV}=1 and this machine has no Python {python_version}")
        python, version = sys.executable, here
        if python_version:
            note = f"; no Python {python_version} on this machine, so the project's interpreter"
    key = hashlib.sha256("\n".join([python, *sorted(str(r) for r in requirements)]).encode()).hexdigest()[:16]
    root = cache_root() / key
    interpreter = root / "bin" / "python"
    if not (root / ".complete").is_file():
        _install(root, python, requirements)
    return JobEnvironment(
        str(interpreter),
        f"cached environment {root} (Python {version}, {len(requirements)} requirements{note})",
    )


def _install(root: Path, python: str, requirements: list[Requirement]) -> None:
    staging = root.with_name(root.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    for command in (
        [*_uv(), "venv", "--quiet", "--python", python, str(staging)],
        [*_uv(), "pip", "install", "--quiet", "--python", str(staging / "bin" / "python")]
        + [str(r) for r in requirements],
    ):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise JobEnvironmentError("installing the job's requirements failed: " + " | ".join(detail))
    (staging / ".complete").write_text("\n".join(str(r) for r in requirements) + "\n")
    try:
        staging.rename(root)
    except OSError:  # another executor finished the same environment first
        shutil.rmtree(staging, ignore_errors=True)
