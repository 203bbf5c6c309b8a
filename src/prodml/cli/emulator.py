"""`prodml emulator up|down|status`: the embedded moto server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodml.cli._common import console, fail, handle_errors, settings
from prodml.emulator import Emulator

app = typer.Typer(help="Run the embedded AWS emulator (moto server on 127.0.0.1:4566).", no_args_is_help=True)

PortOption = Annotated[
    int | None, typer.Option(help="Port to serve on (default: from AWS_ENDPOINT_URL, else 4566).")
]
StateOption = Annotated[
    Path | None, typer.Option(help="Where the pid and log files live (default: .prodml/).")
]


def _emulator(port: int | None, state_dir: Path | None) -> Emulator:
    return Emulator(settings(), port=port, state_dir=state_dir)


@app.command()
@handle_errors
def up(port: PortOption = None, state_dir: StateOption = None) -> None:
    """Start moto server in the background; says so if it is already up."""
    s = settings()
    if port is None and not s.is_local_endpoint:
        target = s.endpoint_url or "real AWS"
        console.print(
            f"AWS_ENDPOINT_URL points at {target}: prodml uses it and does not start the emulator.\n"
            "For the embedded emulator: export AWS_ENDPOINT_URL=http://127.0.0.1:4566"
        )
        return
    emulator = _emulator(port, state_dir)
    status, started = emulator.up()
    if started:
        console.print(f"[green]started[/] {status.detail}; log: {emulator.log_file}")
    else:
        console.print(f"already up: {status.detail}")


@app.command()
@handle_errors
def down(port: PortOption = None, state_dir: StateOption = None) -> None:
    """Stop the moto server prodml started (its state is in memory and is lost)."""
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
