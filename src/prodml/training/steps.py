"""The retraining pipeline's steps, as the retrain state machine runs them: SageMaker Processing jobs in the
platform image (``prodml/jobs/retrain.asl.json``).

``python -m prodml.training.steps train --dataset D --job-name J`` starts training job ``J`` on the newest
committed version of ``D`` with the contract of the current release, as ``prodml train`` does (the champion's
hyperparameters, or the defaults when there is no champion), and waits for it, echoing its log.
``python -m prodml.training.steps register --dataset D --job J`` registers job ``J`` through the gate, as
``prodml register`` does. Each prints ``PRODML_EVENT <json>`` lines (progress and its result) and exits
non-zero on failure, with the reason in ``/opt/ml/output/message`` (``$PRODML_CONTAINER_ROOT/output/message``
under the emulator), which SageMaker reports as the job's FailureReason.

A thin shell over :mod:`prodml.training.launcher`, :mod:`prodml.jobs.watch` and
:mod:`prodml.training.registration`: no step logic lives here. It never approves a model except through the
gate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from prodml import aws
from prodml.contract import Contract, parse_contract
from prodml.jobs import EVENT_PREFIX
from prodml.registry import ModelRegistry
from prodml.release import current_release
from prodml.settings import Settings, get_settings
from prodml.zones import Zones

# SageMaker's message file of a processing container (its FailureReason, or ExitMessage on success); the
# emulator's executor maps the container's /opt/ml to $PRODML_CONTAINER_ROOT.
CONTAINER_ROOT = "/opt/ml"
MESSAGE_FILE = "output/message"
MESSAGE_LIMIT = 1024  # SageMaker keeps the first KB

Emit = Callable[[dict[str, Any]], None]


def emit_event(event: dict[str, Any]) -> None:
    """One ``PRODML_EVENT`` line on stdout (the job's log)."""
    print(EVENT_PREFIX + json.dumps(event, sort_keys=True, default=str), flush=True)


def released_contract(settings: Settings, dataset: str) -> tuple[Contract, str]:
    """The contract of ``dataset`` as the current release shipped it, and the release id."""
    s3, zones = aws.client("s3", settings), Zones(settings)
    release = current_release(s3, zones)["release"]
    key = zones.contract_key(release, dataset)
    if not aws.s3_object_exists(s3, zones.bucket("artifacts"), key):
        raise LookupError(f"release {release} ships no contract for dataset {dataset!r}")
    text = s3.get_object(Bucket=zones.bucket("artifacts"), Key=key)["Body"].read().decode()
    return parse_contract(yaml.safe_load(text), zones.uri("artifacts", key)), release


def champion_hyperparameters(settings: Settings, contract: Contract) -> dict[str, Any] | None:
    """The hyperparameters the champion was trained with (its published lineage), or None."""
    champion = ModelRegistry(
        aws.client("sagemaker", settings), settings.model_package_group(contract.name)
    ).champion()
    job = Zones.job_from_artifact_key(champion.model_data_url or "") if champion else None
    if job is None:
        return None
    try:
        lineage = json.loads(
            aws.read_s3_text(Zones(settings).uri("artifacts", Zones.lineage_key(job)), settings)
        )
    except Exception:
        return None  # a champion registered without a published lineage: train with the defaults
    hyperparameters = lineage.get("hyperparameters")
    return dict(hyperparameters) if isinstance(hyperparameters, dict) else None


def train(settings: Settings, dataset: str, job_name: str, emit: Emit = emit_event) -> dict[str, Any]:
    """Start training job ``job_name`` as ``prodml train`` does and wait for it; its final description."""
    from prodml.jobs.watch import wait_training_job
    from prodml.training.launcher import launch
    from prodml.training.model import Hyperparameters

    contract, release = released_contract(settings, dataset)
    recipe = champion_hyperparameters(settings, contract)
    hp = Hyperparameters.parse(recipe) if recipe else Hyperparameters()
    launched = launch(contract, settings, hp, job_name=job_name)
    emit(
        {
            "event": "training_job_started",
            "job": launched.name,
            "dataset": dataset,
            "dataset_version": launched.dataset_version,
            "release": release,
            "hyperparameters": hp.as_dict(),
            "hyperparameters_from": "champion" if recipe else "defaults",
        }
    )
    job = wait_training_job(
        aws.client("sagemaker", settings),
        aws.client("logs", settings),
        launched.name,
        on_state=lambda state, _: emit({"event": "training_job_state", "job": launched.name, "state": state}),
        on_line=lambda line: print(line, flush=True),
        poll_seconds=2.0,
    )
    metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList") or []}
    emit(
        {
            "event": "trained",
            "job": launched.name,
            "dataset_version": launched.dataset_version,
            "model_data_url": job["ModelArtifacts"]["S3ModelArtifacts"],
            "metrics": metrics,
        }
    )
    return job


def register(settings: Settings, dataset: str, job: str, emit: Emit = emit_event) -> dict[str, Any]:
    """Register training job ``job`` through the gate, as ``prodml register`` does; the outcome."""
    from prodml.training.registration import register_job

    contract, _ = released_contract(settings, dataset)
    # The model card's local copy goes to a scratch state dir: the container's is thrown away, and the
    # published copy is in S3 (training/<job>/report/).
    with tempfile.TemporaryDirectory(prefix="prodml-register-") as scratch:
        result = register_job(contract, settings.model_copy(update={"state_dir": Path(scratch)}), job)
    outcome = {
        "event": "registered",
        "job": result.job,
        "group": result.version.group,
        "version": result.version.version,
        "model_package_arn": result.version.arn,
        "status": result.decision.status,
        "reason": result.decision.reason,
        "champion_how": result.champion_how,
    }
    emit(outcome)
    return outcome


def message_path() -> Path:
    return Path(os.environ.get("PRODML_CONTAINER_ROOT", CONTAINER_ROOT)) / MESSAGE_FILE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prodml.training.steps", description=__doc__.split("\n\n")[0]
    )
    steps = parser.add_subparsers(dest="step", required=True)
    train_step = steps.add_parser("train", help="Train on the newest committed dataset version and wait.")
    train_step.add_argument("--dataset", required=True, help="The dataset (contract name).")
    train_step.add_argument("--job-name", required=True, help="The SageMaker training job's name.")
    register_step = steps.add_parser("register", help="Register a trained model through the gate.")
    register_step.add_argument("--dataset", required=True, help="The dataset (contract name).")
    register_step.add_argument("--job", required=True, help="The training job to register.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
        if args.step == "train":
            train(settings, args.dataset, args.job_name)
        else:
            register(settings, args.dataset, args.job)
    except Exception as exc:  # whatever stops the step is the job's failure, with the reason
        reason = f"{args.step}: {exc}"
        emit_event({"event": "failed", "step": args.step, "reason": reason})
        print(reason, file=sys.stderr, flush=True)
        try:
            path = message_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(reason[:MESSAGE_LIMIT])
        except OSError as write_error:
            print(f"could not write {message_path()}: {write_error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
