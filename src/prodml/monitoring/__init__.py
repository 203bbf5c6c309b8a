"""Drift monitoring, a stage: live traffic (or any dataset) against the serving model's training baseline.

- :mod:`~prodml.monitoring.drift`: the statistics (PSI for every feature, KS for numeric ones), streamed in
  bounded memory over the model-input encoding, and the scored result.
- :mod:`~prodml.monitoring.sources`: the rows it reads: a window of captured requests, or a dataset.
- :mod:`~prodml.monitoring.report`: the self-contained HTML report.
- :mod:`~prodml.monitoring.job`: the job (:func:`run_drift`): baseline from the registry, outputs
  ``drift.json`` and ``drift.html``, and the ``DriftScore`` metric the drift alarm watches.
- ``python -m prodml.monitoring``: the job's entrypoint in the platform image (a SageMaker Processing job on
  AWS and on the emulator).

Like every stage it reads the world through S3, the registry and the contract, and never imports another
stage. It runs on the service's Python (the platform image).
"""

from prodml.monitoring.drift import DriftDetector, DriftResult
from prodml.monitoring.job import DriftJobError, DriftRequest, run_drift

__all__ = ["DriftDetector", "DriftJobError", "DriftRequest", "DriftResult", "run_drift"]
