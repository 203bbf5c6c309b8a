"""Training: the scikit-learn pipeline built from a data contract, its evaluation, the model artifact, the
SageMaker launcher and gated registration.

The SageMaker entrypoint (``pipelines/training/train.py``) only reads ``SM_*`` variables and calls
:func:`prodml.training.core.train`; nothing here imports the ETL or serving stages. Training never writes to
the processed zone and never approves a model except through the registry gate.
"""

from __future__ import annotations


class TrainingError(ValueError):
    """Bad training input (missing channel, empty split, unknown family, one-class target, ...)."""


CONFIG_CHANNEL = "config"  # the contract, run information and baseline profile, beside the data channels
RUN_INFO = "run.json"  # dataset, dataset_version, manifest, git_sha, job_name: written by the launcher
