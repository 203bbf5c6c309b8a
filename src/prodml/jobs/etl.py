"""Start the ETL job as a Glue job run, follow it, and read what it committed: on AWS and on the emulator
alike (the emulator's executor runs the run as Glue would). Only AWS APIs; the caller presents.

The job definition (script, code, default arguments) belongs to Terraform on AWS and to
``prodml bootstrap`` on the emulator, both from ``prodml/jobs/etl.yaml``, and ``prodml ship`` points it at the
released code. A run passes only the arguments the caller overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prodml import aws, naming
from prodml.contract import Contract
from prodml.datasets import DatasetStore
from prodml.jobs import watch
from prodml.settings import Settings
from prodml.zones import Zones


@dataclass(frozen=True)
class EtlRun:
    job_name: str
    run_id: str


def start(contract: Contract, settings: Settings, *, arguments: dict[str, str] | None = None) -> EtlRun:
    """Start a run of the dataset's Glue job; ``arguments`` override the job's defaults (``--name``)."""
    glue = aws.client("glue", settings)
    job_name = naming.glue_job_name(settings.project, settings.env, contract.name)
    try:
        glue.get_job(JobName=job_name)
    except glue.exceptions.EntityNotFoundException:
        raise LookupError(
            f"no Glue job {job_name} for dataset {contract.name!r}: provision it (`make apply`, or "
            "`prodml bootstrap` on the emulator) and ship code (`prodml ship`)"
        ) from None
    run_id = glue.start_job_run(JobName=job_name, Arguments=arguments or {})["JobRunId"]
    return EtlRun(job_name, run_id)


def wait(
    run: EtlRun,
    settings: Settings,
    *,
    on_state: Callable[[str, dict[str, Any]], None] = lambda state, description: None,
    on_line: Callable[[str], None] = lambda line: None,
    on_event: Callable[[dict[str, Any]], None] = lambda event: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Wait for the run, streaming its log (events go to ``on_event``, other lines to ``on_line``); returns
    the job's result event. A failed run raises :class:`watch.JobFailed`, carrying the result event (with the
    quality report when the gate failed) as ``description["result"]``."""
    result: dict[str, Any] = {}

    def line(text: str) -> None:
        event = watch.parse_event(text)
        if event is None:
            on_line(text)
            return
        if event["event"] == "result":
            result.update(event)
        on_event(event)

    try:
        description = watch.wait_glue_run(
            aws.client("glue", settings),
            aws.client("logs", settings),
            run.job_name,
            run.run_id,
            on_state=on_state,
            on_line=line,
            poll_seconds=poll_seconds,
            timeout_seconds=timeout_seconds,
        )
    except watch.JobFailed as exc:
        exc.description["result"] = result
        raise
    return {**result, "job_name": run.job_name, "job_run_id": run.run_id, "run": description}


def committed(settings: Settings, dataset: str, version: str) -> dict[str, Any]:
    """What a run committed, read from S3: the version's manifest and quality report."""
    store = DatasetStore.of(aws.client("s3", settings), Zones(settings))
    found = store.committed(dataset, version)
    return {"manifest": found.manifest, "report": store.read_json(found.manifest["quality_report"])}
