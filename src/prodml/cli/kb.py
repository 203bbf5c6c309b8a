"""`prodml kb`: the knowledge layer (see :mod:`prodml.knowledge`). The commands present; the library runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from prodml.cli._common import (
    JsonOption,
    console,
    endpoint_label,
    fail,
    handle_errors,
    print_json,
    register_user_errors,
    settings,
)

kb_app = typer.Typer(
    help="Knowledge bases: ingest documents, build and evaluate versioned indexes, promote, ask.",
    no_args_is_help=True,
)

DEFAULT_KB_CONTRACT = Path("contracts/knowledge/prodml_docs.yaml")
KbContractOption = Annotated[
    Path,
    typer.Option(
        "--contract", "-c", help="Knowledge contract YAML (the only place the KB's settings are set)."
    ),
]


def _register_errors() -> None:
    from prodml.knowledge.answer import AnswererUnavailable
    from prodml.knowledge.contract import KnowledgeContractError
    from prodml.knowledge.embedding import EmbeddingError
    from prodml.knowledge.evaluation import GateError
    from prodml.knowledge.index import KnowledgeIndexError
    from prodml.knowledge.store import LandingError

    register_user_errors(
        KnowledgeContractError,
        LandingError,
        KnowledgeIndexError,
        GateError,
        EmbeddingError,
        AnswererUnavailable,
    )


_register_errors()


def _contract(path: Path):
    from prodml.knowledge.contract import load_knowledge_contract

    return load_knowledge_contract(path)


def _source_paths(contract, paths: list[Path], root: Path | None) -> tuple[list[Path], Path | None]:
    """The files to land (directories expanded to the contract's accepted types) and the root names are
    relative to: the repository for the contract's sources; for paths given, ``root`` or else the working
    directory (a file outside it is named by its file name)."""
    from prodml import paths as repo_paths

    if not paths:
        root = repo_paths.repo_root()
        found = sorted({p for pattern in contract.sources for p in root.glob(pattern) if p.is_file()})
        if not found:
            raise FileNotFoundError(f"contract {contract.name}: its sources match no file under {root}")
        return found, root
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in contract.documents.extensions
                )
            )
        else:
            files.append(path)
    return files, root or Path.cwd()


@kb_app.command("ingest")
@handle_errors
def ingest_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to land (default: the contract's sources in this repository)."),
    ] = None,
    contract_path: KbContractOption = DEFAULT_KB_CONTRACT,
    work: Annotated[
        bool,
        typer.Option(
            "--work/--land-only",
            help="Also act as the worker: drain the ingestion queue and build the index (on AWS the ECS "
            "worker does this; --land-only only lands).",
        ),
    ] = True,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Documents are named by their path below this folder (default: the working directory); "
            "name them the same way every time, or a changed document becomes a new one.",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Land documents content-addressed in the raw zone (S3 events queue them), process them, and commit the
    index version of the current documents. Re-ingesting unchanged documents changes nothing."""
    from prodml.knowledge.contract import load_knowledge_contracts
    from prodml.knowledge.store import Landed
    from prodml.knowledge.worker import ingest

    contract = _contract(contract_path)
    s = settings()
    files, names_root = _source_paths(contract, list(paths or []), root)

    def on_landed(path: Path, result) -> None:
        if json_:
            return
        if isinstance(result, Landed):
            state = "[green]landed[/]" if result.landed else "[dim]already landed[/]"
            console.print(f"{state} {result.record.document} [dim]{result.record.sha256[:12]}[/]")
        else:
            console.print(f"[yellow]refused[/] {path}: {result}")

    def on_outcome(outcome) -> None:
        if json_ or outcome.status in ("ignored", "unchanged", "current_changed"):
            return
        colour = {"processed": "green", "dead_lettered": "red", "retry": "yellow"}.get(
            outcome.status, "white"
        )
        detail = f"{outcome.chunks} chunks" if outcome.status == "processed" else outcome.reason
        console.print(f"[{colour}]{outcome.status}[/] {outcome.document} {detail}", highlight=False)

    if not json_:
        console.print(f"knowledge base [bold]{contract.name}[/] on {endpoint_label(s)}: {len(files)} file(s)")
    # Other knowledge bases share the queue: the drain handles their messages too, rather than dead-letter them.
    peers = load_knowledge_contracts(contract_path.parent) if contract_path.parent.is_dir() else {}
    report = ingest(
        files,
        contract,
        s,
        root=names_root,
        work=work,
        on_landed=on_landed,
        on_outcome=on_outcome,
        peers=peers,
    )
    if json_:
        print_json(report.as_dict())
        return
    if report.build is None:
        console.print("landed; the worker builds the index")
        return
    build = report.build
    state = "[green]new version[/]" if build.created else "[yellow]unchanged[/] (already committed)"
    console.print(
        f"index [bold]{build.version}[/]: {state}, {build.manifest['chunks']} chunks from "
        f"{len(build.manifest['documents'])} document(s)"
    )
    for failure in build.failed:
        console.print(f"[red]left out[/] {failure['document']}: {failure['reason']}", highlight=False)
    if build.pending:
        console.print(f"[yellow]still queued[/]: {', '.join(build.pending)}")


@kb_app.command("worker")
@handle_errors
def worker_command(
    contract_paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--contract",
            "-c",
            help="Knowledge contracts this worker serves (default: every one in contracts/knowledge/).",
        ),
    ] = None,
    drain: Annotated[bool, typer.Option("--drain", help="Stop once the queue is empty.")] = False,
    json_: JsonOption = False,
) -> None:
    """Consume the ingestion queue (long polling): process each landed document, dead-letter the ones that
    cannot be processed with their reason, and build the index once the queue is drained."""
    from prodml.knowledge.contract import load_knowledge_contracts
    from prodml.knowledge.worker import run_until_terminated

    contracts = (
        {c.name: c for c in (_contract(p) for p in contract_paths)}
        if contract_paths
        else load_knowledge_contracts(DEFAULT_KB_CONTRACT.parent)
    )

    def on_outcome(outcome) -> None:
        if not json_ and outcome.status not in ("ignored", "current_changed"):
            console.print(f"{outcome.status} {outcome.document} {outcome.reason}", highlight=False)

    report = run_until_terminated(contracts, settings(), drain=drain, on_outcome=on_outcome)
    if json_:
        print_json({"outcomes": [o.as_dict() for o in report.outcomes], "seconds": round(report.seconds, 3)})


@kb_app.command("status")
@handle_errors
def status_command(contract_path: KbContractOption = DEFAULT_KB_CONTRACT, json_: JsonOption = False) -> None:
    """Documents landed, index versions, the promoted one, and the queues (with dead letters' reasons)."""
    from prodml.knowledge.status import status

    found = status(_contract(contract_path), settings())
    if json_:
        print_json(found)
        return
    console.print(
        f"knowledge base [bold]{found['kb']}[/]: {found['documents']} document(s) "
        f"({found['document_versions']} version(s) landed)"
    )
    console.print(f"promoted: [bold]{found['promoted'] or 'none'}[/]   latest: {found['latest'] or 'none'}")
    table = Table(show_header=True)
    for column in ("version", "created", "chunks", "documents", "embedding", "recall@k", "MRR"):
        table.add_column(column)
    for version in found["versions"]:
        table.add_row(
            version["version"] + (" *" if version["version"] == found["promoted"] else ""),
            version["created_at"],
            str(version["chunks"]),
            str(version["documents"]),
            version["embedding"],
            _fmt(version.get("recall_at_k")),
            _fmt(version.get("mrr")),
        )
    console.print(table)
    if found["queues"]:
        console.print(f"queues: {found['queues']}")
    for letter in found["dead_letters"]:
        console.print(
            f"[red]dead letter[/] {letter.get('document', letter.get('key', '?'))}: {letter['reason']}"
        )


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


@kb_app.command("eval")
@handle_errors
def eval_command(
    version: Annotated[
        str | None, typer.Argument(help="Index version (default: the newest committed).")
    ] = None,
    contract_path: KbContractOption = DEFAULT_KB_CONTRACT,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also score dense-only, BM25-only and hybrid retrieval.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """recall@k and MRR of an index version on the contract's golden questions (saved beside the index)."""
    from prodml.knowledge.evaluation import evaluate
    from prodml.knowledge.store import KnowledgeStore

    contract = _contract(contract_path)
    store = KnowledgeStore(contract, settings())
    version = version or store.latest_version()
    if version is None:
        raise fail(f"knowledge base {contract.name!r} has no index yet: run `prodml kb ingest`")
    report = evaluate(contract, store, version, ("dense", "bm25", "hybrid") if compare else None)
    if json_:
        print_json({k: v for k, v in report.items()})
        return
    table = Table(
        show_header=True,
        title=f"{contract.name} index {version} ({len(report['modes'][report['mode']]['per_question'])} golden questions)",
    )
    table.add_column("retrieval")
    table.add_column(f"recall@{report['k']}")
    table.add_column("MRR")
    for mode, result in report["modes"].items():
        label = mode + (" (contract)" if mode == report["mode"] else "")
        table.add_row(label, f"{result['recall_at_k']:.3f}", f"{result['mrr']:.3f}")
    console.print(table)
    thresholds = report["thresholds"]
    console.print(
        f"thresholds: recall@{report['k']} >= {thresholds['min_recall_at_k']}, MRR >= {thresholds['min_mrr']}"
    )


@kb_app.command("promote")
@handle_errors
def promote_command(
    version: Annotated[
        str | None, typer.Argument(help="Index version (default: the newest committed).")
    ] = None,
    contract_path: KbContractOption = DEFAULT_KB_CONTRACT,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (recorded).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Promote an index version if it meets the contract's thresholds and is no worse than the promoted one."""
    from prodml.knowledge.evaluation import promote
    from prodml.knowledge.store import KnowledgeStore

    contract = _contract(contract_path)
    decision, pointer = promote(contract, KnowledgeStore(contract, settings()), version, force=force)
    if json_:
        print_json({**decision.as_dict(), "promoted": pointer})
        if pointer is None:
            raise typer.Exit(1)
        return
    candidate = decision.candidate
    if pointer is None:
        raise fail(
            f"refused to promote index {candidate['version']}: "
            + "; ".join(decision.reasons)
            + " (--force overrides, and is recorded)"
        )
    note = " [yellow](forced past the gate)[/]" if pointer["forced"] else ""
    console.print(
        f"promoted index [bold]{pointer['version']}[/]{note}: recall@{candidate['k']} "
        f"{candidate['recall_at_k']:.3f}, MRR {candidate['mrr']:.3f} (was {pointer['previous_version'] or 'none'})"
    )


@kb_app.command("ask")
@handle_errors
def ask_command(
    question: Annotated[str, typer.Argument(help="The question.")],
    contract_path: KbContractOption = DEFAULT_KB_CONTRACT,
    version: Annotated[
        str | None, typer.Option("--version", help="Index version (default: the promoted one).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Answer from the promoted index, with citations (offline: the extractive answerer, labelled so)."""
    from prodml.knowledge.answer import answer_question
    from prodml.knowledge.store import KnowledgeStore, load_promoted

    contract = _contract(contract_path)
    s = settings()
    index = KnowledgeStore(contract, s).load_index(version) if version else load_promoted(contract, s)
    answer = answer_question(index, question, contract)
    if json_:
        print_json(answer.as_dict())
        return
    console.print(f"[dim]{answer.answerer}, index {answer.index_version}[/]")
    console.print(answer.answer, highlight=False)
    for n, citation in enumerate(answer.citations, start=1):
        console.print(
            f"  [{n}] {citation['document']}@{citation['document_version'][:12]} "
            f"chars {citation['start']}-{citation['end']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")
