"""`prodml demo-drift`: the closed loop end to end, `make demo`'s sequel (it runs `prodml demo` first when the
registry has no champion yet).

The world moves: a shifted batch lands in the raw zone and the running service gets shifted traffic. The drift
state machine finds the drift and publishes the DriftScore metric; the drift alarm's condition is met, and its
state change starts the retrain state machine through the EventBridge rule (nobody calls `prodml retrain`);
retraining runs ETL on the raw zone (the new batch included), a training job and registration through the gate;
the new version is approved and the running service answers with it after its next registry poll, with no
restart. Every step is the AWS path: the emulator runs the jobs, the state machines, the alarm and the rule.
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.rule import Rule

from prodml import aws, local_service, sample_data
from prodml import ingest as ingest_lib
from prodml.cli import data as data_cli
from prodml.cli import demo as demo_cli
from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    UserError,
    console,
    contract_from,
    fail,
    handle_errors,
    settings,
)
from prodml.cli.loop import follow_execution, print_drift
from prodml.cli.serving import KeepAlive, free_port, http_json, json_object, wait_ready
from prodml.contract import Contract
from prodml.etl.validate import validate_batch
from prodml.registry import ModelRegistry

# The shifted batch's ids start here, so they never collide with `make demo`'s.
SHIFTED_ID_OFFSET = 50_000_000
# The service polls the registry this often in the demo (30 s by default), so the new champion shows quickly.
POLL_INTERVAL_S = 2
# Requests replayed a second time: cache hits, which capture records too.
REPEATS = 200


@dataclass
class LoopContext:
    contract: Contract
    contract_path: Path
    data: Path
    shift: float
    rows: int
    requests: int
    work_dir: Path
    url: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def _registry(ctx: LoopContext) -> ModelRegistry:
    s = settings()
    return ModelRegistry(aws.client("sagemaker", s), s.model_package_group(ctx.contract.name))


def step_champion(ctx: LoopContext) -> None:
    """A champion must serve before anything can drift from it: run `prodml demo` when there is none."""
    champion = _registry(ctx).champion() if _group_exists(ctx) else None
    if champion is None:
        console.print("  no approved model yet: running `prodml demo` first (make demo)")
        demo_cli.demo(contract=ctx.contract_path, data=ctx.data)
        console.print(Rule("[bold]back to demo-drift"))
        champion = _registry(ctx).champion()
        if champion is None:
            raise UserError("`prodml demo` ended without an approved model; nothing can serve")
    ctx.facts["champion"] = champion.version
    console.print(f"  champion: version {champion.version} ({champion.status})")


def _group_exists(ctx: LoopContext) -> bool:
    s = settings()
    sm = aws.client("sagemaker", s)
    try:
        sm.describe_model_package_group(ModelPackageGroupName=s.model_package_group(ctx.contract.name))
    except sm.exceptions.ClientError:
        return False
    return True


def step_alarm_clear(ctx: LoopContext) -> None:
    """AWS sends the alarm's event on a state change only: a run inside the period of an earlier breach waits."""
    from prodml.orchestration import drift_alarm, wait_for_alarm

    alarm = drift_alarm(settings(), ctx.contract.name)
    ctx.facts["alarm"] = alarm["AlarmName"]
    console.print(f"  drift alarm {alarm['AlarmName']}: {alarm['StateValue']}")
    if alarm["StateValue"] == "ALARM":
        period = int(alarm.get("Period", 300)) * int(alarm.get("EvaluationPeriods", 1))
        console.print(
            f"  still in ALARM from an earlier drift run; it clears after {period}s without a breach "
            "(AWS signals only a change, so this run waits for OK)"
        )
        with console.status("waiting for the alarm to clear"):
            wait_for_alarm(settings(), ctx.contract.name, "OK", timeout_seconds=period + 120)
        console.print("  drift alarm: OK")


def step_land_shifted(ctx: LoopContext) -> None:
    """A batch from a moved world lands in the raw zone, next to the data the champion was trained on."""
    path = ctx.work_dir / f"{ctx.contract.name}-shifted-{ctx.shift:g}.csv"
    if not path.exists():
        summary = sample_data.write_sample(
            ctx.contract, path, ctx.rows, seed=71, shift=ctx.shift, id_offset=SHIFTED_ID_OFFSET
        )
        console.print(f"  drew {summary.rows:,} rows with shift {ctx.shift:g} → {path}")
    data_cli._print_landing(ingest_lib.ingest(path, ctx.contract, settings()))
    ctx.facts["shifted_file"] = path


def _request_rows(ctx: LoopContext, count: int) -> list[dict[str, Any]]:
    """Clean rows of the shifted world as request bodies: validated by the contract as ETL validates them."""
    raw = pacsv.read_csv(
        ctx.facts["shifted_file"],
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(ctx.contract.raw_columns, pa.string()), strings_can_be_null=True
        ),
    ).slice(0, count * 2)
    batch = validate_batch(ctx.contract, raw)
    rows = []
    for row in batch.table.filter(pa.array(batch.valid)).slice(0, count).to_pylist():
        row.pop(ctx.contract.target.name, None)
        rows.append({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
    return rows


def _send(url: str, rows: list[dict[str, Any]]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    client = KeepAlive(url)
    try:
        for row in rows:
            status, _ = client("POST", "/predict", row)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        client.close()
    return statuses


def step_shifted_traffic(ctx: LoopContext) -> None:
    """Shifted requests reach the running service; it captures every one (cache hits too)."""
    rows = _request_rows(ctx, ctx.requests)
    if not rows:
        raise UserError("the shifted batch has no valid row to send")
    traffic = rows + rows[:REPEATS]
    shards = [traffic[i::4] for i in range(4)]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda shard: _send(ctx.url, shard), shards))
    seconds = time.perf_counter() - started
    statuses: dict[int, int] = {}
    for result in results:
        for status, n in result.items():
            statuses[status] = statuses.get(status, 0) + n
    console.print(
        f"  sent {len(traffic):,} requests ({min(REPEATS, len(rows))} repeated: cache hits) in {seconds:.1f}s: "
        + ", ".join(f"{n:,} x {status}" for status, n in sorted(statuses.items()))
    )
    if set(statuses) != {200}:
        raise UserError(f"the service refused shifted requests: {statuses}")
    # Capture writes every PRODML_CAPTURE_FLUSH_S (1 s here); wait until the records are in S3.
    deadline = time.monotonic() + 30
    written = 0.0
    while time.monotonic() < deadline:
        written = _captured(ctx.url)
        if written >= len(traffic):
            break
        time.sleep(0.5)
    console.print(f"  captured {written:,.0f} records to the capture zone")
    ctx.facts["traffic_started"] = datetime.now(UTC)


def _captured(url: str) -> float:
    metrics = str(http_json("GET", url + "/metrics")[1])
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("prodml_capture_records_total") and 'outcome="written"' in line
    )


def step_drift(ctx: LoopContext) -> None:
    """The drift state machine, as its schedule starts it, over the last minutes of captured traffic."""
    from prodml.orchestration import drift_report, drift_reports_dir, start

    s = settings()
    ctx.facts["drift_started"] = datetime.now(UTC)
    execution = start(
        "drift", ctx.contract.name, s, {"started_by": "prodml demo-drift", "window_hours": 0.25}
    )
    console.print(f"  execution {execution}")
    result = follow_execution(execution, s, quiet=False, timeout=600)
    if not result.succeeded:
        raise UserError(f"the drift run {result.status}: {result.error}: {result.cause}")
    job = str(result.output["drift_job"])
    report = drift_report(s, str(result.output["output_uri"]), download_to=drift_reports_dir(s, job))
    print_drift(report.result, job)
    console.print(f"  report: {report.local_html.resolve() if report.local_html else report.html_uri}")
    if report.result.get("verdict") != "drift":
        raise UserError(
            f"no drift found (verdict {report.result.get('verdict')}); the loop has nothing to close"
        )


def step_alarm(ctx: LoopContext) -> None:
    """CloudWatch evaluates the drift alarm on the published DriftScore; its change to ALARM is the event."""
    from prodml.orchestration import wait_for_alarm

    with console.status("waiting for CloudWatch to evaluate the drift alarm"):
        alarm = wait_for_alarm(settings(), ctx.contract.name, "ALARM", timeout_seconds=120)
    console.print(f"  {alarm['AlarmName']}: [red]ALARM[/] ({alarm.get('StateReason', '')})", highlight=False)


def step_retrain(ctx: LoopContext) -> None:
    """The alarm's rule started the retrain state machine: find that execution and follow it."""
    from prodml.orchestration import executions_since, registered_version

    s = settings()
    deadline, executions = time.monotonic() + 60, []
    with console.status("waiting for the alarm's rule to start retraining"):
        while time.monotonic() < deadline:
            executions = executions_since(s, ctx.contract.name, "retrain", ctx.facts["drift_started"])
            if executions:
                break
            time.sleep(0.5)
    if not executions:
        raise UserError("the drift alarm went to ALARM but no retrain execution started within 60s")
    execution = executions[0]["executionArn"]
    console.print(f"  started by the drift alarm's EventBridge rule: {execution}")
    result = follow_execution(execution, s, quiet=False, timeout=1800)
    if not result.succeeded:
        raise UserError(f"retraining {result.status}: {result.error}: {result.cause}")
    job = str(result.output.get("training_job", ""))
    version = registered_version(s, ctx.contract.name, job)
    if version is None:
        raise UserError(f"training job {job} was not registered")
    console.print(
        f"  registered version {version.version}: {version.status} ({version.approval_description or '-'})"
    )
    if version.status != "Approved":
        raise UserError(f"the gate did not approve version {version.version}; the champion stays")
    ctx.facts["new_version"] = version.version


def step_served(ctx: LoopContext) -> None:
    """The running service picks the new champion up at its registry poll: no restart, no redeploy."""
    new = ctx.facts["new_version"]
    row = _request_rows(ctx, 1)[0]
    deadline, served = time.monotonic() + 120, set()
    with console.status(f"waiting for the service to serve version {new}"):
        while time.monotonic() < deadline:
            # Each gunicorn worker polls the registry on its own: asking one (GET /model) said nothing of
            # the others. New connections spread over the workers; every answer must come from the new model.
            answers = [http_json("POST", ctx.url + "/predict", row) for _ in range(SERVED_CHECKS)]
            served = {json_object(answer).get("model_version") for _, answer in answers}
            if served == {new}:
                break
            time.sleep(0.5)
    if served != {new}:
        raise UserError(
            f"the service's workers still answer with versions {sorted(served, key=str)}, not {new}, after 120s"
        )
    status, answer = answers[-1]
    console.print(
        f"  the same gunicorn now serves version {new} (was {ctx.facts['champion']}): POST /predict → {status}"
    )
    console.print("    " + json.dumps(answer)[:300], highlight=False)


SERVED_CHECKS = 8  # predictions on new connections that must all come from the new version

STEPS = [
    ("champion", step_champion),
    ("drift alarm", step_alarm_clear),
    ("land a shifted batch", step_land_shifted),
    ("shifted traffic", step_shifted_traffic),
    ("drift check", step_drift),
    ("alarm", step_alarm),
    ("retraining (started by the alarm)", step_retrain),
    ("the service answers with the new version", step_served),
]


@handle_errors
def demo_drift(
    contract: ContractOption = DEFAULT_CONTRACT,
    data: Annotated[
        Path, typer.Option("--data", "-d", help="Data file for `prodml demo` if it has to run first.")
    ] = Path("data/customer_churn.csv"),
    shift: Annotated[
        float,
        typer.Option(min=0.1, help="How far the shifted batch moves (see `prodml sample-data --shift`)."),
    ] = 1.0,
    rows: Annotated[int, typer.Option(min=100, help="Rows in the shifted batch.")] = 20_000,
    requests: Annotated[int, typer.Option(min=50, help="Shifted requests sent to the service.")] = 1_000,
) -> None:
    """Close the loop on the emulator: shifted data and traffic → drift → alarm → retraining → a new champion
    served by the running service. `make demo`'s sequel (runs it first when no model is approved yet)."""
    s = settings()
    if s.is_real_aws:
        raise fail(
            "demo-drift refuses to run against real AWS; export AWS_ENDPOINT_URL=http://127.0.0.1:4566",
            code=2,
        )
    c = contract_from(contract)
    work_dir = Path(s.state_dir) / "demo-drift"
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = LoopContext(c, contract, data, shift, rows, requests, work_dir)
    console.print(Rule("[bold]emulator and bootstrap"))
    demo_cli.step_emulator(demo_cli.DemoContext(contract=c, contract_path=contract, data=data))
    demo_cli.step_bootstrap(demo_cli.DemoContext(contract=c, contract_path=contract, data=data))
    started = time.monotonic()
    port = free_port()
    ctx.url = f"http://127.0.0.1:{port}"
    state = Path(s.state_dir).resolve() / "serving"
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "gunicorn-demo-drift.log"
    plan = STEPS
    for number, (name, step) in enumerate(plan[:2], start=1):
        console.print(Rule(f"[bold]{number}/{len(plan)} {name}"))
        step(ctx)
    env, auth_line = local_service.server_env(
        s,
        c.name,
        port,
        2,
        {
            "PRODML_CAPTURE_FRACTION": "1.0",
            "PRODML_CAPTURE_FLUSH_S": "1",
            "PRODML_POLL_INTERVAL_S": str(POLL_INTERVAL_S),
        },
    )
    with local_service.running(
        lambda: local_service.start_server(env, log_path), local_service.kill_bound_s(env)
    ) as process:
        _serve(ctx, process, log_path, auth_line, plan)
    console.print(Rule(f"[bold green]the loop closed in {time.monotonic() - started:.0f}s"))


def _serve(
    ctx: LoopContext, process: subprocess.Popen, log_path: Path, auth_line: str, plan: list[Any]
) -> None:
    ready, seconds, reason = wait_ready(process, ctx.url, timeout=60)
    if not ready:
        raise UserError(f"the service was not ready after {seconds:.0f}s: {reason} (log: {log_path})")
    console.print(
        f"  gunicorn serving {ctx.url} ({auth_line}; capture 100 %, registry poll {POLL_INTERVAL_S}s)"
    )
    for number, (name, step) in enumerate(plan[2:], start=3):
        console.print(Rule(f"[bold]{number}/{len(plan)} {name}"))
        step(ctx)


def register(app: typer.Typer) -> None:
    app.command("demo-drift")(demo_drift)
