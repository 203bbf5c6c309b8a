"""Foundation commands: contract checks, bootstrap, sample data, ingestion into the raw zone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from prodml import bootstrap as bootstrap_lib
from prodml import ingest as ingest_lib
from prodml import sample_data
from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    console,
    contract_from,
    endpoint_label,
    fail,
    handle_errors,
    register_user_errors,
    settings,
)

register_user_errors(ingest_lib.IngestError)


def contract_check(contract: Annotated[Path, typer.Argument(help="Contract YAML to check.")]) -> None:
    """Load a contract and show what every stage derives from it."""
    c = handle_errors(contract_from)(contract)
    table = Table(title=f"{c.name} v{c.version}  (fingerprint {c.fingerprint[:12]})")
    for col in ("column", "type", "nullable", "domain", "role"):
        table.add_column(col)
    table.add_row(c.id, "string", "no", "", "id")
    for f in c.features:
        domain = (
            ", ".join(f.values) if f.values else " .. ".join(str(v) for v in (f.min, f.max) if v is not None)
        )
        role = (
            "numeric feature"
            if f.name in c.numeric_features
            else ("categorical feature" if f.name in c.categorical_features else "source only")
        )
        table.add_row(f.name, f.type.value, "yes" if f.nullable else "no", domain, role)
    for d in c.derived:
        table.add_row(d.name, d.type.value, "yes", f"{d.transform}({d.source})", "derived feature")
    table.add_row(
        c.target.name, c.target.type.value, "no", c.target.task.value, f"target ({c.target.metric})"
    )
    console.print(table)


@handle_errors
def bootstrap(
    contract: Annotated[
        list[Path] | None,
        typer.Option("--contract", "-c", help="Contracts whose model package groups to create."),
    ] = None,
    yes_real_aws: Annotated[
        bool, typer.Option("--yes-real-aws", help="Required to create resources in a real AWS account.")
    ] = False,
) -> None:
    """Create, idempotently, the buckets, catalog, ECR repository, log groups and model package groups."""
    s = settings()
    if s.is_real_aws and not yes_real_aws:
        raise fail(
            "AWS_ENDPOINT_URL is unset, so this would create resources in a real AWS account "
            f"({s.region}). Use `make apply` (Terraform) for real environments, or pass --yes-real-aws "
            "for a sandbox account. For the embedded emulator: export AWS_ENDPOINT_URL=http://127.0.0.1:4566",
            code=2,
        )
    contracts = [contract_from(p) for p in (contract or [DEFAULT_CONTRACT])]
    done = bootstrap_lib.bootstrap(s, [c.name for c in contracts])
    table = Table(title=f"bootstrap on {endpoint_label(s)}")
    table.add_column("resource")
    table.add_column("name")
    table.add_column("state")
    for item in done:
        table.add_row(item.kind, item.name, "[green]created[/]" if item.created else "exists")
    console.print(table)


@handle_errors
def sample_data_command(
    contract: ContractOption = DEFAULT_CONTRACT,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write.")] = Path("data/sample.csv"),
    rows: Annotated[
        int, typer.Option(min=1, help="Clean rows to draw (dirty duplicates come on top).")
    ] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    dirty_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of rows made invalid.")
    ] = 0.02,
    shift: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Draw from a moved world (drift demos): numeric features move this many spreads, "
            "categorical weights this far towards their reverse; 0 is the contract's world.",
        ),
    ] = 0.0,
    id_offset: Annotated[
        int,
        typer.Option(min=0, help="First row id, so a second batch's ids do not collide with the first's."),
    ] = 0,
) -> None:
    """Generate deterministic, realistic sample data for a contract, ~2 % of it dirty."""
    c = contract_from(contract)
    with Progress(
        TextColumn("generating"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("rows", total=rows)
        summary = sample_data.write_sample(
            c,
            out,
            rows,
            seed=seed,
            dirty_fraction=dirty_fraction,
            progress=lambda n: progress.advance(task, n),
            shift=shift,
            id_offset=id_offset,
        )
    dirt = ", ".join(f"{k} {v}" for k, v in sorted(summary.dirty.items())) or "none"
    console.print(
        f"wrote {out} ({out.stat().st_size:,} bytes): {summary.rows:,} rows, "
        f"{summary.dirty_rows:,} dirty ({summary.dirty_rows / max(summary.rows, 1):.1%}): {dirt}"
    )


def _print_landing(result: ingest_lib.IngestResult) -> None:
    r = result.record
    if result.landed:
        console.print(
            f"[green]landed[/] {r.source_name} → {r.uri} ({r.size_bytes:,} bytes, sha256 {r.sha256[:12]}…)"
        )
    else:
        console.print(
            f"[yellow]no-op[/]: these bytes already landed as {r.uri} on {r.ingested_at} "
            f"(from {r.source_name}); the raw zone is never overwritten"
        )


@handle_errors
def ingest(
    file: Annotated[Path, typer.Argument(help="CSV, JSON-lines or parquet file to land.")],
    contract: ContractOption = DEFAULT_CONTRACT,
) -> None:
    """Land FILE byte for byte in the raw zone at a content-addressed key; re-landing the same bytes is a no-op."""
    c = contract_from(contract)
    size = file.stat().st_size if file.is_file() else 0
    with Progress(
        TextColumn("hashing + uploading"), BarColumn(), DownloadColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("bytes", total=size * 2 or None)
        result = ingest_lib.ingest(file, c, settings(), progress=lambda n: progress.advance(task, n))
    _print_landing(result)


@handle_errors
def landed(contract: ContractOption = DEFAULT_CONTRACT) -> None:
    """List the landing manifest of a dataset: every file in its raw zone."""
    c = contract_from(contract)
    records = ingest_lib.landed(c.name, settings())
    table = Table(title=f"raw zone: {c.name} ({len(records)} file(s))")
    for col in ("ingested at", "source", "bytes", "sha256", "key"):
        table.add_column(col)
    for r in records:
        table.add_row(r.ingested_at, r.source_name, f"{r.size_bytes:,}", r.sha256[:12] + "…", r.key)
    console.print(table)
