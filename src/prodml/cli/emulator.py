"""`prodml emulator up|down|status` and `prodml emulator executor start|stop|status`: the embedded moto server
and the job executor inside it, which runs Glue job runs and SageMaker training jobs as AWS does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodml.cli._common import JsonOption, console, fail, handle_errors, print_json, settings
from prodml.emulator import Emulator

app = typer.Typer(help="Run the embedded AWS emulator (moto server on 127.0.0.1:4566).", no_args_is_help=True)

PortOption = Annotated[
    int | None, typer.Option(help="Port to serve on (default: from AWS_ENDPOINT_URL, else 4566).")
]
StateOption = Annotated[
    Path | None, typer.Option(help="Where the pid, log and state files live (default: .prodml/).")
]


def _emulator(port: int | None, state_dir: Path | None) -> Emulator:
    return Emulator(settings(), port=port, state_dir=state_dir)


@app.command()
@handle_errors
def up(
    port: PortOption = None,
    state_dir: StateOption = None,
    no_executor: Annotated[
        bool, typer.Option("--no-executor", help="Start with the job executor stopped: job runs wait.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start empty: the saved state is moved aside, not restored.")
    ] = False,
) -> None:
    """Start the emulator (moto server and the job executor) in the background; says so if it is already up."""
    s = settings()
    if port is None and not s.is_local_endpoint:
        target = s.endpoint_url or "real AWS"
        console.print(
            f"AWS_ENDPOINT_URL points at {target}: prodml uses it and does not start the emulator.\n"
            "For the embedded emulator: export AWS_ENDPOINT_URL=http://127.0.0.1:4566"
        )
        return
    emulator = _emulator(port, state_dir)
    status, started = emulator.up(executor=not no_executor, fresh=fresh)
    if not started:
        console.print(f"already up: {status.detail}" + ("; --fresh ignored (it is running)" if fresh else ""))
        return
    console.print(f"[green]started[/] {status.detail}; log: {emulator.log_file}")
    state = emulator.state()
    if state.get("note"):
        console.print(f"[yellow]{state['note']}[/]")
    elif state.get("restored"):
        console.print(f"restored the saved state from {state['path']} ({state['backends']} services)")
    else:
        console.print(f"state is kept in {state['path']}")


@app.command()
@handle_errors
def down(port: PortOption = None, state_dir: StateOption = None) -> None:
    """Stop the emulator prodml started; it saves its state first (`up` restores it, `up --fresh` does not)."""
    emulator = _emulator(port, state_dir)
    if emulator.down():
        console.print(f"stopped the emulator on {emulator.url}")
    else:
        console.print(f"no prodml emulator is running on {emulator.url}")


@app.command()
@handle_errors
def status(port: PortOption = None, state_dir: StateOption = None) -> None:
    """Say whether the emulator is serving; exits 1 when nothing is."""
    current = _emulator(port, state_dir).status()
    console.print(current.detail)
    if not current.running:
        raise fail("emulator is down; start it with `prodml emulator up`")


executor_app = typer.Typer(
    help="The job executor: it runs the Glue job runs and SageMaker training jobs the emulator records.",
    no_args_is_help=True,
)
app.add_typer(executor_app, name="executor")


def _executor(action: str | None, port: int | None, state_dir: Path | None, json_: bool) -> None:
    try:
        state = _emulator(port, state_dir).executor(action)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    if json_:
        print_json(state)
        return
    active = ", ".join(state["active"]) or "none"
    console.print(
        f"executor {'[green]running[/]' if state['running'] else '[yellow]stopped[/]'}: "
        f"active jobs {active}; {state['finished']} finished"
    )


@executor_app.command("status")
@handle_errors
def executor_status(
    port: PortOption = None, state_dir: StateOption = None, json_: JsonOption = False
) -> None:
    """Whether the executor runs jobs, which are running, and how many finished."""
    _executor(None, port, state_dir, json_)


@executor_app.command("stop")
@handle_errors
def executor_stop(port: PortOption = None, state_dir: StateOption = None, json_: JsonOption = False) -> None:
    """Stop starting jobs: new runs stay STARTING / InProgress until `start` (running ones finish)."""
    _executor("stop", port, state_dir, json_)


@executor_app.command("start")
@handle_errors
def executor_start(port: PortOption = None, state_dir: StateOption = None, json_: JsonOption = False) -> None:
    """Run the jobs that wait, and every new one."""
    _executor("start", port, state_dir, json_)
