"""What a knowledge base holds now: documents, index versions with their scores, the promoted one, the queues."""

from __future__ import annotations

from typing import Any

from prodml.knowledge.contract import KnowledgeContract
from prodml.knowledge.store import KnowledgeStore
from prodml.settings import Settings


def status(contract: KnowledgeContract, settings: Settings) -> dict[str, Any]:
    from prodml.knowledge.worker import dead_letters, queue_depths

    store = KnowledgeStore(contract, settings)
    landed = store.landed()
    pointer = store.current()
    versions = []
    for manifest in store.versions():
        evaluation = store.evaluation(manifest["version"]) or {}
        versions.append(
            {
                "version": manifest["version"],
                "created_at": manifest["created_at"],
                "chunks": manifest["chunks"],
                "documents": len(manifest["documents"]),
                "failed_documents": len(manifest.get("failed_documents", [])),
                "embedding": manifest["embedding"]["model_id"],
                "recall_at_k": evaluation.get("recall_at_k"),
                "mrr": evaluation.get("mrr"),
            }
        )
    try:
        queues: dict[str, int] = queue_depths(settings)
        letters = dead_letters(settings)
    except LookupError:
        queues, letters = {}, []
    return {
        "kb": contract.name,
        "documents": len({r.document for r in landed}),
        "document_versions": len(landed),
        "latest": store.latest_version(),
        "promoted": pointer["version"] if pointer else None,
        "versions": versions,
        "queues": queues,
        "dead_letters": letters,
    }
