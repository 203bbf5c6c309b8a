"""`prodml etl`, `prodml datasets`, `prodml quarantine`: run the Glue ETL job and inspect what it made.

`prodml etl` runs `pipelines/etl/glue_job.py` as a subprocess with the arguments Glue would pass, against
the configured endpoint, and records the job and the run in the Glue API (the emulator records runs but
never executes them; this runner does). The contract travels as ``s3://<artifacts>/code/contracts/``, as
on AWS. It never edits the processed zone itself: only the job writes there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodml import aws, naming
from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    console,
    contract_from,
    endpoint_label,
    handle_errors,
    register_user_errors,
    settings,
)
from prodml.contract import Contract
from prodml.etl import publish
from prodml.etl.job import EVENT_PREFIX, EtlJobError
from prodml.settings import Settings
from prodml.zones import Zones

REPO = Path(__file__).resolve().parents[3]
GLUE_SCRIPT = REPO / "pipelines" / "etl" / "glue_job.py"
# The job's dependencies pinned for Glue's Python 3.9 (`make glue-lock`); Terraform reads it too.
GLUE_REQUIREMENTS = REPO / "pipelines" / "etl" / "glue" / "requirements.txt"
DIST = REPO / "dist"
CODE_PREFIX = "code/"


class EtlRunError(RuntimeError):
    """The ETL job ran and failed (its own one-line reason is the message)."""


register_user_errors(EtlRunError, EtlJobError)


# ---- the runner ----------------------------------------------------------------------------------------


def contract_key(contract: Contract) -> str:
    return f"{CODE_PREFIX}contracts/{contract.name}.yaml"


def upload_code(s: Settings) -> list[str]:
    """Upload `make package-etl` output (dist/etl/glue_job.py, dist/wheels/*.whl) to the artifacts bucket."""
    s3 = aws.client("s3", s)
    bucket = s.bucket("artifacts")
    script = DIST / "etl" / "glue_job.py"
    wheels = sorted((DIST / "wheels").glob("prodml-*.whl"))
    if not script.is_file() or not wheels:
        raise EtlRunError("no packaged ETL code in dist/: run `make package-etl` first")
    uploaded = []
    for path, key in [(script, f"{CODE_PREFIX}etl/glue_job.py")] + [
        (w, f"{CODE_PREFIX}wheels/{w.name}") for w in wheels
    ]:
        s3.upload_file(str(path), bucket, key)
        uploaded.append(f"s3://{bucket}/{key}")
    return uploaded


def glue_python_modules() -> list[str]:
    """The ``--additional-python-modules`` list: the pinned lines of the committed Glue requirements."""
    lines = (line.split("#", 1)[0].strip() for line in GLUE_REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def ensure_glue_job(glue, s: Settings, contract: Contract) -> str:
    """Create the Glue job definition if missing (Terraform owns it on AWS); returns its name."""
    name = naming.glue_job_name(s.project, s.env, contract.name)
    try:
        glue.get_job(JobName=name)
        return name
    except glue.exceptions.EntityNotFoundException:
        pass
    artifacts = s.bucket("artifacts")
    wheel = next(iter(sorted((DIST / "wheels").glob("prodml-*.whl"))), None)
    wheel_name = wheel.name if wheel else "prodml-0.1.0-py3-none-any.whl"
    glue.create_job(
        Name=name,
        Role=f"arn:aws:iam::123456789012:role/{naming.resource_name(s.project, s.env, 'etl')}",
        Command={
            "Name": "pythonshell",
            "ScriptLocation": f"s3://{artifacts}/{CODE_PREFIX}etl/glue_job.py",
            "PythonVersion": "3.9",
        },
        MaxCapacity=0.0625,
        # As modules/glue_etl sets them: the wheel built for Python 3.9, its dependencies pinned for 3.9.
        DefaultArguments={
            "--extra-py-files": f"s3://{artifacts}/{CODE_PREFIX}wheels/{wheel_name}",
            "--additional-python-modules": ",".join(glue_python_modules()),
            "library-set": "none",
            "--glue_database": s.glue_database,
        },
        Description=f"prodml ETL for {contract.name}: raw → processed, validated against the contract",
    )
    return name


def job_arguments(
    s: Settings, contract: Contract, *, bucket_mb: int, max_rows_per_file: int
) -> dict[str, str]:
    return {
        "--dataset": contract.name,
        "--raw_uri": f"s3://{s.bucket('raw')}/{contract.name}/",
        "--processed_uri": f"s3://{s.bucket('processed')}/",
        "--contract_uri": f"s3://{s.bucket('artifacts')}/{contract_key(contract)}",
        "--glue_database": s.glue_database,
        "--bucket_mb": str(bucket_mb),
        "--max_rows_per_file": str(max_rows_per_file),
    }


def run_etl(
    contract: Contract,
    s: Settings,
    *,
    bucket_mb: int = 32,
    max_rows_per_file: int = 1_000_000,
    script: Path = GLUE_SCRIPT,
    python: str = sys.executable,
) -> dict:
    """Upload the contract, record a Glue job run, execute the job script, return its result event.

    ``script`` and ``python`` default to the checkout's script and this interpreter; the packaged script and a
    Python 3.9 environment holding what Glue installs run the job as the Glue Python shell would."""
    s3 = aws.client("s3", s)
    s3.put_object(Bucket=s.bucket("artifacts"), Key=contract_key(contract), Body=contract.to_yaml().encode())
    glue = aws.client("glue", s)
    job_name = ensure_glue_job(glue, s, contract)
    arguments = job_arguments(s, contract, bucket_mb=bucket_mb, max_rows_per_file=max_rows_per_file)
    run_id = glue.start_job_run(JobName=job_name, Arguments=arguments)["JobRunId"]
    argv = [python, str(script), "--JOB_NAME", job_name, "--JOB_RUN_ID", run_id, "--run_id", run_id]
    for name, value in arguments.items():
        argv += [name, value]
    result: dict = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("reading raw", total=None, detail="")
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_job_env(s)
        )
        assert process.stdout is not None
        for line in process.stdout:
            if not line.startswith(EVENT_PREFIX):
                console.print(line.rstrip(), highlight=False, markup=False)
                continue
            event = json.loads(line[len(EVENT_PREFIX) :])
            kind = event["event"]
            if kind == "plan":
                progress.update(task, total=event["bytes"], detail=f"version {event['version']}")
            elif kind == "rows":
                progress.update(task, detail=f"{event['rows']:,} rows of {Path(event['object']).name}")
            elif kind == "object":
                progress.advance(task, event["bytes"])
            elif kind == "bucket":
                progress.update(
                    task, description="dedup + split", detail=f"bucket {event['bucket']}/{event['buckets']}"
                )
            elif kind in ("staged", "copied"):
                progress.update(
                    task, description=f"commit: {kind}", detail=f"{event['done']}/{event['files']} files"
                )
            elif kind == "result":
                result = event
        stderr = process.stderr.read() if process.stderr else ""
        code = process.wait()
    result |= {"job_name": job_name, "job_run_id": run_id}
    if code != 0:
        message = result.get("error") or (stderr.strip().splitlines() or [f"exit code {code}"])[-1]
        if result.get("report"):
            print_report_summary(result["report"])
        raise EtlRunError(f"ETL job {job_name} run {run_id} failed: {message}")
    return result


def _job_env(s: Settings) -> dict[str, str]:
    env = dict(os.environ)
    if s.endpoint_url:
        env["AWS_ENDPOINT_URL"] = s.endpoint_url
    env.setdefault("AWS_DEFAULT_REGION", s.region)
    if s.is_local_endpoint:
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return env


# ---- output --------------------------------------------------------------------------------------------


def print_report_summary(report: dict) -> None:
    rows = report["rows"]
    table = Table(title=f"quality report: {report['dataset']} version {report['dataset_version']}")
    table.add_column("rows", justify="left")
    table.add_column("count", justify="right")
    table.add_row("in", f"{rows['in']:,}")
    table.add_row("out", f"{rows['out']:,}")
    for split, n in rows["by_split"].items():
        table.add_row(f"  {split}", f"{n:,}")
    table.add_row("quarantined", f"{rows['quarantined']:,} ({report['reject_fraction']:.2%})")
    table.add_row("exact duplicates dropped", f"{rows['exact_duplicates_dropped']:,}")
    table.add_row(
        f"duplicate ids dropped ({rows['duplicate_id_policy']})", f"{rows['duplicate_ids_dropped']:,}"
    )
    gate = report["gate"]
    table.add_row(
        "quality gate",
        ("[green]passed[/]" if gate["passed"] else "[red]failed[/]")
        + f" (max {gate['max_reject_fraction']:.2%})",
    )
    console.print(table)
    reasons = list(report["quarantined_by_reason"].items())
    if reasons:
        shown = ", ".join(f"{reason} {n:,}" for reason, n in reasons[:6])
        more = f" (+{len(reasons) - 6} more)" if len(reasons) > 6 else ""
        console.print(f"quarantine reasons: {shown}{more}", highlight=False)
    for obj in report["objects"]:
        if obj["outcome"] != "ok" or obj["extra_columns"] or not obj["landed"]:
            notes = [obj["outcome"]] + ([obj["detail"]] if obj["detail"] else [])
            notes += (
                [f"ignored extra columns {', '.join(obj['extra_columns'])}"] if obj["extra_columns"] else []
            )
            notes += ["no landing record"] if not obj["landed"] else []
            console.print(f"[yellow]note[/] {obj['name']}: {'; '.join(notes)}", highlight=False)


def _print_result(result: dict, s: Settings) -> None:
    if result["status"] == "noop":
        console.print(
            f"[yellow]no-op[/]: version {result['version']} of these raw objects was already committed "
            f"on {result['committed_at']}; nothing rewritten"
        )
    else:
        console.print(
            f"[green]committed[/] version {result['version']} in {result['seconds']:.1f}s "
            f"(Glue job {result['job_name']}, run {result['job_run_id']})"
        )
    print_report_summary(result["report"])
    dataset = result["report"]["dataset"]
    console.print(
        f"s3://{s.bucket('processed')}/{Zones.version_prefix(dataset, result['version'])}  ·  "
        f"catalog {s.glue_database}.{', '.join(result['tables'])}",
        highlight=False,
    )


# ---- commands ------------------------------------------------------------------------------------------


@handle_errors
def etl(
    contract: ContractOption = DEFAULT_CONTRACT,
    upload_code_: Annotated[
        bool, typer.Option("--upload-code", help="Upload dist/etl + dist/wheels (make package-etl) first.")
    ] = False,
    bucket_mb: Annotated[
        int, typer.Option(min=1, help="Raw MB per dedup bucket: bounds the job's memory.")
    ] = 64,
    max_rows_per_file: Annotated[int, typer.Option(min=1, help="Rows per output parquet file.")] = 1_000_000,
) -> None:
    """Run the Glue ETL job: raw → validated, deduplicated, split, versioned parquet in the processed zone."""
    s = settings()
    c = contract_from(contract)
    console.print(f"ETL for {c.name} v{c.version} on {endpoint_label(s)}")
    if upload_code_:
        for uri in upload_code(s):
            console.print(f"uploaded {uri}")
    result = run_etl(c, s, bucket_mb=bucket_mb, max_rows_per_file=max_rows_per_file)
    _print_result(result, s)


@handle_errors
def datasets(contract: ContractOption = DEFAULT_CONTRACT) -> None:
    """List the versions of a dataset in the processed zone: committed ones and interrupted leftovers."""
    s = settings()
    c = contract_from(contract)
    s3 = aws.client("s3", s)
    bucket = s.bucket("processed")
    latest = publish.latest_version(s3, bucket, c.name)
    table = Table(title=f"processed zone: {c.name} (s3://{bucket}/{c.name}/)")
    for col in ("version", "state", "committed at", "train", "validation", "test", "quarantined"):
        table.add_column(col)
    for item in publish.list_versions(s3, bucket, c.name):
        m = item["manifest"]
        if m is None:
            table.add_row(item["version"], "[red]incomplete (no manifest; ignored)[/]", "", "", "", "", "")
            continue
        state = "committed" + (" [green](latest)[/]" if item["version"] == latest else "")
        splits = m["splits"]
        table.add_row(
            item["version"],
            state,
            m["committed_at"],
            *(f"{splits[x]['rows']:,}" for x in ("train", "validation", "test")),
            f"{m['quarantine']['rows']:,}",
        )
    console.print(table)


@handle_errors
def quarantine(
    contract: ContractOption = DEFAULT_CONTRACT,
    version: Annotated[str | None, typer.Option(help="Dataset version (default: the latest).")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows to show.")] = 20,
    reason: Annotated[
        str | None, typer.Option(help="Only rows whose quarantine_reason contains this.")
    ] = None,
) -> None:
    """Show the rows ETL rejected for a committed version, with their reasons."""
    import awswrangler as wr
    import pandas as pd

    from prodml.zones import read_committed_manifest

    s = settings()
    c = contract_from(contract)
    zones = Zones(s)
    manifest = read_committed_manifest(aws.client("s3", s), zones, c.name, version)
    files = [f"s3://{zones.bucket('processed')}/{key}" for key in manifest["quarantine"]["files"]]
    console.print(
        f"{c.name} version {manifest['version']}: {manifest['quarantine']['rows']:,} quarantined rows"
    )
    if not files:
        return
    frame = wr.s3.read_parquet(files, boto3_session=aws.boto3_session(s))
    if reason:
        frame = frame[frame["quarantine_reason"].str.contains(reason, regex=False)]
    counts = frame["quarantine_reason"].value_counts()
    console.print(", ".join(f"{k} {v:,}" for k, v in counts.items()), highlight=False)
    table = Table()
    shown = ["source_row", "quarantine_reasons", c.id, *[f.name for f in c.features][:4], "raw_record"]
    for col in shown:
        table.add_column(col, overflow="fold")
    for _, row in frame.head(limit).iterrows():
        table.add_row(*("" if pd.isna(row[col]) else str(row[col]) for col in shown))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("etl")(etl)
    app.command("datasets")(datasets)
    app.command("quarantine")(quarantine)


# ---- demo ----------------------------------------------------------------------------------------------


def demo_step(ctx) -> None:
    s = settings()
    result = run_etl(ctx.contract, s)
    _print_result(result, s)
    ctx.facts["dataset_version"] = result["version"]
    ctx.facts["quality_report"] = result["report"]


DEMO_STEPS = [(40, "etl", demo_step)]
