"""Training and registry commands: `prodml train`, `prodml register`, `prodml models ...`.

Thin over :mod:`prodml.training` and :mod:`prodml.registry`; this module only parses options and prints.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._common import (
    DEFAULT_CONTRACT,
    ContractOption,
    console,
    contract_from,
    endpoint_label,
    handle_errors,
    register_user_errors,
    settings,
)
from prodml.registry import RegistryError
from prodml.training import TrainingError

register_user_errors(TrainingError, RegistryError)


class Target(StrEnum):
    local = "local"
    aws = "aws"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    return "-" if value is None else str(value)


def _metrics_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for column in ("validation", "test", "naive baseline (test)"):
        table.add_column(column, justify="right")
    primary = metrics.get("primary_metric")
    baseline = metrics.get("baseline", {}).get("test", {})
    for name, value in metrics["test"].items():
        label = f"[bold]{name} ★[/]" if name == primary else name
        table.add_row(label, _fmt(metrics["validation"].get(name)), _fmt(value), _fmt(baseline.get(name)))
    return table


@handle_errors
def train(
    contract: ContractOption = DEFAULT_CONTRACT,
    dataset_version: Annotated[
        str | None, typer.Option("--dataset-version", help="Committed dataset version (default: the newest).")
    ] = None,
    family: Annotated[
        str,
        typer.Option(
            help="gradient_boosting | random_forest | logistic_regression (classification) | ridge (regression)."
        ),
    ] = "gradient_boosting",
    n_estimators: Annotated[int, typer.Option(help="Trees (tree families).")] = 100,
    max_depth: Annotated[int, typer.Option(help="Tree depth; 0 means unlimited.")] = 3,
    learning_rate: Annotated[float, typer.Option(help="Gradient boosting learning rate.")] = 0.1,
    c: Annotated[float, typer.Option("--C", help="Inverse regularisation (logistic regression).")] = 1.0,
    alpha: Annotated[float, typer.Option(help="L2 penalty (ridge).")] = 1.0,
    seed: Annotated[
        int, typer.Option(help="Random seed: same data, code and seed give the same model.")
    ] = 42,
    on: Annotated[
        Target, typer.Option("--on", help="local: run the entrypoint here; aws: a SageMaker job.")
    ] = Target.local,
    role: Annotated[
        str | None, typer.Option(help="SageMaker execution role ARN (default: {project}-{env}-training).")
    ] = None,
    instance_type: Annotated[str, typer.Option(help="Instance type for --on aws.")] = "ml.m5.large",
) -> None:
    """Train a model on a committed dataset version, locally (default) or as a SageMaker training job."""
    from prodml.training.model import Hyperparameters, check_family

    c_ = contract_from(contract)
    hp = Hyperparameters.parse(
        {
            "family": family,
            "n_estimators": n_estimators,
            "max_depth": max_depth,
            "learning_rate": learning_rate,
            "C": c,
            "alpha": alpha,
            "seed": seed,
        }
    )
    check_family(c_.target.task, hp.family)  # an unknown family fails here, before anything is downloaded or launched
    if on is Target.aws:
        from prodml.training.launcher import launch

        launched = launch(
            c_, settings(), hp, version=dataset_version, role_arn=role, instance_type=instance_type
        )
        d = launched.description
        console.print(
            f"[green]started[/] SageMaker training job [bold]{launched.name}[/] on {endpoint_label(settings())}: "
            f"status {d.get('TrainingJobStatus')}, dataset version {launched.dataset_version}\n"
            f"  the model will land at {launched.model_data_url}; then run "
            f"`prodml register --job {launched.name}`"
        )
        return
    run_training(c_, hp, dataset_version=dataset_version, role=role)


def run_training(c_, hp, *, dataset_version: str | None = None, role: str | None = None):
    from prodml.training.runner import train_local

    with console.status("starting", spinner="dots") as status:

        def on_line(line: str) -> None:
            style = "cyan" if line.startswith("metric ") else ("red" if line.startswith("error") else "dim")
            console.print(f"  [{style}]{line}[/]", highlight=False)

        job = train_local(
            c_,
            settings(),
            hp,
            version=dataset_version,
            role_arn=role,
            on_line=on_line,
            on_phase=lambda phase: status.update(phase),
        )
    console.print(
        _metrics_table(
            job.metrics, f"{job.name}: {hp.family} on {c_.name} version {job.dataset_version.version}"
        )
    )
    parity = job.metrics["onnx_parity"]
    console.print(
        f"ONNX: {'[green]kept[/]' if parity['passed'] else '[yellow]dropped[/]'} "
        f"(label agreement {_fmt(parity['label_agreement'])}, max prob diff {_fmt(parity['max_abs_prob_diff'])}, "
        f"max rel pred diff {_fmt(parity['max_rel_pred_diff'])})"
    )
    console.print(
        f"model    {job.model_data_url}\nlineage  {job.lineage_uri}\nreport   {job.report_uri} "
        f"(local copy {job.local_report_dir})\ntrained in {job.seconds:.1f}s"
    )
    return job


def register(app: typer.Typer) -> None:
    app.command("train")(train)


# ---- demo steps --------------------------------------------------------------------------------------


def demo_train(ctx) -> None:
    from prodml.training.model import Hyperparameters

    job = run_training(ctx.contract, Hyperparameters(), dataset_version=ctx.facts.get("dataset_version"))
    ctx.facts["training_job"] = job.name


DEMO_STEPS = [(50, "train", demo_train)]
