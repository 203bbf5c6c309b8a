"""The closed loop's commands: `prodml retrain` and `prodml drift`.

Each starts the dataset's state machine as its schedule (and, for retraining, the drift alarm) does, follows
the execution through :mod:`prodml.orchestration` and shows what it produced: the training job, the
registered version and the gate's decision; or the drift verdict, the per-feature scores and the HTML
report. The same commands on AWS and on the emulator; this module only parses options and prints.
"""

from __future__ import annotations

import webbrowser
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
from prodml.orchestration import ExecutionEvent, ExecutionResult, OrchestrationError

register_user_errors(OrchestrationError, TimeoutError)

NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Start the execution and return at once (its ARN is printed).")
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(min=1, help="Stop following after this many seconds (the execution goes on)."),
]


def follow_execution(execution_arn: str, s, *, quiet: bool, timeout: float | None) -> ExecutionResult:
    """Wait for a Step Functions execution, printing its steps and its jobs' log lines unless ``quiet``."""
    from prodml.orchestration import follow

    if quiet:
        return follow(execution_arn, s, timeout_seconds=timeout)
    with console.status("starting", spinner="dots") as status:

        def on_event(event: ExecutionEvent) -> None:
            if event.kind == "state" and event.state:
                percent = f"{event.progress:4.0%} " if event.progress is not None else ""
                status.update(f"{percent}{event.state}")
                if event.first and not event.state.startswith(("Wait", "Describe")):
                    console.print(f"  [dim]{percent}[/]{escape(event.state)}", highlight=False)
            elif event.kind == "job":
                colour = {"Completed": "green", "SUCCEEDED": "green", "Failed": "red", "FAILED": "red"}.get(
                    event.status or "", "yellow"
                )
                console.print(f"    {escape(event.job or '')}: [{colour}]{event.status}[/]", highlight=False)
            elif event.kind == "log":
                console.print(f"    [cyan]{escape(_describe_step_event(event.detail))}[/]", highlight=False)
            elif event.kind == "failed":
                console.print(
                    f"  [red]{escape(str(event.error))}[/]: {escape(str(event.cause))}", highlight=False
                )

        return follow(execution_arn, s, on_event, timeout_seconds=timeout)


def _describe_step_event(detail: dict[str, Any]) -> str:
    """One line for a step job's PRODML_EVENT."""
    name = str(detail.get("event", "event"))
    shown = {
        k: v for k, v in detail.items() if k != "event" and not isinstance(v, (dict, list)) and v is not None
    }
    return name + ("  " + "  ".join(f"{k}={v}" for k, v in shown.items()) if shown else "")


def _started(kind: str, dataset: str, execution_arn: str, s, json_: bool) -> None:
    if json_:
        print_json({"kind": kind, "dataset": dataset, "execution_arn": execution_arn, "status": "RUNNING"})
    else:
        console.print(
            f"[green]started[/] the {kind} state machine of {dataset} on {endpoint_label(s)}\n"
            f"  execution {execution_arn}"
        )


def _run(
    kind: str, dataset: str, s, document: dict[str, Any], doing: str, no_wait: bool, timeout, json_: bool
) -> tuple[ExecutionResult, dict[str, Any]] | None:
    """Start the dataset's ``kind`` state machine and follow it: the result and the summary a command prints
    (None with --no-wait, once the start is printed). ``doing`` says what it does, ``{}`` standing for the
    dataset. A failed execution prints its summary with --json and raises."""
    from prodml.orchestration import start

    execution = start(kind, dataset, s, document)
    if no_wait:
        _started(kind, dataset, execution, s, json_)
        return None
    if not json_:
        console.print(f"{doing.format(dataset)} on {endpoint_label(s)}\n  execution {execution}")
    result = follow_execution(execution, s, quiet=json_, timeout=timeout)
    summary: dict[str, Any] = {
        "execution_arn": execution,
        "status": result.status,
        "seconds": round(result.seconds, 1),
        **result.output,
    }
    if not result.succeeded:
        if json_:
            print_json({**summary, "error": result.error, "cause": result.cause})
        raise _failed(result)
    return result, summary


def _failed(result: ExecutionResult) -> OrchestrationError:
    return OrchestrationError(
        f"execution {result.status}: {result.error or 'no error'}: {result.cause or 'no cause given'} "
        f"({result.execution_arn})"
    )


@handle_errors
def retrain(
    contract: ContractOption = DEFAULT_CONTRACT,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    json_: JsonOption = False,
) -> None:
    """Retrain the dataset's model through its retrain state machine, as the drift alarm and the schedule do:
    ETL on the raw zone, a training job, then registration through the gate. Shows the training job, the
    registered version and the gate's decision. Refused while a retraining runs (one at a time)."""
    from prodml.orchestration import registered_version

    c_, s = contract_from(contract), settings()
    ran = _run(
        "retrain", c_.name, s, {"started_by": "prodml retrain"}, "retraining {}", no_wait, timeout, json_
    )
    if ran is None:
        return
    result, summary = ran
    job = str(result.output.get("training_job", ""))
    version = registered_version(s, c_.name, job) if job else None
    if version is None:
        raise OrchestrationError(f"the execution succeeded but training job {job!r} is not in the registry")
    summary.update(
        {
            "model_version": version.version,
            "model_package_arn": version.arn,
            "approval_status": version.status,
            "gate": version.approval_description,
        }
    )
    if json_:
        print_json(summary)
        return
    colour = {"Approved": "green", "Rejected": "red"}.get(version.status, "yellow")
    console.print(
        f"[bold]retrained[/] in {result.seconds:.0f}s\n"
        f"  training job  {job}\n"
        f"  registered    version [bold]{version.version}[/] of {version.group}: [{colour}]{version.status}[/]\n"
        f"  decision      {escape(version.approval_description or '-')}"
    )
    if version.status == "Approved":
        console.print("  the service picks the new champion up at its next registry poll (no redeploy)")


@handle_errors
def drift(
    contract: ContractOption = DEFAULT_CONTRACT,
    window_hours: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="Captured requests of the last H hours (default: monitoring.yaml's, as scheduled)."
        ),
    ] = None,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    json_: JsonOption = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML report in a browser.")] = False,
) -> None:
    """Check the serving model's recent traffic for drift through the dataset's drift state machine, as its
    schedule does: a processing job compares the captured requests with the model's training baseline,
    publishes the DriftScore metric the drift alarm watches and writes drift.json and drift.html."""
    from prodml.orchestration import drift_report, drift_reports_dir

    c_, s = contract_from(contract), settings()
    document: dict[str, Any] = {"started_by": "prodml drift"}
    if window_hours is not None:
        document["window_hours"] = window_hours
    ran = _run("drift", c_.name, s, document, "checking {} for drift", no_wait, timeout, json_)
    if ran is None:
        return
    result, summary = ran
    job = str(result.output["drift_job"])
    report = drift_report(s, str(result.output["output_uri"]), download_to=drift_reports_dir(s, job))
    drifted = report.result.get("drifted_features", [])
    summary.update(
        {
            "verdict": report.result.get("verdict"),
            "overall_score": report.result.get("overall_score"),
            "rows": report.result.get("rows"),
            "model_version": report.result.get("model_version"),
            "drifted_features": drifted,
            "scores": {f["feature"]: f.get("score") for f in report.result.get("features", [])},
            "drift_json_uri": report.output_uri + "drift.json",
            "drift_html_uri": report.html_uri,
            "drift_html": str(report.local_html) if report.local_html else None,
        }
    )
    if json_:
        print_json(summary)
    else:
        print_drift(report.result, job)
        console.print(f"report  {report.html_uri}")
        if report.local_html:
            console.print(f"        {report.local_html.resolve()}")
    if open_ and report.local_html:
        webbrowser.open(report.local_html.resolve().as_uri())


def _score(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_drift(result: dict[str, Any], job: str) -> None:
    """A drift job's result (drift.json) as a table: the verdict, the overall score, each feature's."""
    verdict = str(result.get("verdict"))
    # "drift" iff the overall score reached 1 (monitoring.yaml); any other verdict is no drift or no data.
    colour = {"drift": "red", "no_drift": "green", "no drift": "green"}.get(verdict.lower(), "yellow")
    table = Table(
        title=f"{job}: [{colour}]{verdict}[/] (overall score {_score(result.get('overall_score'))}; "
        f"{result.get('rows')} rows against model version {result.get('model_version')})"
    )
    for column in ("feature", "kind", "PSI", "PSI threshold", "KS", "KS threshold", "score"):
        table.add_column(column, justify="left" if column in ("feature", "kind") else "right")
    features = sorted(result.get("features", []), key=lambda f: -(f.get("score") or 0.0))
    for f in features:
        style = "bold red" if f.get("drifted") else ""
        table.add_row(
            f"[{style}]{escape(f['feature'])}[/]" if style else escape(f["feature"]),
            str(f.get("kind", "")),
            _score(f.get("psi")),
            _score(f.get("psi_threshold")),
            _score(f.get("ks")),
            _score(f.get("ks_threshold")),
            _score(f.get("score")),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain)
    app.command("drift")(drift)
