"""`prodml ship`: package the code every job runs and release it to the artifacts bucket (see
:mod:`prodml.release`)."""

from __future__ import annotations

import typer
from rich.table import Table

from prodml.cli._common import (
    JsonOption,
    console,
    endpoint_label,
    handle_errors,
    print_json,
    register_user_errors,
    settings,
)
from prodml.paths import NotACheckoutError
from prodml.release import Release, ReleaseError, record_image, ship

register_user_errors(ReleaseError, NotACheckoutError)


def _print_release(result: Release) -> None:
    state = "[green]released[/]" if result.uploaded else "[yellow]unchanged[/] (already released)"
    console.print(f"release [bold]{result.release}[/]: {state}; it is now the current release")
    table = Table(show_header=True)
    table.add_column("what")
    table.add_column("where", overflow="fold")
    for name, uri in sorted(result.files.items()):
        table.add_row(name, uri)
    console.print(table)
    for job, outcome in sorted(result.jobs.items()):
        colour = "green" if outcome == "updated" else "yellow"
        note = (
            ""
            if outcome == "updated"
            else " (no such job: provision it with `make apply` or `prodml bootstrap`)"
        )
        console.print(f"Glue job {job}: [{colour}]{outcome}[/]{note}")


@handle_errors
def ship_command(json_: JsonOption = False) -> None:
    """Package the Glue job, the training source and every contract; upload them to a versioned release and
    point the Glue jobs at it. Shipping unchanged code changes nothing."""
    s = settings()
    if json_:
        print_json(ship(s).as_dict())
        return
    with console.status(f"shipping to {endpoint_label(s)}") as status:
        result = ship(s, on_step=lambda step: status.update(step))
    _print_release(result)


image_app = typer.Typer(help="The inference image in ECR.", no_args_is_help=True)


@image_app.command("record")
@handle_errors
def image_record(json_: JsonOption = False) -> None:
    """Record the inference image's manifest in ECR without Docker (for the emulator; on AWS the deploy
    workflow pushes the real image). Tagged with the commit; a model package names it by digest."""
    result = record_image(settings())
    if json_:
        print_json(result)
    else:
        console.print(
            f"image {result['repository']}:{result['tag']} {result['digest']} "
            f"(recorded: {result['pushed']}; a manifest without layers: no Docker here)"
        )


def register(app) -> None:
    app.command("ship")(ship_command)
    app.add_typer(image_app, name="image")


def demo_ship(ctx) -> None:
    with console.status("shipping") as status:
        result = ship(settings(), on_step=lambda step: status.update(step))
    _print_release(result)
    image = record_image(settings())
    console.print(f"inference image {image['repository']}:{image['tag']} {image['digest']} (manifest only)")


DEMO_STEPS = [(35, "ship", demo_ship)]
