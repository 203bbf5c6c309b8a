"""Runtime boundaries (prodml.runtimes): what Glue (3.9) and SageMaker training (3.10) run stays within what
they declare, ships alone and imports alone; ruff checks it at those versions; the import contracts hold; and
each check fails on a deliberate violation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from prodml import runtimes
from prodml.runtimes import GLUE, OLDER_RUNTIMES, TRAINING
from tests.conftest import REPO

BIN = Path(sys.executable).parent


def test_each_closure_stays_within_what_its_runtime_declares():
    for runtime in OLDER_RUNTIMES:
        assert runtime.undeclared() == [], runtime.name
    assert "prodml.etl.job" in GLUE.modules()
    assert "prodml.training.core" in TRAINING.modules()
    for runtime in OLDER_RUNTIMES:
        assert not {m for m in runtime.modules() if m.startswith(("prodml.cli", "prodml.emulator"))}
    assert not {m for m in GLUE.modules() if m.startswith("prodml.training")}
    # The launcher and registration run in the CLI, never in the container.
    assert not {m for m in TRAINING.modules() if m.startswith("prodml.etl")}
    assert {"prodml.training.launcher", "prodml.training.registration"}.isdisjoint(TRAINING.modules())


def test_the_toml_that_ruff_and_the_glue_wheel_read_is_what_runtimes_computes():
    assert runtimes.problems() == []


def test_closure_follows_function_level_relative_and_from_imports(source_tree):
    package = source_tree / "src" / "prodml"
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from prodml import b\n",
        "b.py": "from .pkg import sub\n",
        "pkg/__init__.py": "from . import other\n",
        "pkg/sub.py": "from ..c import VALUE\n",
        "pkg/other.py": "",
        "c.py": "VALUE = 1\n",
        "unused.py": "",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    script = source_tree / "entry.py"
    script.write_text("import sys\n\nimport prodml.a\n")
    assert runtimes.closure(script) == {
        "prodml",
        "prodml.a",
        "prodml.b",
        "prodml.pkg",
        "prodml.pkg.sub",
        "prodml.pkg.other",
        "prodml.c",
    }
    (package / "c.py").write_text("import prodml.missing\n")
    with pytest.raises(runtimes.RuntimeBoundaryError, match=r"prodml\.missing"):
        runtimes.closure(script)


def test_an_import_past_the_declared_modules_is_caught(source_tree):
    _copy_repo_sources(source_tree)
    assert runtimes.problems() == []
    # A function-level import counts: Glue would need the module the moment the function runs.
    with (source_tree / "src/prodml/etl/validate.py").open("a") as f:
        f.write("\n\ndef _stray():\n    from prodml.training import core\n\n    return core\n")
    stray = GLUE.undeclared()
    assert "prodml.training.core" in stray and "prodml.training" in stray
    assert any("glue (Python 3.9) would run modules it does not declare" in p for p in runtimes.problems())


@pytest.mark.parametrize(
    ("path", "code", "flagged"),
    [
        ("src/prodml/etl/job.py", "def f(x):\n    match x:\n        case 1:\n            return 1\n", "3.9"),
        ("src/prodml/training/core.py", "try:\n    pass\nexcept* ValueError:\n    pass\n", "3.10"),
        ("src/prodml/registry.py", "def f(x):\n    match x:\n        case 1:\n            return 1\n", None),
    ],
)
def test_ruff_checks_each_runtimes_files_at_its_python(path, code, flagged):
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "--output-format", "concise", "--stdin-filename", path, "-"],
        input=code,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if flagged:
        assert result.returncode == 1 and f"on Python {flagged}" in result.stdout, result.stdout
    else:
        assert result.returncode == 0, result.stdout


def test_the_import_contracts_hold():
    result = _lint_imports(REPO, REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("etl/read.py", "from prodml.cli import app", "Stages never import the CLI"),
        ("contract.py", "from prodml.training import TrainingError", "The core imports no stage"),
        ("zones.py", "import prodml.emulator", "The core imports no stage"),
        ("training/metrics.py", "from prodml.etl import profile", "ETL and training never import each other"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, statement, contract):
    _copy_repo_sources(tmp_path)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "src/prodml" / module).open("a") as f:
        f.write(f"\n\ndef _violation():\n    {statement}\n")
    result = _lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = [line for line in result.stdout.splitlines() if line.endswith((" KEPT", " BROKEN"))]
    assert any(line.startswith(contract) and line.endswith("BROKEN") for line in verdicts), result.stdout


@pytest.mark.parametrize("runtime", ["glue", "training"])
def test_what_a_runtime_ships_imports_on_its_own(tmp_path, runtime):
    """Only the shipped files on sys.path (not the checkout, not the editable install): every module of the
    closure imports, and nothing else of prodml is there to be imported."""
    if runtime == "glue":
        shipped = {target: REPO / source for target, source in runtimes.glue_wheel_files().items()}
        modules = GLUE.modules()
    else:
        shipped = runtimes.training_source_files()
        modules = TRAINING.modules()
        assert shipped["train.py"] == REPO / "pipelines/training/train.py"
    for target, source in shipped.items():
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, tmp_path / target)
    probe = textwrap.dedent(
        """
        import importlib, json, sys
        sys.path[:] = [sys.argv[1], *sys.path, sys.argv[2]]
        for module in json.loads(sys.argv[3]):
            importlib.import_module(module)
        import prodml
        assert prodml.__file__.startswith(sys.argv[1]), prodml.__file__
        print(json.dumps(sorted(m for m in sys.modules if m == "prodml" or m.startswith("prodml."))))
        """
    )
    # -I: no environment, no user site; -S: no site-packages processing, so no editable-install .pth
    # putting the checkout on sys.path. The venv's site-packages is appended for third-party libraries.
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            probe,
            str(tmp_path),
            sysconfig.get_paths()["purelib"],
            json.dumps(sorted(modules)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout.splitlines()[-1])) == modules


def _lint_imports(cwd: Path, source_root: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH ahead of the editable install: grimp reads the package found first.
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=cwd,
        env={"PATH": str(BIN), "PYTHONPATH": str(source_root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_repo_sources(tmp_path: Path) -> None:
    """src/prodml and the runtimes' entry scripts, as laid out in the repository."""
    shutil.copytree(
        REPO / "src/prodml", tmp_path / "src/prodml", ignore=shutil.ignore_patterns("__pycache__")
    )
    for runtime in OLDER_RUNTIMES:
        assert runtime.entrypoint is not None
        (tmp_path / runtime.entrypoint).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / runtime.entrypoint, tmp_path / runtime.entrypoint)
    for config in ("pyproject.toml", "pipelines/etl/glue/pyproject.toml"):
        (tmp_path / config).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / config, tmp_path / config)


@pytest.fixture
def source_tree(tmp_path, monkeypatch):
    """prodml.runtimes pointed at a checkout in ``tmp_path`` (its module list is cached, so cleared)."""
    monkeypatch.setattr(runtimes, "SOURCE_ROOT", tmp_path / "src")
    (tmp_path / "services").mkdir(exist_ok=True)  # what prodml.paths recognises a checkout by
    monkeypatch.setenv("PRODML_REPO", str(tmp_path))
    runtimes.all_modules.cache_clear()
    yield tmp_path
    runtimes.all_modules.cache_clear()
