"""SageMaker script-mode entrypoint: read the container's SM_* variables and hyperparameters, then train.

SageMaker (and `prodml train`, which mirrors the container) runs it as
``python train.py --family gradient_boosting --n_estimators 100 ...`` with the channels mounted at
``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_VALIDATION``, ``SM_CHANNEL_TEST`` and ``SM_CHANNEL_CONFIG`` (the contract
and run information). Everything else lives in :mod:`prodml.training`; no logic belongs here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def hyperparameters(argv: list[str]) -> dict[str, str]:
    """``--name value`` pairs as the sagemaker-training toolkit passes them (``-n value`` for a one-letter
    name, such as ``C``); ``SM_HPS`` when there are none."""
    if not argv:
        return {k: str(v) for k, v in json.loads(os.environ.get("SM_HPS", "{}")).items()}
    pairs: dict[str, str] = {}
    it = iter(argv)
    for flag in it:
        if not flag.startswith("-") or flag == "-":
            raise SystemExit(f"error: unexpected argument {flag!r}; hyperparameters come as --name value")
        name, _, value = flag.lstrip("-").partition("=")
        pairs[name.replace("-", "_")] = value if _ else next(it, "")
    return pairs


def channel(name: str) -> Path | None:
    value = os.environ.get(f"SM_CHANNEL_{name.upper()}")
    return Path(value) if value else None


def main(argv: list[str]) -> int:
    from prodml.training import TrainingError
    from prodml.training.core import Channels, train
    from prodml.training.model import Hyperparameters

    try:
        hp = Hyperparameters.parse(hyperparameters(argv))
        train(
            Channels(channel("train"), channel("validation"), channel("test"), channel("config")),
            model_dir=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")),
            output_dir=Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
            hp=hp,
            log=lambda line: print(line, flush=True),
        )
    except TrainingError as exc:
        # SageMaker shows the failure file's text as the job's FailureReason.
        failure = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
        try:
            failure.parent.mkdir(parents=True, exist_ok=True)
            failure.write_text(str(exc))
        except OSError:
            pass
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
