"""Where prodml's own files are, resolved in one place.

Files inside the package (job specs) are read with ``importlib.resources`` and work from an installed wheel.
The deployables' sources (the Glue script, the training entrypoint, the service, the contracts) live in the
repository, and so do the commands that package them (``prodml ship``) or run them from source
(``prodml serve``): :func:`repo_root` finds the checkout, from ``$PRODML_REPO`` or by walking up from the
working directory and then from this package, and says clearly when there is none.
"""

from __future__ import annotations

import os
from pathlib import Path

import prodml

_MARKERS = ("pyproject.toml", "pipelines", "services")


class NotACheckoutError(LookupError):
    """The command needs the prodml repository (its pipelines, service and contracts)."""


def _is_root(path: Path) -> bool:
    return all((path / marker).exists() for marker in _MARKERS) and (path / "src" / "prodml").is_dir()


def repo_root() -> Path:
    explicit = os.environ.get("PRODML_REPO")
    if explicit:
        if not _is_root(Path(explicit)):
            raise NotACheckoutError(f"PRODML_REPO={explicit} is not a prodml checkout")
        return Path(explicit).resolve()
    for start in (Path.cwd().resolve(), Path(prodml.__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if _is_root(candidate):
                return candidate
    raise NotACheckoutError(
        "this command needs a prodml checkout (pipelines/, services/, contracts/); run it from one, "
        "or set PRODML_REPO"
    )


def repo_path(relative: str) -> Path:
    """A path of the checkout given relative to its root, as the job specs write them."""
    return repo_root() / relative


def contracts_dir() -> Path:
    return repo_path("contracts")


def inference_service_dir() -> Path:
    return repo_path("services/inference")
