"""`prodml demo`: the whole pipeline on the configured endpoint, for any contract and matching data file.

Each stage is one step function. The core steps are below; a stage module adds its own by defining
``DEMO_STEPS = [(order, name, fn), ...]`` (ingest is order 30; ETL 40, training 50, registry 60, serving 70).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule

from prodml import bootstrap as bootstrap_lib
from prodml import ingest as ingest_lib
from prodml.cli import data as data_cli
from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    console,
    contract_from,
    endpoint_label,
    fail,
    handle_errors,
    settings,
)
from prodml.contract import Contract
from prodml.emulator import Emulator


@dataclass
class DemoContext:
    contract: Contract
    contract_path: Path
    data: Path
    facts: dict = field(default_factory=dict)  # what one step hands the next (dataset version, job name, ...)


def step_emulator(ctx: DemoContext) -> None:
    s = settings()
    if not s.is_local_endpoint:
        console.print(f"using {endpoint_label(s)}; the embedded emulator is not started")
        return
    emulator = Emulator(s)
    status, started = emulator.up()
    console.print(("started " if started else "already up: ") + status.detail)


def step_bootstrap(ctx: DemoContext) -> None:
    for item in bootstrap_lib.bootstrap(settings(), [ctx.contract.name]):
        console.print(f"  {item.kind:<20} {item.name:<40} {'created' if item.created else 'exists'}")


def step_ingest(ctx: DemoContext) -> None:
    result = ingest_lib.ingest(ctx.data, ctx.contract, settings())
    data_cli._print_landing(result)
    ctx.facts["landing"] = result.record
    data_cli.landed(ctx.contract_path)


CORE_STEPS: list[tuple[int, str, Callable[[DemoContext], None]]] = [
    (10, "emulator", step_emulator),
    (20, "bootstrap", step_bootstrap),
    (30, "ingest", step_ingest),
]


def steps() -> list[tuple[str, Callable[[DemoContext], None]]]:
    """The core steps plus every stage module's DEMO_STEPS, in order."""
    from prodml.cli import stage_modules

    found = list(CORE_STEPS)
    for module in stage_modules():
        found.extend(getattr(module, "DEMO_STEPS", []))
    return [(name, fn) for _, name, fn in sorted(found, key=lambda step: step[0])]


@handle_errors
def demo(
    contract: ContractOption = DEFAULT_CONTRACT,
    data: Annotated[Path, typer.Option("--data", "-d", help="Data file matching the contract.")] = Path(
        "data/customer_churn.csv"
    ),
) -> None:
    """Run every stage end to end on the configured endpoint (the embedded emulator by default in `make demo`)."""
    s = settings()
    if s.is_real_aws:
        raise fail(
            "the demo refuses to run against real AWS; export AWS_ENDPOINT_URL=http://127.0.0.1:4566", code=2
        )
    ctx = DemoContext(contract=contract_from(contract), contract_path=contract, data=data)
    ingest_lib.validate_file(data, ctx.contract)  # fail before touching anything
    plan = steps()
    for number, (name, step) in enumerate(plan, start=1):
        console.print(Rule(f"[bold]{number}/{len(plan)} {name}"))
        step(ctx)
    console.print(Rule("[bold green]demo complete"))
