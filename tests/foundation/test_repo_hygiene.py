"""The offline linters, so `make test` (all CI runs) also fails on a bad workflow, script or style slip."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_check_and_format_are_clean():
    check = run(str(BIN / "ruff"), "check", ".")
    assert check.returncode == 0, check.stdout
    fmt = run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_is_clean():
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout


def test_every_type_ignore_names_its_code_and_says_why():
    # mypy itself rejects an ignore without a code (ignore-without-code); the reason is ours to hold.
    pattern = re.compile(r"#\s*type:\s*ignore(?!\[[\w\-, ]+\]\s+#\s*\S)")
    roots = ("src", "services", "pipelines", "benchmarks", "tests")
    bare = [
        f"{path.relative_to(REPO)}:{number}"
        for root in roots
        for path in sorted((REPO / root).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not bare, f"a type: ignore without [code] and a reason after it: {bare}"


def test_shell_scripts_pass_shellcheck():
    scripts = sorted(str(p.relative_to(REPO)) for p in (REPO / "scripts").glob("*.sh"))
    result = run(str(BIN / "shellcheck"), *scripts, ".ci/run")
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("tool", ["zizmor", "check-jsonschema"])
def test_github_workflows_are_valid_and_safe(tool):
    workflows = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflows found"
    if tool == "zizmor":
        result = run(str(BIN / "zizmor"), "--offline", *workflows)
    else:
        result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr
