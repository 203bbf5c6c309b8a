"""The ETL library: landed raw objects → a validated, versioned, model-ready dataset in the processed zone.

Small pure steps (`read`, `validate`, `dedup`, `profile`), the core that runs them in bounded memory
(`process`), the S3/catalog side (`publish`) and the job that ties them together (`job`). The Glue script
`pipelines/etl/glue_job.py` only parses arguments and calls :func:`prodml.etl.job.main`.
It never writes to the raw zone, and never publishes a dataset that failed its quality gate.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources


@cache
def code_version() -> str:
    """The ETL code version that enters the dataset version: a hash of the code that shapes the output
    (this package, the contract model and the derived features). Changing any of it makes a new version."""
    # Through importlib.resources, not the file system: Glue may put the wheel on sys.path as a zip.
    package, root = resources.files(__name__), resources.files("prodml")
    modules = sorted((p for p in package.iterdir() if p.name.endswith(".py")), key=lambda p: p.name)
    digest = hashlib.sha256()
    for path in [*modules, root / "contract.py", root / "features.py"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
