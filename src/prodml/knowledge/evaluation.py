"""The evaluation gate: golden questions with expected source documents, recall@k and MRR of an index, and
promotion only of an index that meets the contract's thresholds and is no worse than the promoted one.

Both indexes are scored now, on the same golden questions, so a changed golden set never compares a fresh
score with a stale one. Promotion moves the ``CURRENT`` pointer, and nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodml.knowledge.contract import KnowledgeContract
from prodml.knowledge.index import KnowledgeIndex
from prodml.knowledge.store import KnowledgeStore


class GateError(ValueError):
    """The gate refuses a promotion; the message says which metric failed and by how much."""


class GoldenQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=3)
    expected_documents: list[str] = Field(min_length=1)


class GoldenSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kb: str
    questions: list[GoldenQuestion] = Field(min_length=1)


def load_golden(path: Path) -> GoldenSet:
    if not path.is_file():
        raise FileNotFoundError(f"golden questions file {path} not found")
    try:
        golden = GoldenSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None
    ids = [q.id for q in golden.questions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: question ids repeat")
    return golden


def score(index: KnowledgeIndex, golden: GoldenSet, k: int, mode: str, rrf_k: int = 60) -> dict[str, Any]:
    """recall@k (the share of a question's expected documents among its top-k chunks' documents, averaged)
    and MRR (the reciprocal rank of the first chunk from an expected document, 0 past k, averaged)."""
    recalls, reciprocal_ranks, per_question = [], [], []
    for question in golden.questions:
        hits = index.retrieve(question.question, k, mode, rrf_k)
        documents = [hit.chunk.document for hit in hits]
        expected = set(question.expected_documents)
        recall = len(expected & set(documents)) / len(expected)
        first = next((rank for rank, doc in enumerate(documents, start=1) if doc in expected), None)
        recalls.append(recall)
        reciprocal_ranks.append(1.0 / first if first else 0.0)
        per_question.append(
            {"id": question.id, "recall": recall, "first_relevant_rank": first, "retrieved": documents}
        )
    n = len(golden.questions)
    return {
        "mode": mode,
        "k": k,
        "questions": n,
        "recall_at_k": round(sum(recalls) / n, 4),
        "mrr": round(sum(reciprocal_ranks) / n, 4),
        "per_question": per_question,
    }


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    candidate: dict[str, Any]
    current: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        strip = lambda m: {k: v for k, v in m.items() if k != "per_question"}  # noqa: E731
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "candidate": strip(self.candidate),
            "current": strip(self.current) if self.current else None,
        }


def gate(
    contract: KnowledgeContract, candidate: dict[str, Any], current: dict[str, Any] | None
) -> GateDecision:
    reasons = []
    thresholds = contract.evaluation
    if candidate["recall_at_k"] < thresholds.min_recall_at_k:
        reasons.append(
            f"recall@{candidate['k']} {candidate['recall_at_k']:.3f} is below the threshold {thresholds.min_recall_at_k:.3f}"
        )
    if candidate["mrr"] < thresholds.min_mrr:
        reasons.append(f"MRR {candidate['mrr']:.3f} is below the threshold {thresholds.min_mrr:.3f}")
    if current is not None:
        for metric, label in (("recall_at_k", f"recall@{candidate['k']}"), ("mrr", "MRR")):
            if candidate[metric] < current[metric]:
                reasons.append(
                    f"{label} {candidate[metric]:.3f} is worse than the promoted index "
                    f"{current['version']}'s {current[metric]:.3f}"
                )
    return GateDecision(not reasons, reasons, candidate, current)


def evaluate(
    contract: KnowledgeContract, store: KnowledgeStore, version: str, modes: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Score index ``version`` (in the contract's retrieval mode, and any other ``modes`` for comparison),
    save the report beside the index, and return it."""
    golden = load_golden(contract.golden_questions_path())
    index = store.load_index(version)
    k = contract.evaluation.k
    primary = contract.retrieval.mode
    results = {
        mode: score(index, golden, k, mode, contract.retrieval.rrf_k)
        for mode in dict.fromkeys((primary, *(modes or ())))
    }
    report = {
        "kb": contract.name,
        "version": version,
        "golden_questions": str(contract.golden_questions_path()),
        "mode": primary,
        "k": k,
        "recall_at_k": results[primary]["recall_at_k"],
        "mrr": results[primary]["mrr"],
        "thresholds": contract.evaluation.model_dump(),
        "modes": results,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.save_evaluation(version, report)
    return report


def _metrics(report: dict[str, Any]) -> dict[str, Any]:
    return {"version": report["version"], "k": report["k"], **{m: report[m] for m in ("recall_at_k", "mrr")}}


def promote(
    contract: KnowledgeContract, store: KnowledgeStore, version: str | None = None, *, force: bool = False
) -> tuple[GateDecision, dict[str, Any] | None]:
    """Evaluate ``version`` (default: the newest committed) and the promoted one, and move ``CURRENT`` to
    it only if the gate passes (``force`` overrides the gate and says so in the pointer)."""
    version = version or store.latest_version()
    if version is None:
        raise LookupError(
            f"knowledge base {contract.name!r} has no committed index: run `prodml kb ingest` first"
        )
    manifest = store.manifest(version)
    if manifest is None:
        raise LookupError(f"knowledge base {contract.name!r} has no committed index version {version}")
    candidate = _metrics(evaluate(contract, store, version))
    pointer = store.current()
    current = None
    if pointer is not None and pointer["version"] != version:
        current = _metrics(evaluate(contract, store, pointer["version"]))
    decision = gate(contract, candidate, current)
    if not decision.passed and not force:
        return decision, None
    new_pointer = {
        "kb": contract.name,
        "version": version,
        "index_uri": manifest["index_uri"],
        "index_sha256": manifest["index_sha256"],
        "embedding": manifest["embedding"],
        "recall_at_k": candidate["recall_at_k"],
        "mrr": candidate["mrr"],
        "k": candidate["k"],
        "previous_version": pointer["version"] if pointer else None,
        "forced": bool(force and not decision.passed),
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.set_current(new_pointer)
    return decision, new_pointer
