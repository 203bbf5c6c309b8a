"""`prodml etl`, `prodml datasets`, `prodml quarantine`: run the Glue ETL job and inspect what it made.

`prodml etl` starts a run of the dataset's Glue job, follows it (state, log, progress) and reports from what the
job committed in S3, through :mod:`prodml.jobs.etl`: the same AWS calls on AWS and on the emulator, whose
executor runs the job as Glue does. It never executes the job itself and never edits the processed zone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodml import aws
from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    JsonOption,
    console,
    contract_from,
    endpoint_label,
    handle_errors,
    print_json,
    register_user_errors,
    settings,
)
from prodml.datasets import DatasetStore
from prodml.jobs import etl as etl_jobs
from prodml.jobs.watch import JobFailed
from prodml.settings import Settings
from prodml.zones import Zones

register_user_errors(JobFailed)


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
    bucket_mb: Annotated[
        int | None,
        typer.Option(min=1, help="Raw MB per dedup bucket: bounds the job's memory (default: the job's)."),
    ] = None,
    max_rows_per_file: Annotated[
        int | None, typer.Option(min=1, help="Rows per output parquet file (default: the job's).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Start the run and return at once.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Stop waiting after this many seconds (the run goes on).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Run the Glue ETL job: raw → validated, deduplicated, split, versioned parquet in the processed zone."""
    s = settings()
    c = contract_from(contract)
    overrides = {"--bucket_mb": bucket_mb, "--max_rows_per_file": max_rows_per_file}
    run = etl_jobs.start(c, s, arguments={k: str(v) for k, v in overrides.items() if v is not None})
    if no_wait:
        if json_:
            print_json({"job_name": run.job_name, "job_run_id": run.run_id, "state": "STARTING"})
        else:
            console.print(
                f"started Glue job {run.job_name} run [bold]{run.run_id}[/] on {endpoint_label(s)}\n"
                f"  follow it: aws glue get-job-run --job-name {run.job_name} --run-id {run.run_id}"
            )
        return
    if not json_:
        console.print(
            f"ETL for {c.name} v{c.version} on {endpoint_label(s)}: Glue job {run.job_name} run {run.run_id}"
        )
    try:
        result = follow_etl(run, s, quiet=json_, timeout=timeout)
    except JobFailed as exc:
        report = exc.description.get("result", {}).get("report")
        if report and not json_:
            print_report_summary(report)
        if json_:
            print_json(
                {
                    "job_name": run.job_name,
                    "job_run_id": run.run_id,
                    "state": exc.description.get("JobRunState"),
                    "error": str(exc),
                    "report": report,
                }
            )
        raise
    if json_:
        print_json({k: v for k, v in result.items() if k != "run"})
    else:
        _print_result(result, s)


def follow_etl(
    run: etl_jobs.EtlRun, s: Settings, *, quiet: bool = False, timeout: float | None = None
) -> dict[str, Any]:
    """Wait for an ETL run with a progress display and its log; the result, read back from S3."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task("STARTING", total=None, detail="")

        def on_state(state: str, description: dict[str, Any]) -> None:
            progress.update(task, description=state)

        def on_line(line: str) -> None:
            if not quiet:
                progress.console.print(f"  [dim]{escape(line)}[/]", highlight=False)

        def on_event(event: dict[str, Any]) -> None:
            kind = event["event"]
            if kind == "plan":
                progress.update(task, total=event["bytes"], detail=f"version {event['version']}")
            elif kind == "rows":
                progress.update(task, detail=f"{event['rows']:,} rows of {Path(event['object']).name}")
            elif kind == "object":
                progress.advance(task, event["bytes"])
            elif kind == "bucket":
                progress.update(task, detail=f"dedup + split: bucket {event['bucket']}/{event['buckets']}")
            elif kind in ("staged", "copied"):
                progress.update(task, detail=f"commit {kind}: {event['done']}/{event['files']} files")

        result = etl_jobs.wait(
            run, s, on_state=on_state, on_line=on_line, on_event=on_event, timeout_seconds=timeout
        )
    dataset = result.get("report", {}).get("dataset") or result.get("dataset")
    if result.get("version") and dataset:
        result |= etl_jobs.committed(s, dataset, result["version"])
    return result


@handle_errors
def datasets(contract: ContractOption = DEFAULT_CONTRACT) -> None:
    """List the versions of a dataset in the processed zone: committed ones and interrupted leftovers."""
    s = settings()
    c = contract_from(contract)
    store = DatasetStore.of(aws.client("s3", s), Zones(s))
    bucket = store.bucket
    latest = store.latest(c.name)
    table = Table(title=f"processed zone: {c.name} (s3://{bucket}/{c.name}/)")
    for col in ("version", "state", "committed at", "train", "validation", "test", "quarantined"):
        table.add_column(col)
    for item in store.versions(c.name):
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

    s = settings()
    c = contract_from(contract)
    zones = Zones(s)
    manifest = DatasetStore.of(aws.client("s3", s), zones).committed(c.name, version).manifest
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
    run = etl_jobs.start(ctx.contract, s)
    console.print(f"started Glue job {run.job_name} run {run.run_id}")
    result = follow_etl(run, s)
    _print_result(result, s)
    ctx.facts["dataset_version"] = result["version"]
    ctx.facts["quality_report"] = result["report"]


DEMO_STEPS = [(40, "etl", demo_step)]
