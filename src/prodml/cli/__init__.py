"""The `prodml` command line. Each stage is a subcommand; every command has --help.

Stage modules (`prodml/cli/<stage>.py`) plug in without editing this file: each defines
``register(app)`` to add its commands, and may define ``DEMO_STEPS`` (see `prodml.cli.demo`).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from prodml.cli import data, demo, emulator

app = typer.Typer(
    name="prodml",
    help="prodml: a production ML platform for AWS that runs end to end on a laptop against an embedded emulator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
contract_app = typer.Typer(help="Inspect data contracts.", no_args_is_help=True)
contract_app.command("check")(data.contract_check)

app.add_typer(emulator.app, name="emulator")
app.add_typer(contract_app, name="contract")
app.command()(data.bootstrap)
app.command("sample-data")(data.sample_data_command)
app.command()(data.ingest)
app.command()(data.landed)
app.command()(demo.demo)


CORE_MODULES = {"data", "demo", "emulator"}


def stage_modules():
    """Every stage CLI module in this package, in name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in CORE_MODULES:
            continue
        yield importlib.import_module(f"{__name__}.{info.name}")


for _module in stage_modules():
    if hasattr(_module, "register"):
        _module.register(app)
