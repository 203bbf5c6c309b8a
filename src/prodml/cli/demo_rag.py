"""`prodml demo-rag`: the knowledge layer end to end on the emulator, over prodml's own documentation.

Emulator up, bootstrap, then the knowledge contract's documents (README.md, the module, service and pipeline
READMEs, ...) ingested through the AWS path (content-addressed landing in the raw zone, S3 events to SQS, the
worker), the index built, evaluated on the golden questions (every retrieval mode, for comparison) and promoted
through the gate; then the inference service started with that knowledge base, a few questions asked over HTTP
(`POST /ask`) and answered with citations, and the service stopped. Offline, answers are extractive and say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.rule import Rule
from rich.table import Table

from prodml import local_service
from prodml.cli._common import console, fail, handle_errors, settings
from prodml.cli.serving import free_port, http_json, json_object

DEFAULT_KB_CONTRACT = Path("contracts/knowledge/prodml_docs.yaml")
# The service needs a dataset to serve models for; with no model trained, /predict answers 503 and /ask serves.
SERVICE_DATASET = "customer_churn"
# The last one is off topic: the answer policy refuses it rather than guess.
QUESTIONS = (
    "How does the inference service swap in a new champion model without a restart?",
    "Does the emulator keep its state when it is stopped or crashes?",
    "Which embedding model runs offline, and are its weights downloaded at run time?",
    "What is the boiling point of water on Mount Everest?",
)


@dataclass
class RagDemo:
    contract: Any  # KnowledgeContract
    contract_path: Path
    facts: dict[str, Any] = field(default_factory=dict)  # what one step hands the next (the index version)


def step_emulator(ctx: RagDemo) -> None:
    from prodml.cli.demo import step_emulator as start_emulator

    start_emulator(None)  # type: ignore[arg-type]  # the core step reads nothing of its context


def step_bootstrap(ctx: RagDemo) -> None:
    from prodml.bootstrap import bootstrap

    done = bootstrap(settings(), [SERVICE_DATASET])
    created = sum(item.created for item in done)
    console.print(f"  {len(done)} resources ({created} created, {len(done) - created} already there)")


def step_ingest(ctx: RagDemo) -> None:
    from prodml.cli.kb import _source_paths
    from prodml.knowledge.contract import load_knowledge_contracts
    from prodml.knowledge.worker import ingest

    files, root = _source_paths(ctx.contract, [], None)
    counts = {"landed": 0, "already landed": 0}

    def on_landed(path: Path, result: Any) -> None:
        state = "landed" if getattr(result, "landed", False) else "already landed"
        counts[state] += 1

    started = time.perf_counter()
    report = ingest(
        files,
        ctx.contract,
        settings(),
        root=root,
        on_landed=on_landed,
        peers=load_knowledge_contracts(ctx.contract_path.parent),
    )
    seconds = time.perf_counter() - started
    console.print(
        f"  {len(files)} documents: {counts['landed']} landed, {counts['already landed']} already landed "
        f"(content-addressed), queued by S3 events, processed by the worker in {seconds:.1f}s"
    )
    if report.build is None:
        raise fail("the worker built no index")
    build = report.build
    console.print(
        f"  index [bold]{build.version}[/]: {'new version' if build.created else 'unchanged (already committed)'}, "
        f"{build.manifest['chunks']} chunks from {len(build.manifest['documents'])} documents"
    )
    for failure in build.failed:
        console.print(f"  [red]left out[/] {failure['document']}: {failure['reason']}", highlight=False)
    ctx.facts["version"] = build.version


def step_evaluate(ctx: RagDemo) -> None:
    from prodml.knowledge.evaluation import evaluate
    from prodml.knowledge.store import KnowledgeStore

    store = KnowledgeStore(ctx.contract, settings())
    report = evaluate(ctx.contract, store, ctx.facts["version"], ("dense", "bm25", "hybrid"))
    table = Table(title=f"golden questions ({report['modes'][report['mode']]['questions']})")
    for column in ("retrieval", f"recall@{report['k']}", "MRR"):
        table.add_column(column)
    for mode, result in report["modes"].items():
        label = mode + (" (contract)" if mode == report["mode"] else "")
        table.add_row(label, f"{result['recall_at_k']:.3f}", f"{result['mrr']:.3f}")
    console.print(table)


def step_promote(ctx: RagDemo) -> None:
    from prodml.knowledge.evaluation import promote
    from prodml.knowledge.store import KnowledgeStore

    decision, pointer = promote(ctx.contract, KnowledgeStore(ctx.contract, settings()), ctx.facts["version"])
    if pointer is None:
        raise fail("the gate refused the index: " + "; ".join(decision.reasons))
    candidate = decision.candidate
    thresholds = ctx.contract.evaluation
    console.print(
        f"  gate passed (recall@{candidate['k']} {candidate['recall_at_k']:.3f} >= {thresholds.min_recall_at_k}, "
        f"MRR {candidate['mrr']:.3f} >= {thresholds.min_mrr}, no worse than "
        f"{pointer['previous_version'] or 'nothing promoted before'}): CURRENT → {pointer['version']}"
    )


def step_serve_and_ask(ctx: RagDemo) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = Path(settings().state_dir).resolve() / "serving"
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "gunicorn-rag.log"
    extra = {
        "PRODML_KNOWLEDGE_BASE": ctx.contract.name,
        "PRODML_KNOWLEDGE_CONTRACTS_DIR": str(ctx.contract_path.parent.resolve()),
        "PRODML_CAPTURE_FRACTION": "0",
    }
    env, auth_line = local_service.server_env(settings(), SERVICE_DATASET, port, 1, extra)
    console.print(f"  {auth_line}", highlight=False)
    try:
        with local_service.running(
            lambda: local_service.start_server(env, log_path), local_service.kill_bound_s(env)
        ) as process:
            seconds = _wait_for_index(process, url, ctx.facts["version"], timeout=90)
            console.print(f"  service up with index {ctx.facts['version']} in {seconds:.1f}s at {url}")
            for question in QUESTIONS:
                _ask(url, question)
            metrics = str(http_json("GET", url + "/metrics")[1])
            console.print("  /metrics highlights:")
            for line in metrics.splitlines():
                if line.startswith(
                    ("prodml_knowledge_answers_total", "prodml_knowledge_latency_seconds_sum")
                ):
                    console.print(f"    {line}", highlight=False)
    finally:
        console.print(f"  service stopped (log: {log_path})")


def _wait_for_index(process: Any, url: str, version: str, timeout: float) -> float:
    started = time.monotonic()
    body: Any = None
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise fail(f"gunicorn exited with {process.returncode}")
        try:
            _, body = http_json("GET", url + "/ready")
            if isinstance(body, dict) and body.get("knowledge_index_version") == version:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise fail(f"the service did not load index {version} within {timeout:.0f}s (last /ready: {body})")


def _ask(url: str, question: str) -> None:
    status, raw = http_json("POST", url + "/ask", {"question": question})
    answer = json_object(raw)
    console.print(f"\n  [bold]Q:[/] {question}", highlight=False)
    if status != 200:
        console.print(f"  → {status}: {answer}", highlight=False)
        return
    latency = answer["latency_ms"]
    how = "quoted, not generated" if answer["answered"] else "refused by the answer policy"
    console.print(
        f"  [dim]{answer['answerer']} ({how}), index {answer['index_version']}, "
        f"{answer['variant']}, retrieval {latency['retrieval']:.1f} ms + answer {latency['generation']:.1f} ms[/]"
    )
    console.print(f"  [bold]A:[/] {answer['answer'][:600]}", highlight=False)
    for n, citation in enumerate(answer["citations"], start=1):
        console.print(
            f"    [{n}] {citation['document']}@{citation['document_version'][:12]} "
            f"chars {citation['start']}-{citation['end']}",
            highlight=False,
        )


STEPS: list[tuple[str, Callable[[RagDemo], None]]] = [
    ("emulator", step_emulator),
    ("bootstrap", step_bootstrap),
    ("ingest prodml's docs", step_ingest),
    ("evaluate on the golden questions", step_evaluate),
    ("promote through the gate", step_promote),
    ("serve and ask", step_serve_and_ask),
]


@handle_errors
def demo_rag(
    contract_path: Annotated[
        Path, typer.Option("--contract", "-c", help="Knowledge contract YAML (default: prodml's own docs).")
    ] = DEFAULT_KB_CONTRACT,
) -> None:
    """The knowledge layer end to end on the emulator: ingest prodml's docs, build, evaluate and promote the
    index, serve it and answer questions with citations over POST /ask."""
    from prodml.knowledge.contract import load_knowledge_contract

    if settings().is_real_aws:
        raise fail(
            "the demo refuses to run against real AWS; export AWS_ENDPOINT_URL=http://127.0.0.1:4566", code=2
        )
    ctx = RagDemo(load_knowledge_contract(contract_path), contract_path)
    started = time.perf_counter()
    for number, (name, step) in enumerate(STEPS, start=1):
        console.print(Rule(f"[bold]{number}/{len(STEPS)} {name}"))
        step(ctx)
    console.print(Rule(f"[bold green]demo-rag complete in {time.perf_counter() - started:.0f}s"))


def register(app: typer.Typer) -> None:
    app.command("demo-rag")(demo_rag)
