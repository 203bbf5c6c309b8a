"""Which prodml modules run where, and on which Python: the one answer that lint, packaging and tests read.

prodml requires Python >= 3.11 (the service and the CLI), but two AWS runtimes run part of it on older
Pythons: the Glue Python shell ETL job (3.9) and the SageMaker scikit-learn training container (3.10). What
such a runtime runs is the *import closure* of its entry script inside prodml: every ``import`` and ``from``
statement, function-level ones included (any of them may run), followed through prodml's own source. Each
runtime also declares the modules it may run; a closure that grows past them is a decision to make here,
not something an innocent import does.

Read by: ``pyproject.toml``'s ruff ``per-file-target-version`` and ``pipelines/etl/glue/pyproject.toml``'s
wheel contents (both static TOML, printed by ``python -m prodml.runtimes ruff-config|glue-wheel`` and held
equal by :func:`problems`), ``scripts/package_etl.sh`` (the wheel holds exactly the Glue closure),
``scripts/lint.sh`` (``python -m prodml.runtimes check``) and ``prodml ship`` (:func:`training_source_files`).

It reads source files only: it never imports the modules it describes, and needs the standard library alone.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import prodml
from prodml import paths

PACKAGE = "prodml"
SOURCE_ROOT = Path(prodml.__file__).resolve().parent.parent  # the folder holding the prodml package
SERVICE_PYTHON = "3.11"

# Packages that are a stage, or the machinery around stages: the core (every other module) imports none of
# them. pyproject.toml's import-linter contracts name the same packages.
STAGE_PACKAGES = (
    "prodml.etl",
    "prodml.training",
    "prodml.cli",
    "prodml.emulator",
    "prodml.monitoring",
    "prodml.knowledge",
)
# Modules that only start the CLI (``python -m prodml``); neither core nor a stage.
ENTRY_SHIMS = ("prodml.__main__",)


class RuntimeBoundaryError(ValueError):
    """An import inside prodml names a module that does not exist."""


@dataclass(frozen=True)
class Runtime:
    name: str
    runs_on: str
    python: str
    # The script the runtime starts, relative to the repository; None for "the whole package".
    entrypoint: str | None
    # What it may run: module names or fnmatch patterns (``prodml.etl.*``).
    declared: tuple[str, ...]

    @property
    def ruff_target(self) -> str:
        return "py" + self.python.replace(".", "")

    def modules(self) -> frozenset[str]:
        """Every prodml module (packages included) this runtime imports, or may import from a function."""
        if self.entrypoint is None:
            return all_modules()
        return closure(paths.repo_root() / self.entrypoint)

    def undeclared(self) -> list[str]:
        """Modules in the closure that :attr:`declared` does not admit."""
        return sorted(m for m in self.modules() if not any(fnmatchcase(m, p) for p in self.declared))

    def files(self) -> list[Path]:
        """The source files of :meth:`modules`, plus the data files of every package among them."""
        found: set[Path] = set()
        for module in self.modules():
            path = module_file(module)
            found.add(path)
            if path.name == "__init__.py":
                found.update(p for p in path.parent.iterdir() if p.is_file() and not _is_code_or_cache(p))
        return sorted(found)


GLUE = Runtime(
    name="glue",
    runs_on="the Glue Python shell ETL job (pipelines/etl/glue_job.py)",
    python="3.9",
    entrypoint="pipelines/etl/glue_job.py",
    declared=(
        "prodml",
        "prodml.etl",
        "prodml.etl.*",
        "prodml.contract",
        "prodml.features",
        "prodml.zones",
        "prodml.settings",
        "prodml.naming",
        "prodml.aws",
        "prodml.jobs",  # the job parses its arguments from the spec
        "prodml.jobs.*",
        "prodml.datasets",  # the dataset store, where ETL publishes
    ),
)
TRAINING = Runtime(
    name="training",
    runs_on="the SageMaker scikit-learn training container (pipelines/training/train.py)",
    python="3.10",
    entrypoint="pipelines/training/train.py",
    declared=(
        "prodml",
        "prodml.training",
        "prodml.training.core",
        "prodml.training.data",
        "prodml.training.metrics",
        "prodml.training.model",
        "prodml.training.onnx_export",
        "prodml.training.report",
        "prodml.contract",
        "prodml.artifact",
        "prodml.encoding",  # the model-input encoding, shared with serving
        "prodml.features",  # the derived features the encoding computes
        # load_contract reads s3:// URIs through prodml.aws (a function-level import): in the closure,
        # although the container reads its contract from the config channel.
        "prodml.aws",
        "prodml.settings",
        "prodml.naming",
        "prodml.jobs",  # metric definitions
        "prodml.jobs.*",
    ),
)
SERVICE_AND_CLI = Runtime(
    name="service-and-cli",
    runs_on="the inference service on ECS (services/inference) and the prodml CLI",
    python=SERVICE_PYTHON,
    entrypoint=None,
    declared=("prodml", "prodml.*"),
)
RUNTIMES = (GLUE, TRAINING, SERVICE_AND_CLI)
# Runtimes older than prodml's own Python: their closures are held to their version by ruff.
OLDER_RUNTIMES = tuple(r for r in RUNTIMES if r.python != SERVICE_PYTHON)


# ---------------------------------------------------------------------------------------------------------
# The import graph, from source
# ---------------------------------------------------------------------------------------------------------


def _is_code_or_cache(path: Path) -> bool:
    return path.suffix in (".py", ".pyc") or path.name == "__pycache__"


@cache
def all_modules() -> frozenset[str]:
    """Every module and package in prodml's source tree."""
    found = set()
    for path in (SOURCE_ROOT / PACKAGE).rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(SOURCE_ROOT).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return frozenset(found)


def module_file(module: str) -> Path:
    base = SOURCE_ROOT.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    raise RuntimeBoundaryError(f"no source for module {module}")


def _is_prodml(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _with_parents(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """The prodml modules that the file at ``path`` (module ``module``; None for a script) imports anywhere
    in its body, with their parent packages. ``TYPE_CHECKING`` blocks are not told apart: they count too."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    raise RuntimeBoundaryError(f"{path}: a relative import in a script")
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # `from pkg import name`: a submodule when one exists, else an attribute of pkg.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in all_modules() else base
                for alias in node.names
            ]
        else:
            continue
        for name in filter(_is_prodml, names):
            if name not in all_modules():
                raise RuntimeBoundaryError(f"{path} imports {name}, which is not a module in {SOURCE_ROOT}")
            found.update(_with_parents(name))
    return found


def closure(entrypoint: Path) -> frozenset[str]:
    """The prodml modules a script may import, directly or through other prodml modules."""
    seen: set[str] = set()
    todo = imports_of(entrypoint)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo |= imports_of(module_file(module), module) - seen
    return frozenset(seen)


def core_modules() -> list[str]:
    """prodml's top-level modules and packages that are no stage: what the core import contract covers."""
    top = {m for m in all_modules() if m.count(".") == 1}
    return sorted(top - set(STAGE_PACKAGES) - set(ENTRY_SHIMS))


# ---------------------------------------------------------------------------------------------------------
# What lint and packaging read
# ---------------------------------------------------------------------------------------------------------


def _repo_path(path: Path) -> str:
    return path.relative_to(paths.repo_root()).as_posix()


def ruff_per_file_target_version() -> dict[str, str]:
    """``[tool.ruff.per-file-target-version]``: each older runtime's files at its Python (the oldest one when
    several runtimes run a file), so ruff flags newer syntax there and pyupgrade never suggests it."""
    oldest: dict[str, Runtime] = {}
    for runtime in sorted(OLDER_RUNTIMES, key=lambda r: tuple(map(int, r.python.split(".")))):
        assert runtime.entrypoint is not None, "an older runtime is defined by its entry point"
        for path in [paths.repo_root() / runtime.entrypoint, *runtime.files()]:
            if path.suffix == ".py":
                oldest.setdefault(_repo_path(path), runtime)
    return {path: oldest[path].ruff_target for path in sorted(oldest)}


def glue_wheel_files() -> dict[str, str]:
    """What the Glue job's prodml wheel holds: ``{path in the wheel: path relative to the repository}``."""
    return {path.relative_to(SOURCE_ROOT).as_posix(): _repo_path(path) for path in GLUE.files()}


def training_source_files() -> dict[str, Path]:
    """What the SageMaker training ``source_dir`` must hold: ``{path in source_dir: file}``, the entry
    script at the top and the training closure as the ``prodml`` package beside it."""
    assert TRAINING.entrypoint is not None
    entry = paths.repo_root() / TRAINING.entrypoint
    files = {entry.name: entry}
    files.update({path.relative_to(SOURCE_ROOT).as_posix(): path for path in TRAINING.files()})
    return files


def _toml_table(mapping: dict[str, str]) -> str:
    return "".join(f'"{key}" = "{value}"\n' for key, value in mapping.items())


def ruff_config() -> str:
    return "[tool.ruff.per-file-target-version]\n" + _toml_table(ruff_per_file_target_version())


def glue_wheel_config() -> str:
    # hatch force-include maps a source path (relative to pipelines/etl/glue/) to its path in the wheel.
    paths = {f"../../../{source}": target for target, source in glue_wheel_files().items()}
    return "[tool.hatch.build.targets.wheel.force-include]\n" + _toml_table(paths)


def problems() -> list[str]:
    """What breaks the boundaries: closures past their declared modules, and TOML that no longer says what
    this module computes. Empty when all is well."""
    import tomllib  # only here: the module itself stays importable on the older runtimes

    found = []
    for runtime in OLDER_RUNTIMES:
        stray = runtime.undeclared()
        if stray:
            found.append(
                f"{runtime.name} (Python {runtime.python}) would run modules it does not declare: "
                f"{', '.join(stray)}. Remove the import, or declare them in prodml.runtimes if "
                f"{runtime.runs_on} should run them (and keep them {runtime.python}-compatible)."
            )
    # prodml.etl.code_version hashes every module of the package, so Glue must carry them all.
    etl = {m for m in all_modules() if m == "prodml.etl" or m.startswith("prodml.etl.")}
    if etl - GLUE.modules():
        found.append(
            f"prodml.etl modules outside the Glue closure: {', '.join(sorted(etl - GLUE.modules()))} "
            "(code_version hashes the whole package, so the Glue wheel must carry every module)"
        )
    configs = [
        (
            paths.repo_root() / "pyproject.toml",
            ("tool", "ruff", "per-file-target-version"),
            ruff_config,
            "ruff-config",
        ),
        (
            paths.repo_root() / "pipelines/etl/glue/pyproject.toml",
            ("tool", "hatch", "build", "targets", "wheel", "force-include"),
            glue_wheel_config,
            "glue-wheel",
        ),
    ]
    contracts = _dig(
        tomllib.loads((paths.repo_root() / "pyproject.toml").read_text()), ("tool", "importlinter")
    )
    core: dict[str, Any] = next(
        (c for c in contracts.get("contracts", []) if c.get("id") == "core-no-stage"), {}
    )
    if sorted(core.get("source_modules", [])) != core_modules() or sorted(
        core.get("forbidden_modules", [])
    ) != sorted(STAGE_PACKAGES):
        found.append(
            "pyproject.toml: the import-linter contract core-no-stage must have source_modules = "
            f"{core_modules()} (every top-level module that is no stage) and forbidden_modules = "
            f"{sorted(STAGE_PACKAGES)}; a new module is either core, or a stage in prodml.runtimes.STAGE_PACKAGES"
        )
    for path, keys, expected, command in configs:
        if _dig(tomllib.loads(path.read_text()), keys) != _dig(tomllib.loads(expected()), keys):
            found.append(
                f"{_repo_path(path)}: [{'.'.join(keys)}] is not what prodml.runtimes computes; replace it "
                f"with the output of `python -m prodml.runtimes {command}`"
            )
    return found


def _dig(table: dict, keys: Iterable[str]) -> dict:
    for key in keys:
        table = table.get(key, {})
    return table


def describe() -> str:
    lines = []
    for runtime in RUNTIMES:
        modules = sorted(runtime.modules())
        lines.append(f"{runtime.name}: Python {runtime.python}, {runtime.runs_on} ({len(modules)} modules)")
        lines.extend(f"  {m}" for m in modules)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    commands = {
        "show": describe,
        "ruff-config": ruff_config,
        "glue-wheel": glue_wheel_config,
        "training-files": lambda: "\n".join(
            f"{k}\t{_repo_path(v)}" for k, v in training_source_files().items()
        ),
    }
    command = argv[0] if argv else "show"
    if command == "check":
        found = problems()
        for problem in found:
            print(f"runtime boundaries: {problem}", file=sys.stderr)
        return 1 if found else 0
    if command not in commands:
        print(f"usage: python -m prodml.runtimes [check|{'|'.join(commands)}]", file=sys.stderr)
        return 2
    print(commands[command](), end="" if command in ("ruff-config", "glue-wheel") else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
