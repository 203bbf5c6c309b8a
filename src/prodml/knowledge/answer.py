"""Answering a question from an index: retrieval, the answer policy, and one of two answerers.

- :class:`ExtractiveAnswerer` (offline, deterministic): quotes the sentences of the retrieved chunks that
  best match the question. It generates nothing and says so: ``"answerer": "extractive-offline"``.
- :class:`BedrockAnswerer` (AWS only): the Bedrock Converse API with a guardrail, and a fallback model route
  when the primary model is throttled or fails. The emulator's bedrock-runtime is a stub, so this answerer
  refuses to run against it rather than pretend to generate.

Every answer carries its citations (document, document version, chunk id, offsets into the normalised
document, and the cited passage, which is exactly ``text[start:end]``), the retrieval scores, the index
version, token counts and an estimated cost from the contract's price table.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodml.knowledge.contract import KnowledgeContract, Pricing
from prodml.knowledge.index import Hit, KnowledgeIndex, bm25_tokens
from prodml.settings import Settings

EXTRACTIVE = "extractive-offline"
BEDROCK = "bedrock-converse"
# A sentence ends at . ! or ? before whitespace (not inside `module.ecr`), or at the end of a line.
_SENTENCE = re.compile(r"[^\n]+?(?:[.!?]+(?=\s)|(?=\n)|$)")
# Bedrock errors after which the fallback model is tried (the primary route is unavailable, not the request wrong).
FALLBACK_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "InternalServerException",
        "ModelErrorException",
        "ServiceQuotaExceededException",
    }
)


class AnswererUnavailable(RuntimeError):
    """The answerer cannot run here (Bedrock on the emulator), or every model route failed."""


@dataclass
class Answer:
    question: str
    answer: str
    answerer: str
    answered: bool  # False: the policy refused ("I don't know") for lack of a good enough passage
    citations: list[dict[str, Any]]
    retrieval: list[dict[str, Any]]
    index_version: str
    model_id: str | None = None
    fallback_used: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    guardrail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "answerer": self.answerer,
            "answered": self.answered,
            "citations": self.citations,
            "retrieval": self.retrieval,
            "index_version": self.index_version,
            "model_id": self.model_id,
            "fallback_used": self.fallback_used,
            "tokens": {"input": self.input_tokens, "output": self.output_tokens},
            "cost": {"estimated_usd": round(self.cost_usd, 8), "currency": "USD"},
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            "guardrail": self.guardrail,
        }


def estimate_cost(pricing: Pricing, model_id: str | None, input_tokens: int, output_tokens: int) -> float:
    if model_id is None or model_id not in pricing.models:
        return 0.0
    price = pricing.models[model_id]
    return input_tokens / 1000 * price.input_per_1k_tokens + output_tokens / 1000 * price.output_per_1k_tokens


def _sentences(text: str, offset: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans (shifted by ``offset``) of the sentences and lines in ``text``."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 12:
            spans.append((offset + start, offset + end))
    return spans


class ExtractiveAnswerer:
    """Deterministic and offline: the answer is the retrieved sentences that share the most (rare) terms
    with the question, quoted verbatim with their offsets. It never generates text."""

    name = EXTRACTIVE

    def __init__(self, max_sentences: int) -> None:
        self.max_sentences = max_sentences

    def answer(self, question: str, hits: list[Hit], index: KnowledgeIndex) -> dict[str, Any]:
        spans: list[tuple[Hit, int, int]] = []
        for hit in hits:
            text = index.document_text(hit.chunk.document, hit.chunk.document_version)
            # Whole sentences of the document that overlap the chunk: a chunk may cut one in two. A sentence
            # never spans a line, so splitting the chunk's lines gives the spans splitting the whole document
            # would, without reading the rest of a long document on every question.
            first = text.rfind("\n", 0, hit.chunk.start) + 1
            last = text.find("\n", hit.chunk.end)
            lines = text[first : last if last >= 0 else len(text)]
            for start, end in _sentences(lines, first):
                if end <= hit.chunk.start or start >= hit.chunk.end:
                    continue
                spans.append((hit, start, end))
        # One tokenizer call for every candidate sentence (a call has a fixed cost well above a sentence's).
        texts = [
            index.document_text(hit.chunk.document, hit.chunk.document_version)[start:end]
            for hit, start, end in spans
        ]
        tokens = bm25_tokens([question, *texts])
        terms = set(tokens[0])
        candidates = []
        for (hit, start, end), sentence_tokens in zip(spans, tokens[1:], strict=True):
            words = set(sentence_tokens)
            overlap = len(terms & words)
            # Shared terms first, shorter sentences for the same overlap, then the better-ranked chunk.
            score = overlap / (1.0 + 0.02 * len(words)) + 0.5 / hit.rank
            candidates.append((score, -hit.rank, -start, hit, start, end))
        candidates.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
        chosen, seen = [], set()
        for _, _, _, hit, start, end in candidates:
            key = (hit.chunk.document_version, start, end)
            if key in seen:
                continue
            seen.add(key)
            chosen.append((hit, start, end))
            if len(chosen) == self.max_sentences:
                break
        # In reading order within each document, documents in rank order.
        chosen.sort(key=lambda c: (c[0].rank, c[1]))
        citations = []
        for hit, start, end in chosen:
            text = index.document_text(hit.chunk.document, hit.chunk.document_version)
            citations.append({**hit.chunk.citation(), "start": start, "end": end, "passage": text[start:end]})
        return {
            "answer": " ".join(c["passage"] for c in citations),
            "citations": citations,
            "model_id": None,
            "input_tokens": 0,
            "output_tokens": 0,
        }


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt file: ``system:`` and ``user:`` sections; the user one has {question} and {context}."""

    name: str
    system: str
    user: str

    @classmethod
    def load(cls, path: Path) -> PromptTemplate:
        import yaml

        if not path.is_file():
            raise FileNotFoundError(f"prompt template {path} not found")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"system", "user"} <= set(data):
            raise ValueError(f"{path}: a prompt template has system: and user: keys")
        return cls(name=path.stem, system=str(data["system"]), user=str(data["user"]))

    def render(self, question: str, hits: list[Hit]) -> str:
        context = "\n\n".join(
            f"[{n}] ({hit.chunk.document}@{hit.chunk.document_version[:12]})\n{hit.chunk.text}"
            for n, hit in enumerate(hits, start=1)
        )
        return self.user.format(question=question, context=context)


def prompt_path(contract: KnowledgeContract) -> Path:
    from prodml import paths

    path = Path(contract.answer.prompt)
    return path if path.is_absolute() else paths.repo_path("prompts") / path


@dataclass(frozen=True)
class Guardrail:
    identifier: str
    version: str


class BedrockAnswerer:
    """Bedrock Converse with a guardrail and a fallback model route. AWS only."""

    name = BEDROCK

    def __init__(
        self,
        contract: KnowledgeContract,
        settings: Settings,
        guardrail: Guardrail | None,
        *,
        client: Any = None,
        prompt: PromptTemplate | None = None,
    ) -> None:
        if client is None and not settings.is_real_aws:
            raise AnswererUnavailable(
                "the Bedrock answerer runs on AWS only: the emulator's bedrock-runtime is a stub that "
                "generates nothing; offline, answers come from the extractive answerer"
            )
        if client is None:
            from prodml.knowledge.embedding import bedrock_runtime

            client = bedrock_runtime(settings)
        self.client = client
        self.generation = contract.answer.generation
        self.guardrail = guardrail
        self.prompt = prompt or PromptTemplate.load(prompt_path(contract))

    def _converse(self, model_id: str, question: str, hits: list[Hit]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "modelId": model_id,
            "system": [{"text": self.prompt.system}],
            "messages": [{"role": "user", "content": [{"text": self.prompt.render(question, hits)}]}],
            "inferenceConfig": {
                "maxTokens": self.generation.max_tokens,
                "temperature": self.generation.temperature,
            },
        }
        if self.guardrail is not None:
            request["guardrailConfig"] = {
                "guardrailIdentifier": self.guardrail.identifier,
                "guardrailVersion": self.guardrail.version,
                "trace": "disabled",
            }
        response: dict[str, Any] = self.client.converse(**request)
        return response

    def answer(self, question: str, hits: list[Hit], index: KnowledgeIndex) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        routes = [self.generation.model_id, self.generation.fallback_model_id]
        errors = []
        for model_id in routes:
            try:
                response = self._converse(model_id, question, hits)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                errors.append(f"{model_id}: {code}")
                if code in FALLBACK_ERRORS:
                    continue
                raise
            text = "".join(
                block.get("text", "") for block in response["output"]["message"]["content"] if "text" in block
            )
            usage = response.get("usage", {})
            cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", text) if 0 < int(n) <= len(hits)})
            cited_hits = [hits[n - 1] for n in cited] or hits
            return {
                "answer": text.strip(),
                "citations": [{**hit.chunk.citation(), "passage": hit.chunk.text} for hit in cited_hits],
                "model_id": model_id,
                "fallback_used": model_id != routes[0],
                "input_tokens": int(usage.get("inputTokens", 0)),
                "output_tokens": int(usage.get("outputTokens", 0)),
                "guardrail": "intervened"
                if response.get("stopReason") == "guardrail_intervened"
                else "passed"
                if self.guardrail
                else None,
            }
        raise AnswererUnavailable("every model route failed: " + "; ".join(errors))


def answer_question(
    index: KnowledgeIndex,
    question: str,
    contract: KnowledgeContract,
    answerer: ExtractiveAnswerer | BedrockAnswerer | None = None,
    *,
    k: int | None = None,
    mode: str | None = None,
) -> Answer:
    """Retrieve, apply the answer policy, and answer (extractively unless another answerer is given)."""
    answerer = answerer or ExtractiveAnswerer(contract.answer.max_answer_sentences)
    k = k or contract.retrieval.top_k
    started = time.perf_counter()
    hits = index.retrieve(question, k, mode or contract.retrieval.mode, contract.retrieval.rrf_k)
    retrieved = time.perf_counter()
    retrieval = [hit.as_dict() for hit in hits]
    best = max((hit.similarity for hit in hits), default=-1.0)
    if best < contract.answer.min_similarity:
        return Answer(
            question=question,
            answer=contract.answer.refusal,
            answerer=answerer.name,
            answered=False,
            citations=[],
            retrieval=retrieval,
            index_version=index.version,
            latency_ms={"retrieval": (retrieved - started) * 1000, "generation": 0.0},
        )
    result = answerer.answer(question, hits[: contract.answer.max_context_chunks], index)
    done = time.perf_counter()
    return Answer(
        question=question,
        answer=result["answer"],
        answerer=answerer.name,
        answered=True,
        citations=result["citations"],
        retrieval=retrieval,
        index_version=index.version,
        model_id=result["model_id"],
        fallback_used=bool(result.get("fallback_used", False)),
        input_tokens=result["input_tokens"],
        output_tokens=result["output_tokens"],
        cost_usd=estimate_cost(
            contract.pricing, result["model_id"], result["input_tokens"], result["output_tokens"]
        ),
        latency_ms={"retrieval": (retrieved - started) * 1000, "generation": (done - retrieved) * 1000},
        guardrail=result.get("guardrail"),
    )
