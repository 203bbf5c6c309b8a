"""The knowledge contract: the only place a knowledge base's document types, chunking, embedding models,
retrieval, answer policy, prices and evaluation thresholds are set.

Ingestion, the index build, retrieval, the answerers and the evaluation gate all read a
:class:`KnowledgeContract`; none of them may carry a default of its own for any of these.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KB_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
DOCUMENT_TYPES = ("markdown", "html", "pdf", "text")
RETRIEVAL_MODES = ("dense", "bm25", "hybrid")


class KnowledgeContractError(ValueError):
    """A knowledge contract that cannot be used. The message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Chunking(_Strict):
    size: int = Field(gt=50, le=20_000, description="Characters of normalised text per chunk, at most.")
    overlap: int = Field(ge=0, description="Characters a chunk shares with the one before it.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chunking:
        if self.overlap >= self.size // 2:
            raise ValueError(f"overlap ({self.overlap}) must be less than half the size ({self.size})")
        return self


class DocumentType(_Strict):
    extensions: list[Annotated[str, Field(pattern=r"^\.[a-z0-9]+$")]] = Field(min_length=1)
    chunking: Chunking


class Documents(_Strict):
    types: dict[Literal["markdown", "html", "pdf", "text"], DocumentType] = Field(min_length=1)
    max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _extensions_unique(self) -> Documents:
        seen: dict[str, str] = {}
        for name, spec in self.types.items():
            for ext in spec.extensions:
                if ext in seen:
                    raise ValueError(f"extension {ext} is claimed by both {seen[ext]} and {name}")
                seen[ext] = name
        return self

    def type_of(self, filename: str) -> str | None:
        """The document type a file name's extension maps to, or None when the contract refuses it."""
        suffix = Path(filename).suffix.lower()
        return next((name for name, spec in self.types.items() if suffix in spec.extensions), None)

    @property
    def extensions(self) -> list[str]:
        return sorted(ext for spec in self.types.values() for ext in spec.extensions)


class AwsEmbedding(_Strict):
    model_id: str = Field(min_length=1, description="Bedrock model id, e.g. amazon.titan-embed-text-v2:0")
    dimensions: Literal[256, 512, 1024] = 1024


class OfflineEmbedding(_Strict):
    model_id: Literal["wordllama/l2_supercat-256"] = Field(
        description="An embedding model whose weights ship inside a Python package (never downloaded)."
    )


class Embedding(_Strict):
    aws: AwsEmbedding
    offline: OfflineEmbedding
    # Where the index is built: `auto` is Bedrock on real AWS and the offline model anywhere else (the
    # emulator has no model to call).
    use: Literal["auto", "aws", "offline"] = "auto"
    batch_size: int = Field(default=64, gt=0, le=1024)
    max_attempts: int = Field(default=4, ge=1, le=10)


class Retrieval(_Strict):
    mode: Literal["dense", "bm25", "hybrid"]
    top_k: int = Field(gt=0, le=100)
    # Reciprocal rank fusion's constant: 1 / (rrf_k + rank) per ranking.
    rrf_k: int = Field(default=60, gt=0)


class Generation(_Strict):
    model_id: str = Field(min_length=1)
    fallback_model_id: str = Field(min_length=1)
    max_tokens: int = Field(default=512, gt=0, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _fallback_differs(self) -> Generation:
        if self.fallback_model_id == self.model_id:
            raise ValueError("fallback_model_id must differ from model_id (a fallback to itself is none)")
        return self


class AnswerPolicy(_Strict):
    # Below this cosine similarity between the question and the best chunk, answer "I don't know".
    min_similarity: float = Field(ge=-1.0, le=1.0)
    refusal: str = Field(min_length=1)
    max_context_chunks: int = Field(default=5, gt=0, le=50)
    max_answer_sentences: int = Field(default=3, gt=0, le=20)
    prompt: str = Field(
        min_length=1, description="Prompt template, relative to the repository's prompts/ folder."
    )
    generation: Generation


class Price(_Strict):
    input_per_1k_tokens: float = Field(ge=0)
    output_per_1k_tokens: float = Field(default=0.0, ge=0)


class Pricing(_Strict):
    currency: Literal["USD"] = "USD"
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    models: dict[str, Price] = Field(min_length=1)


class Evaluation(_Strict):
    golden_questions: str = Field(min_length=1, description="Relative to the contract file.")
    k: int = Field(gt=0, le=100)
    min_recall_at_k: float = Field(ge=0, le=1)
    min_mrr: float = Field(ge=0, le=1)


class KnowledgeContract(_Strict):
    name: Annotated[str, Field(pattern=KB_NAME_PATTERN, max_length=40)]
    version: int = Field(ge=1)
    description: str = ""
    # Globs relative to the repository: what `prodml kb ingest` lands when it is given no paths.
    sources: list[str] = Field(default_factory=list)
    documents: Documents
    embedding: Embedding
    retrieval: Retrieval
    answer: AnswerPolicy
    pricing: Pricing
    evaluation: Evaluation
    # Set by the loader: the file this contract came from, so relative paths resolve against it.
    source_path: Path | None = Field(default=None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _relative_globs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.startswith("/") or ".." in Path(pattern).parts:
                raise ValueError(f"source {pattern!r} must be a glob inside the repository")
        return value

    @model_validator(mode="after")
    def _priced(self) -> KnowledgeContract:
        needed = [self.embedding.aws.model_id, self.answer.generation.model_id]
        needed.append(self.answer.generation.fallback_model_id)
        missing = [m for m in needed if m not in self.pricing.models]
        if missing:
            raise ValueError(f"pricing.models has no price for {', '.join(missing)}")
        return self

    def chunking_for(self, document_type: str) -> Chunking:
        return self.documents.types[document_type].chunking  # type: ignore[index]  # keys are the Literal types

    def chunking_config(self) -> dict[str, dict[str, int]]:
        return {name: spec.chunking.model_dump() for name, spec in sorted(self.documents.types.items())}

    def golden_questions_path(self) -> Path:
        path = Path(self.evaluation.golden_questions)
        if not path.is_absolute() and self.source_path is not None:
            path = self.source_path.parent / path
        return path

    def fingerprint(self) -> str:
        """sha256 of everything the contract sets (not where it was read from)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def parse_knowledge_contract(data: Any, source: str = "<knowledge contract>") -> KnowledgeContract:
    if not isinstance(data, dict):
        raise KnowledgeContractError(f"{source}: a knowledge contract must be a YAML mapping")
    try:
        return KnowledgeContract.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeContractError(f"{source}: {_describe(exc)}") from None


def load_knowledge_contract(path: str | Path) -> KnowledgeContract:
    path = Path(path)
    if not path.is_file():
        raise KnowledgeContractError(f"{path}: knowledge contract not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeContractError(f"{path}: not valid YAML ({exc})") from None
    contract = parse_knowledge_contract(data, str(path))
    return contract.model_copy(update={"source_path": path.resolve()})


def load_knowledge_contracts(folder: Path) -> dict[str, KnowledgeContract]:
    """Every knowledge contract in ``folder`` by name (golden-question files beside them are skipped)."""
    found: dict[str, KnowledgeContract] = {}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "questions" in data:
            continue
        contract = load_knowledge_contract(path)
        if contract.name in found:
            raise KnowledgeContractError(
                f"{path}: knowledge base {contract.name!r} is defined twice in {folder}"
            )
        found[contract.name] = contract
    return found
