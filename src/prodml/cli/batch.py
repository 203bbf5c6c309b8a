"""`prodml batch-score`: score S3 files with the champion (or a named version) as a SageMaker Processing job.

Thin over :mod:`prodml.jobs.processing`: starts the job (the platform image's ``python -m app.batch``),
shows its progress from the job's ``PRODML_EVENT`` log lines, and ends with the job's own summary. The same
command on AWS and on the emulator; this module only parses options and prints.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

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
from prodml.jobs.watch import JobFailed

register_user_errors(JobFailed, TimeoutError)


def _rate(event: dict[str, Any]) -> str:
    seconds = event.get("seconds") or 0
    return f"{event.get('rows_done', 0) / seconds:,.0f} rows/s" if seconds else ""


@handle_errors
def batch_score(
    contract: ContractOption = DEFAULT_CONTRACT,
    input_uri: Annotated[
        str,
        typer.Option(
            "--input", help="s3:// prefix of the parquet or CSV files to score (every file under it)."
        ),
    ] = ...,  # type: ignore[assignment]  # typer's required option
    output_uri: Annotated[
        str,
        typer.Option(
            "--output", help="s3:// prefix the predictions, quarantine and summary.json are written to."
        ),
    ] = ...,  # type: ignore[assignment]  # typer's required option
    model_version: Annotated[
        int | None,
        typer.Option("--model-version", min=1, help="Model package version (default: the champion)."),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add per-feature attributions (attribution_<feature> columns).")
    ] = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            "--chunk-rows",
            min=1,
            help="Rows read and scored at a time (default 50,000; 2,000 with --explain).",
        ),
    ] = None,
    instance_type: Annotated[
        str | None, typer.Option(help="Instance type (default: processing.yaml's).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Start the job and return at once.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Stop waiting after this many seconds (the job goes on).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Score S3 parquet or CSV files with the registry's champion (or --model-version) as a SageMaker
    Processing job: rows that fail the contract's checks are quarantined with reasons, the rest scored."""
    from prodml.jobs import processing

    c_ = contract_from(contract)
    s = settings()
    options = {
        "dataset": c_.name,
        "input_uri": input_uri,
        "output_uri": output_uri,
        "model_version": model_version,
        "explain": explain,
        "chunk_rows": chunk_rows,
        "instance_type": instance_type,
    }
    if json_:
        job = processing.start_batch_scoring(s, **options)
    else:
        with console.status("starting the batch scoring job"):
            job = processing.start_batch_scoring(s, **options)
    if no_wait:
        if json_:
            print_json({"job": job.name, "status": "InProgress", "output": output_uri})
        else:
            console.print(
                f"[green]started[/] processing job [bold]{job.name}[/] on {endpoint_label(s)}; "
                f"its output will land under {output_uri}"
            )
        return
    try:
        description = _follow(job.name, s, quiet=json_, timeout=timeout)
    except JobFailed as exc:
        if json_:
            print_json(
                {"job": job.name, "status": exc.description.get("ProcessingJobStatus"), "error": str(exc)}
            )
        raise
    summary = processing.read_summary(s, description)
    if json_:
        print_json({"job": job.name, "status": description["ProcessingJobStatus"], "summary": summary})
        return
    _print_summary(job.name, summary, output_uri)


def _follow(job_name: str, s, *, quiet: bool, timeout: float | None) -> dict[str, Any]:
    from prodml.jobs import processing

    if quiet:
        return processing.wait(s, job_name, timeout_seconds=timeout)
    with console.status(f"{job_name}: InProgress", spinner="dots") as status:
        state = ["InProgress"]

        def on_state(new: str, _: dict[str, Any]) -> None:
            state[0] = new
            status.update(f"{job_name}: {new}")

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "model":
                console.print(
                    f"  scoring with model v{event.get('model_version')} ({event.get('backend')})",
                    highlight=False,
                )
            elif event.get("event") == "progress":
                status.update(
                    f"{job_name}: {state[0]}  {event.get('rows_done', 0):,} rows "
                    f"({event.get('rows_scored', 0):,} scored, {event.get('rows_quarantined', 0):,} quarantined)"
                    f"  {_rate(event)}"
                )

        def on_line(line: str) -> None:
            if line.startswith(("error", "Traceback")):
                console.print(f"  [red]{escape(line)}[/]", highlight=False)

        return processing.wait(
            s, job_name, on_state=on_state, on_event=on_event, on_line=on_line, timeout_seconds=timeout
        )


def _print_summary(job_name: str, summary: dict[str, Any], output_uri: str) -> None:
    table = Table(title=f"{job_name}: model v{summary['model_version']} ({summary['model_backend']})")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("in", f"{summary['rows_in']:,}")
    table.add_row("[green]scored[/]", f"{summary['rows_scored']:,}")
    table.add_row("[yellow]quarantined[/]", f"{summary['rows_quarantined']:,}")
    for reason, count in summary["quarantined_by_reason"].items():
        table.add_row(f"  {escape(reason)}", f"{count:,}")
    console.print(table)
    console.print(
        f"scored {summary['rows_scored']:,} and quarantined {summary['rows_quarantined']:,} of "
        f"{summary['rows_in']:,} rows in {summary['seconds']:.1f}s ({summary['rows_per_second']:,.0f} rows/s); "
        f"output under {output_uri}",
        highlight=False,
    )


def register(app) -> None:
    app.command("batch-score")(batch_score)
