"""The knowledge base ``POST /ask`` answers from: the promoted index of one knowledge contract, a canary
challenger index for a share of request keys, hot swaps when a new index is promoted, and the answerer.

The index is loaded like a model: off the request path (the lifespan, then a poller in a thread), verified
against the sha256 its pointer records, and warmed (BM25 state and the question embedder built) before one
reference assignment swaps it in, so in-flight questions finish on the index they started with.

It never loads anything at import, and a knowledge base that is not configured, not promoted yet or cannot
be loaded never stops the service from starting or serving ``/predict``: ``/ask`` answers 503 saying why.
Offline (the emulator) answers come from the extractive answerer, labelled ``extractive-offline``; on AWS from
Bedrock Converse with the guardrail and the contract's fallback model. It never pretends the emulator's
bedrock-runtime stub generates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.config import InferenceSettings
from . import telemetry
from .routing import CHALLENGER, CHAMPION, choose

log = logging.getLogger("prodml.inference.knowledge")

# A question every index can be warmed with: it builds BM25's retriever and loads the question embedder.
_WARM_QUESTION = "warm up the retriever"


class KnowledgeNotReady(RuntimeError):
    """``/ask`` cannot answer; ``code`` says why: ``no_knowledge_base`` (none configured),
    ``knowledge_not_ready`` (configured, but no promoted index is loaded) or ``answerer_unavailable``."""

    def __init__(self, reason: str, code: str):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Asked:
    """One answer and where it came from: the index variant (champion: the promoted index; challenger: the
    canary index) and the answer as :meth:`prodml.knowledge.answer.Answer.as_dict` gives it."""

    body: dict[str, Any]
    variant: str
    index_version: str


def contracts_dir(settings: InferenceSettings) -> Path:
    """Where knowledge contracts are read: PRODML_KNOWLEDGE_CONTRACTS_DIR, else ``contracts/knowledge`` in the
    working directory (the image's WORKDIR holds a copy), else the checkout's."""
    if settings.knowledge_contracts_dir is not None:
        return settings.knowledge_contracts_dir
    local = Path("contracts/knowledge")
    if local.is_dir():
        return local
    from prodml import paths

    return paths.contracts_dir() / "knowledge"


def prompts_dir(settings: InferenceSettings, contracts: Path) -> Path:
    """The versioned prompt files: PRODML_KNOWLEDGE_PROMPTS_DIR, else ``prompts/`` beside ``contracts/``."""
    return settings.knowledge_prompts_dir or contracts.resolve().parent.parent / "prompts"


class KnowledgeBase:
    """The served indexes of ``settings.knowledge_base`` and the answerer; :meth:`refresh` runs in a thread."""

    def __init__(self, settings: InferenceSettings):
        self.settings = settings
        self.name = settings.knowledge_base
        self.contract: Any = None
        self.store: Any = None
        self.answerer: Any = None
        self.champion: Any = None  # KnowledgeIndex: the promoted one
        self.challenger: Any = None  # KnowledgeIndex: the canary's, while it differs from the promoted one
        self.not_ready_reason = (
            "no knowledge base is configured (set PRODML_KNOWLEDGE_BASE to a knowledge contract's name)"
            if self.name is None
            else f"knowledge base {self.name!r} is loading"
        )
        self.swaps = 0
        self._failed_challenger: str | None = None
        self._task: asyncio.Task | None = None

    @property
    def configured(self) -> bool:
        return self.name is not None

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """The first load, waited for (a worker joins with its index, as with its model) for at most
        ``knowledge_first_load_wait_s``: gunicorn kills a worker whose start outlasts its timeout, so a
        larger index goes on loading in the background while the worker serves, and ``/ask`` answers 503
        "loading" until it is in. A failure is logged and leaves ``/ask`` answering 503 with the reason until
        a poll succeeds."""
        if not self.configured:
            return
        first = asyncio.create_task(self._refresh_logged(), name="knowledge-first-load")
        done, _ = await asyncio.wait({first}, timeout=self.settings.knowledge_first_load_wait_s)
        if not done:
            log.warning(
                "knowledge base still loading after %.1f s: the worker serves meanwhile, /ask answers 503",
                self.settings.knowledge_first_load_wait_s,
                extra={"knowledge_base": self.name},
            )
        self._task = asyncio.create_task(self._poll(first), name="knowledge-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _poll(self, first: asyncio.Task) -> None:
        await first  # one refresh at a time
        while True:
            await asyncio.sleep(self.settings.knowledge_poll_interval_s)
            await self._refresh_logged()

    async def _refresh_logged(self) -> None:
        try:
            await asyncio.to_thread(self.refresh)
        except Exception as exc:  # the poller must outlive any one bad poll
            if self.champion is None:
                self.not_ready_reason = f"knowledge base {self.name!r} could not be loaded: {exc}"
            log.exception("knowledge base refresh failed", extra={"knowledge_base": self.name})

    def _setup(self) -> None:
        """The contract, the store and the answerer: once, on the first refresh."""
        from prodml.knowledge.contract import load_knowledge_contracts
        from prodml.knowledge.store import KnowledgeStore

        folder = contracts_dir(self.settings)
        contracts = load_knowledge_contracts(folder)
        if self.name not in contracts:
            raise LookupError(
                f"no knowledge contract named {self.name!r} in {folder} (found: {', '.join(sorted(contracts)) or 'none'})"
            )
        contract = contracts[self.name]
        self.store = KnowledgeStore(contract, self.settings)
        self.answerer = self._answerer(contract, folder)
        self.contract = contract

    def _answerer(self, contract: Any, folder: Path) -> Any:
        from prodml.knowledge.answer import (
            BedrockAnswerer,
            ExtractiveAnswerer,
            Guardrail,
            PromptTemplate,
        )

        use = self.settings.knowledge_answerer
        if use == "auto":
            use = "bedrock" if self.settings.is_real_aws else "extractive"
        if use == "extractive":
            return ExtractiveAnswerer(contract.answer.max_answer_sentences)
        guardrail = None
        if self.settings.knowledge_guardrail_id:
            version = self.settings.knowledge_guardrail_version
            assert version is not None  # InferenceSettings refuses an identifier without its version
            guardrail = Guardrail(self.settings.knowledge_guardrail_id, version)
        prompt = PromptTemplate.load(prompts_dir(self.settings, folder) / contract.answer.prompt)
        return BedrockAnswerer(contract, self.settings, guardrail, prompt=prompt)

    # ---- loading --------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Swap in a newly promoted index, and the canary's; True when anything changed."""
        if self.contract is None:
            self._setup()
        pointer = self.store.current()
        changed = False
        if pointer is None:
            if self.champion is None:
                self.not_ready_reason = (
                    f"knowledge base {self.name!r} has no promoted index: run `prodml kb ingest` and "
                    "`prodml kb promote`"
                )
            return False
        if self.champion is None or self.champion.version != pointer["version"]:
            from prodml.knowledge.index import KnowledgeIndex

            started = time.perf_counter()
            index = KnowledgeIndex.load(
                pointer["index_uri"], self.settings, expected_sha256=pointer["index_sha256"]
            )
            self._warm(index)
            previous = self.champion
            self.champion = index  # the swap: one reference assignment
            self.swaps += previous is not None
            changed = True
            self._published(CHAMPION, previous, index, time.perf_counter() - started)
        changed |= self._refresh_challenger()
        return changed

    def _refresh_challenger(self) -> bool:
        wanted = self.settings.knowledge_canary_version
        if (
            wanted is None
            or self.settings.knowledge_canary_fraction <= 0
            or wanted == self._failed_challenger
        ):
            return False
        if self.champion is not None and self.champion.version == wanted:
            if self.challenger is None:
                return False
            previous, self.challenger = self.challenger, None  # promoted: the canary is everybody's index
            self._published(CHALLENGER, previous, None, 0.0)
            return True
        if self.challenger is not None and self.challenger.version == wanted:
            return False
        started = time.perf_counter()
        try:
            index = self.store.load_index(wanted)
            self._warm(index)
        except Exception as exc:
            self._failed_challenger = wanted  # an index that cannot load never will: not tried again
            log.error("canary index not loaded; canary off", extra={"version": wanted, "error": str(exc)})
            return False
        previous, self.challenger = self.challenger, index
        self._published(CHALLENGER, previous, index, time.perf_counter() - started)
        return True

    def _warm(self, index: Any) -> None:
        from prodml.knowledge.embedding import embedder_for

        index.use_embedder(embedder_for(index.embedding.model_id, self.settings, index.embedding.dimensions))
        index.retrieve(_WARM_QUESTION, 1, self.contract.retrieval.mode, self.contract.retrieval.rrf_k)

    def _published(self, variant: str, previous: Any, index: Any, seconds: float) -> None:
        if previous is not None:
            telemetry.KNOWLEDGE_INDEX.labels(self.name, variant, previous.version).set(0)
        if index is not None:
            telemetry.KNOWLEDGE_INDEX.labels(self.name, variant, index.version).set(1)
            telemetry.KNOWLEDGE_LOAD.labels(variant).observe(seconds)
        log.info(
            "knowledge index swapped in" if index is not None else "knowledge canary index retired",
            extra={
                "knowledge_base": self.name,
                "variant": variant,
                "index_version": index.version if index is not None else None,
                "previous_version": previous.version if previous is not None else None,
                "chunks": len(index) if index is not None else None,
                "seconds": round(seconds, 3),
            },
        )

    # ---- answering ------------------------------------------------------------------------------------
    def pick(self, key: str | None) -> tuple[Any, str]:
        champion = self.champion
        if champion is None:
            code = "no_knowledge_base" if not self.configured else "knowledge_not_ready"
            raise KnowledgeNotReady(self.not_ready_reason, code)
        return choose(champion, self.challenger, self.settings.knowledge_canary_fraction, key)

    async def ask(self, question: str, key: str | None) -> Asked:
        index, variant = self.pick(key)
        answer = await asyncio.to_thread(self._answer, index, question)
        body = answer.as_dict()
        telemetry.record_answer(self.name or "", variant, body)
        return Asked(body, variant, index.version)

    def _answer(self, index: Any, question: str) -> Any:
        from prodml.knowledge.answer import AnswererUnavailable, answer_question

        try:
            return answer_question(index, question, self.contract, self.answerer)
        except AnswererUnavailable as exc:
            raise KnowledgeNotReady(str(exc), "answerer_unavailable") from None
