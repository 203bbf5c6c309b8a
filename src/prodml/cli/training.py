"""Training and registry commands: `prodml train`, `prodml register`, `prodml models ...`.

Thin over :mod:`prodml.training` and :mod:`prodml.registry`; this module only parses options and prints.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
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
from prodml.jobs.watch import JobFailed
from prodml.registry import RegistryError
from prodml.training import TrainingError

register_user_errors(TrainingError, RegistryError)


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
    role: Annotated[
        str | None, typer.Option(help="SageMaker execution role ARN (default: {project}-{env}-training).")
    ] = None,
    instance_type: Annotated[
        str | None, typer.Option(help="Instance type (default: the job spec's).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Start the job and return at once.")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Stop waiting after this many seconds (the job goes on).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Train a model on a committed dataset version as a SageMaker training job, and follow it."""
    from prodml.training.launcher import launch
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
    check_family(c_.target.task, hp.family)  # an unknown family fails here, before anything is launched
    s = settings()
    if json_:
        launched = launch(c_, s, hp, version=dataset_version, role_arn=role, instance_type=instance_type)
    else:
        with console.status("starting the training job"):
            launched = launch(c_, s, hp, version=dataset_version, role_arn=role, instance_type=instance_type)
    summary = {
        "job": launched.name,
        "dataset_version": launched.dataset_version,
        "release": launched.release,
        "model_data_url": launched.model_data_url,
    }
    if no_wait:
        if json_:
            print_json({**summary, "status": launched.description.get("TrainingJobStatus")})
        else:
            console.print(
                f"[green]started[/] SageMaker training job [bold]{launched.name}[/] on {endpoint_label(s)} "
                f"(dataset version {launched.dataset_version}, release {launched.release})\n"
                f"  the model will land at {launched.model_data_url}; then run "
                f"`prodml register --job {launched.name}`"
            )
        return
    try:
        job = follow_training(launched.name, s, quiet=json_, timeout=timeout)
    except JobFailed as exc:
        if json_:
            print_json({**summary, "status": exc.description.get("TrainingJobStatus"), "error": str(exc)})
        raise
    if json_:
        print_json({**summary, "status": job["TrainingJobStatus"], "metrics": _final_metrics(job)})
        return
    _print_training(job, c_, hp.family, launched.dataset_version)


def follow_training(job_name: str, s, *, quiet: bool = False, timeout: float | None = None) -> dict:
    """Wait for a training job, showing its state and streaming its log; its final description."""
    from prodml import aws
    from prodml.jobs.watch import wait_training_job

    def on_line(line: str) -> None:
        if quiet:
            return
        style = "cyan" if line.startswith("metric ") else ("red" if line.startswith("error") else "dim")
        console.print(f"  [{style}]{escape(line)}[/]", highlight=False)

    if quiet:
        return wait_training_job(
            aws.client("sagemaker", s), aws.client("logs", s), job_name, timeout_seconds=timeout
        )
    with console.status(f"{job_name}: InProgress", spinner="dots") as status:
        return wait_training_job(
            aws.client("sagemaker", s),
            aws.client("logs", s),
            job_name,
            on_state=lambda state, _: status.update(f"{job_name}: {state}"),
            on_line=on_line,
            timeout_seconds=timeout,
        )


def _final_metrics(job: dict) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList") or []}


def _print_training(job: dict, contract, family: str, dataset_version: str) -> None:
    scraped = _final_metrics(job)
    table = Table(title=f"{job['TrainingJobName']}: {family} on {contract.name} version {dataset_version}")
    table.add_column("metric (from the job's log, FinalMetricDataList)")
    for split in ("validation", "test"):
        table.add_column(split, justify="right")
    names = sorted({name.split(":", 1)[1] for name in scraped})
    primary = contract.target.metric
    for name in names:
        label = f"[bold]{name} ★[/]" if name == primary else name
        table.add_row(label, *(_fmt(scraped.get(f"{split}:{name}")) for split in ("validation", "test")))
    console.print(table)
    seconds = job.get("TrainingTimeInSeconds")
    console.print(
        f"model    {job['ModelArtifacts']['S3ModelArtifacts']}\n"
        f"trained in {seconds}s; register it with `prodml register --job {job['TrainingJobName']}`"
    )


@handle_errors
def register_command(
    contract: ContractOption = DEFAULT_CONTRACT,
    job: Annotated[
        str | None, typer.Option("--job", help="Training job (default: the newest for the dataset).")
    ] = None,
    min_improvement: Annotated[
        float,
        typer.Option(min=0.0, help="Margin on the primary metric by which the champion must be beaten."),
    ] = 0.002,
    floor: Annotated[
        float | None,
        typer.Option(
            help="Absolute floor for the primary metric (default per metric; see prodml.training.gate)."
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Register a trained model; the gate auto-approves it only if it beats the champion on the same test split.

    Exits 0 whatever the gate decided (the decision is in the output); non-zero only when nothing registered."""
    from prodml.training.registration import register_job

    quiet = contextlib.nullcontext()
    with (
        quiet if json_ else console.status("registering (scoring the champion on the candidate's test split)")
    ):
        result = register_job(
            contract_from(contract), settings(), job, min_improvement=min_improvement, floor=floor
        )
    if json_:
        print_json(
            {
                "job": result.job,
                "group": result.version.group,
                "version": result.version.version,
                "model_package_arn": result.version.arn,
                "status": result.decision.status,
                "reason": result.decision.reason,
                "champion_how": result.champion_how,
            }
        )
        return
    _print_registration(result)


def _print_registration(result) -> None:
    colour = {"Approved": "green", "Rejected": "red"}.get(result.decision.status, "yellow")
    console.print(
        f"registered [bold]{result.job}[/] as version [bold]{result.version.version}[/] of "
        f"{result.version.group}: [{colour}]{result.decision.status}[/]\n  {result.decision.reason}"
    )
    if result.champion_how:
        console.print(f"  champion compared by {result.champion_how}")
    console.print(f"  model card: {result.local_report_dir / 'model_card.md'}")


models_app = typer.Typer(
    help="The model registry: list, show, approve, reject, roll back.", no_args_is_help=True
)


def _registry(contract_path):
    from prodml import aws
    from prodml.registry import ModelRegistry

    c_ = contract_from(contract_path)
    s = settings()
    return c_, s, ModelRegistry(aws.client("sagemaker", s), s.model_package_group(c_.name))


def _read_json(s, uri: str | None) -> dict:
    from prodml import aws

    if not uri:
        return {}
    try:
        return json.loads(aws.read_s3_text(uri, s))
    except Exception:
        return {}


def _lineage_uri(s, version) -> str | None:
    """Where registration published the version's lineage (``training/<job>/report/lineage.json``)."""
    from prodml.zones import Zones

    job = Zones.job_from_artifact_key(version.model_data_url or "")
    return Zones(s).uri("artifacts", Zones.lineage_key(job)) if job else None


@models_app.command("list")
@handle_errors
def models_list(contract: ContractOption = DEFAULT_CONTRACT) -> None:
    """Every version in the dataset's model package group, newest first; the champion is starred."""
    c_, s, registry = _registry(contract)
    versions = registry.versions()
    champion = next((v for v in versions if v.status == "Approved"), None)
    table = Table(title=f"{registry.group}: {len(versions)} version(s)")
    for col in (
        "version",
        "status",
        "created",
        c_.target.metric + " (test)",
        "dataset version",
        "job",
        "reason",
    ):
        table.add_column(col, overflow="fold")
    for v in versions:
        metrics = _read_json(s, v.metrics_uri)
        lineage = _read_json(s, _lineage_uri(s, v))
        colour = {"Approved": "green", "Rejected": "red"}.get(v.status, "yellow")
        star = " ★" if champion and v.version == champion.version else ""
        table.add_row(
            f"{v.version}{star}",
            f"[{colour}]{v.status}[/]",
            v.created.strftime("%Y-%m-%d %H:%M:%S") if v.created else "-",
            _fmt(metrics.get("test", {}).get(c_.target.metric)),
            str(lineage.get("dataset_version", "-")),
            str(lineage.get("training_job", "-")),
            v.approval_description or "",
        )
    console.print(table)


@models_app.command("show")
@handle_errors
def models_show(
    version: Annotated[
        str, typer.Argument(help="Version number or model package ARN (default: the champion).")
    ] = "",
    contract: ContractOption = DEFAULT_CONTRACT,
) -> None:
    """One version: status, reason, artifact, metrics and lineage."""
    _, s, registry = _registry(contract)
    if version:
        v = registry.describe(version)
    else:
        v = registry.champion()
        if v is None:
            raise RegistryError(f"no approved model in {registry.group} yet")
    metrics = _read_json(s, v.metrics_uri)
    lineage = _read_json(s, _lineage_uri(s, v))
    console.print(
        f"[bold]{v.group} version {v.version}[/]  {v.status}  ({v.approval_description or 'no reason recorded'})"
    )
    console.print(f"  artifact  {v.model_data_url}\n  metrics   {v.metrics_uri}\n  arn       {v.arn}")
    if metrics:
        console.print(_metrics_table(metrics, "metrics"))
    if lineage:
        table = Table(title="lineage", show_header=False)
        for key in (
            "dataset",
            "dataset_version",
            "training_job",
            "git_sha",
            "contract_fingerprint",
            "training_seconds",
        ):
            table.add_row(key, str(lineage.get(key)))
        table.add_row("hyperparameters", json.dumps(lineage.get("hyperparameters", {})))
        table.add_row(
            "packages", ", ".join(f"{k} {v_}" for k, v_ in sorted(lineage.get("packages", {}).items()))
        )
        console.print(table)


@models_app.command("approve")
@handle_errors
def models_approve(
    version: Annotated[str, typer.Argument(help="Version number or model package ARN.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in ApprovalDescription).")] = "approved by hand",
    contract: ContractOption = DEFAULT_CONTRACT,
) -> None:
    """Approve a version by hand; the newest Approved version is the champion."""
    _, _, registry = _registry(contract)
    v = registry.set_status(version, "Approved", reason)
    console.print(f"version {v.version}: [green]{v.status}[/] ({reason})")


@models_app.command("reject")
@handle_errors
def models_reject(
    version: Annotated[str, typer.Argument(help="Version number or model package ARN.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in ApprovalDescription).")] = "rejected by hand",
    contract: ContractOption = DEFAULT_CONTRACT,
) -> None:
    """Reject a version; if it was the champion, the previous Approved version serves again."""
    _, _, registry = _registry(contract)
    v = registry.set_status(version, "Rejected", reason)
    console.print(f"version {v.version}: [red]{v.status}[/] ({reason})")


@models_app.command("promote")
@handle_errors
def models_promote(
    source: Annotated[
        str, typer.Argument(help="The model package ARN of an Approved version in another environment.")
    ],
    reason: Annotated[str, typer.Option(help="Why (recorded in ApprovalDescription).")] = "promoted by hand",
    contract: ContractOption = DEFAULT_CONTRACT,
    json_: JsonOption = False,
) -> None:
    """Promote an Approved version from another environment (dev) into this one's registry (prod): its
    artifact and report are copied, the same image digest is named, and it is Approved here. Run it with the
    target environment's settings (PRODML_ENV, or PRODML_ENV_FILE from `make apply`). Promoting twice is a
    no-op."""
    import os

    from prodml.promotion import promote

    c_ = contract_from(contract)
    result = promote(
        source,
        settings(),
        c_.name,
        reason=reason,
        promoted_by=os.environ.get("GITHUB_ACTOR", os.environ.get("USER", "")),
        run_url=os.environ.get("PRODML_PROMOTION_RUN", ""),
    )
    if json_:
        print_json(result.as_dict())
        return
    state = "already promoted as" if result.already_promoted else "[green]promoted[/] as"
    console.print(f"{source}: {state} {result.group} version [bold]{result.version}[/] ({result.status})")


@models_app.command("rollback")
@handle_errors
def models_rollback(
    reason: Annotated[str, typer.Option(help="Why (recorded in ApprovalDescription).")] = "rolled back",
    contract: ContractOption = DEFAULT_CONTRACT,
) -> None:
    """Reject the champion so the previous Approved version becomes the champion again."""
    _, _, registry = _registry(contract)
    old, new = registry.rollback(reason)
    console.print(
        f"rolled back: version {old.version} rejected; version [bold]{new.version}[/] is the champion again"
    )


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("register")(register_command)
    app.add_typer(models_app, name="models")


# ---- demo steps --------------------------------------------------------------------------------------


def demo_train(ctx) -> None:
    from prodml.training.launcher import launch
    from prodml.training.model import Hyperparameters

    hp = Hyperparameters()
    launched = launch(ctx.contract, settings(), hp, version=ctx.facts.get("dataset_version"))
    console.print(f"started SageMaker training job {launched.name}")
    job = follow_training(launched.name, settings())
    _print_training(job, ctx.contract, hp.family, launched.dataset_version)
    ctx.facts["training_job"] = launched.name


def demo_register(ctx) -> None:
    from rich.markdown import Markdown

    from prodml.training.registration import register_job

    result = register_job(ctx.contract, settings(), ctx.facts.get("training_job"))
    _print_registration(result)
    ctx.facts["model_version"] = result.version.version
    summary = result.model_card.split("## Data", 1)[0]  # header, decision, metrics, champion comparison
    console.print(Panel(Markdown(summary), title="model card (summary)", expand=False))


DEMO_STEPS = [(50, "train", demo_train), (60, "register", demo_register)]
