"""The `prodml` command line. Each stage is a subcommand; every command has --help."""

from __future__ import annotations

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
