"""The ETL job: Glue-style arguments in, one committed dataset version (or a clear failure) out.

It runs inside a Glue Python shell job, on AWS and on the emulator alike (whose executor runs the released
script and wheel as Glue does); `prodml etl` only starts the run and follows it. It talks to the outside only through its arguments, S3, the Glue catalog, and its stdout:
progress and the result are printed as ``PRODML_EVENT <json>`` lines (which CloudWatch keeps on AWS).

Exit codes: 0 committed or no-op; 2 quality gate failed (nothing published); 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from prodml import aws
from prodml.contract import ContractError, load_contract
from prodml.datasets import DatasetStore
from prodml.etl import code_version, publish
from prodml.etl.process import AccountingError, EtlOptions, QualityGateError, process
from prodml.etl.read import RawReadError
from prodml.jobs import EVENT_PREFIX, etl_spec
from prodml.settings import get_settings


class EtlJobError(RuntimeError):
    """A job that cannot run as asked (bad arguments, a raw zone that does not fit the contract)."""


@dataclass(frozen=True)
class JobArgs:
    job_name: str
    dataset: str
    raw_uri: str
    processed_uri: str
    contract_uri: str
    glue_database: str
    work_dir: str  # the defaults of these come from the job spec
    run_id: str
    bucket_mb: int
    max_rows_per_file: int


def argument_names() -> tuple[list[str], dict[str, str]]:
    """The job's required argument names and its optional ones with their defaults, from the job spec
    (``prodml/jobs/etl.yaml``, which Terraform reads too). Glue adds ``--JOB_NAME`` itself."""
    spec = etl_spec()
    required = ["JOB_NAME"] + [a.name for a in spec.arguments if a.required]
    optional = {a.name: a.default or "" for a in spec.arguments if not a.required}
    return required, optional


def resolve_args(argv: list[str]) -> JobArgs:
    """``--NAME value`` arguments, as Glue passes them: `awsglue.utils.getResolvedOptions` inside Glue, an
    argparse parser taking the same names anywhere else."""
    required, optional = argument_names()
    present = [name for name in optional if f"--{name}" in argv]
    try:
        from awsglue.utils import getResolvedOptions  # only exists inside Glue

        values = getResolvedOptions(argv, [*required, *present])
    except ImportError:
        parser = argparse.ArgumentParser(prog="glue_job.py", description="prodml ETL job (Glue arguments)")
        for name in required:
            parser.add_argument(f"--{name}", required=True)
        for name, default in optional.items():
            parser.add_argument(f"--{name}", default=default)
        values = vars(parser.parse_known_args(argv[1:])[0])
    options = {name: values.get(name, default) or default for name, default in optional.items()}
    try:
        return JobArgs(
            job_name=values["JOB_NAME"],
            dataset=values["dataset"],
            raw_uri=values["raw_uri"],
            processed_uri=values["processed_uri"],
            contract_uri=values["contract_uri"],
            glue_database=values["glue_database"],
            work_dir=options["work_dir"],
            run_id=options["run_id"],
            bucket_mb=int(options["bucket_mb"]),
            max_rows_per_file=int(options["max_rows_per_file"]),
        )
    except ValueError as exc:
        raise EtlJobError(f"bad job argument: {exc}") from None


def emit(event: str, data: dict) -> None:
    print(EVENT_PREFIX + json.dumps({"event": event, **data}, default=str), flush=True)


def run(args: JobArgs) -> dict:
    """Run the job; returns the result event. Raises QualityGateError (nothing published) and friends."""
    started = time.monotonic()
    settings = get_settings()
    contract = load_contract(args.contract_uri)
    if contract.name != args.dataset:
        raise EtlJobError(f"--dataset {args.dataset!r} does not match the contract's name {contract.name!r}")
    raw_bucket, raw_prefix = aws.split_s3_uri(args.raw_uri)
    processed_bucket, _ = aws.split_s3_uri(args.processed_uri)
    if raw_prefix.strip("/") not in ("", args.dataset):
        raise EtlJobError(
            f"--raw_uri must be the raw bucket or s3://<raw>/{args.dataset}/, got {args.raw_uri}"
        )
    s3 = aws.client("s3", settings)
    run_id = args.run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    database = args.glue_database or settings.glue_database

    sources = publish.discover_raw(s3, raw_bucket, args.dataset)
    if not sources:
        raise EtlJobError(
            f"nothing landed for {args.dataset!r} in s3://{raw_bucket}/{args.dataset}/; run `prodml ingest`"
        )
    version = publish.dataset_version(contract, sources)
    emit(
        "plan",
        {
            "version": version,
            "objects": len(sources),
            "bytes": sum(s.size for s in sources),
            "run_id": run_id,
        },
    )

    store = DatasetStore(s3, processed_bucket)
    manifest = store.manifest(args.dataset, version)
    if manifest is not None:
        # Same raw objects, contract and code: this exact version is already committed.
        if store.latest(args.dataset) != version:
            store.set_latest(args.dataset, version)
        tables = publish.register_catalog(
            aws.boto3_session(settings), database, processed_bucket, contract, version
        )
        report = json.loads(
            s3.get_object(Bucket=processed_bucket, Key=manifest["quality_report"])["Body"].read()
        )
        return {
            "status": "noop",
            "version": version,
            "committed_at": manifest["committed_at"],
            "tables": tables,
            "report": report,
            "seconds": time.monotonic() - started,
        }

    # Our own scratch (a fresh prodml-etl-* dir) is removed whole; under a given --work_dir, only our part.
    scratch = Path(args.work_dir) if args.work_dir else publish.scratch_dir()
    workdir = scratch / run_id
    try:
        result = process(
            contract,
            sources,
            workdir,
            dataset_version=version,
            options=EtlOptions(
                bucket_bytes=args.bucket_mb * 1024 * 1024, max_rows_per_file=args.max_rows_per_file
            ),
            progress=emit,
        )
        manifest = publish.commit(
            s3,
            processed_bucket,
            contract,
            version,
            result,
            sources,
            run_id=run_id,
            job_name=args.job_name,
            on_step=emit,
        )
    finally:
        shutil.rmtree(workdir if args.work_dir else scratch, ignore_errors=True)
    tables = publish.register_catalog(
        aws.boto3_session(settings), database, processed_bucket, contract, version
    )
    return {
        "status": "committed",
        "version": version,
        "committed_at": manifest["committed_at"],
        "tables": tables,
        "report": result.report,
        "seconds": time.monotonic() - started,
        "etl_code_version": code_version(),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    try:
        args = resolve_args(argv)
        emit("result", run(args))
        return 0
    except QualityGateError as exc:
        emit("result", {"status": "gate_failed", "error": str(exc), "report": exc.report})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (EtlJobError, ContractError, RawReadError, AccountingError, LookupError) as exc:
        emit("result", {"status": "failed", "error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
