"""The embedded knowledge index: chunk table, vectors, BM25 state and the normalised documents, in one file.

An index version is a pure function of its inputs: the documents (name and sha256 of each), the chunking
configuration, the normaliser and the embedding model. The same inputs always give the same version, so
re-ingesting unchanged documents changes nothing, and a changed document gives a new version whose chunks
name the new document version. Every chunk records its source document, that document's sha256 and its
``[start, end)`` character offsets into the normalised text, which the index keeps so citations can be checked.

The file is an ``.npz`` (no pickles): the service loads it like a model and verifies its sha256 first.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prodml.knowledge.chunking import Span
from prodml.knowledge.normalise import NORMALISER_VERSION

INDEX_FORMAT = 1
BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}


class KnowledgeIndexError(ValueError):
    """An index file that cannot be used (wrong format, corrupt, or not what its manifest says)."""


@dataclass(frozen=True)
class EmbeddingSpec:
    model_id: str
    dimensions: int

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "dimensions": self.dimensions}


@dataclass(frozen=True)
class ProcessedDocument:
    """One document after normalisation, chunking and embedding: what the worker writes per document."""

    document: str  # the document's name in the knowledge base (a repository-relative path, a file name)
    sha256: str  # the document version: the sha256 of its raw bytes
    document_type: str
    raw_uri: str
    text: str
    spans: list[Span]
    vectors: np.ndarray

    def to_bytes(self) -> bytes:
        meta = {
            "document": self.document,
            "sha256": self.sha256,
            "document_type": self.document_type,
            "raw_uri": self.raw_uri,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=_json_array(meta),
            text=_utf8_array(self.text),
            starts=np.array([s.start for s in self.spans], dtype=np.int64),
            ends=np.array([s.end for s in self.spans], dtype=np.int64),
            vectors=self.vectors.astype(np.float32),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProcessedDocument:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = _from_json_array(arrays["meta"])
            spans = [Span(int(a), int(b)) for a, b in zip(arrays["starts"], arrays["ends"], strict=True)]
            return cls(
                document=meta["document"],
                sha256=meta["sha256"],
                document_type=meta["document_type"],
                raw_uri=meta["raw_uri"],
                text=_from_utf8_array(arrays["text"]),
                spans=spans,
                vectors=arrays["vectors"].astype(np.float32),
            )


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document: str
    document_version: str  # the document's sha256
    start: int
    end: int
    text: str

    def citation(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "document_version": self.document_version,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    rank: int  # 1-based
    score: float  # what the ranking used: cosine (dense), BM25 (bm25) or reciprocal rank fusion (hybrid)
    similarity: float  # cosine between question and chunk, whatever the mode: the answer policy reads it
    bm25: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.chunk.citation(),
            "rank": self.rank,
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 6),
            "bm25": round(self.bm25, 6),
        }


def index_version(
    documents: Sequence[tuple[str, str]], chunking: dict[str, Any], embedding: EmbeddingSpec
) -> str:
    """The version of an index over ``documents`` (name, sha256): a hash of everything that shapes it."""
    canonical = json.dumps(
        {
            "format": INDEX_FORMAT,
            "documents": sorted([name, sha] for name, sha in documents),
            "chunking": chunking,
            "normaliser": NORMALISER_VERSION,
            "embedding": embedding.as_dict(),
            "bm25": BM25_PARAMS,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def chunk_id(document_version: str, ordinal: int) -> str:
    return f"{document_version[:16]}-{ordinal:04d}"


def _bm25s() -> Any:
    import logging

    import bm25s  # type: ignore[import-untyped]  # ships no type information

    # bm25s sets its own logger to DEBUG, which would put a line a build into the host's logs.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def bm25_tokens(texts: Sequence[str]) -> list[list[str]]:
    tokens: list[list[str]] = _bm25s().tokenize(
        list(texts), stopwords="en", return_ids=False, show_progress=False
    )
    return tokens


@dataclass
class KnowledgeIndex:
    """A loaded index version. ``retrieve`` ranks chunks for a question; the answerers read its chunks."""

    version: str
    embedding: EmbeddingSpec
    documents: list[dict[str, Any]]  # name, sha256, document_type, raw_uri, chunks: in chunk order
    texts: list[str]  # normalised text of each document, same order
    chunk_document: np.ndarray  # int32, index into documents
    chunk_start: np.ndarray
    chunk_end: np.ndarray
    vectors: np.ndarray  # float32, L2-normalised rows
    bm25_state: dict[str, Any]
    _bm25: Any = field(default=None, repr=False)
    _embedder: Any = field(default=None, repr=False)

    # ---- building ---------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls, processed: Sequence[ProcessedDocument], chunking: dict[str, Any], embedding: EmbeddingSpec
    ) -> KnowledgeIndex:
        bm25s = _bm25s()
        ordered = sorted(processed, key=lambda d: (d.document, d.sha256))
        names = [d.document for d in ordered]
        if len(set(names)) != len(names):
            raise KnowledgeIndexError(f"two versions of one document in an index: {sorted(names)}")
        documents: list[dict[str, Any]] = []
        texts: list[str] = []
        owner: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        vectors: list[np.ndarray] = []
        for position, doc in enumerate(ordered):
            if doc.vectors.shape != (len(doc.spans), embedding.dimensions):
                raise KnowledgeIndexError(
                    f"{doc.document}: {doc.vectors.shape} vectors for {len(doc.spans)} chunks of "
                    f"{embedding.dimensions} dimensions"
                )
            documents.append(
                {
                    "document": doc.document,
                    "sha256": doc.sha256,
                    "document_type": doc.document_type,
                    "raw_uri": doc.raw_uri,
                    "chunks": len(doc.spans),
                    "chars": len(doc.text),
                }
            )
            texts.append(doc.text)
            owner.extend([position] * len(doc.spans))
            starts.extend(s.start for s in doc.spans)
            ends.extend(s.end for s in doc.spans)
            vectors.append(doc.vectors)
        chunk_texts = [texts[d][a:b] for d, a, b in zip(owner, starts, ends, strict=True)]
        retriever = bm25s.BM25(**BM25_PARAMS)
        if chunk_texts:
            retriever.index(bm25_tokens(chunk_texts), show_progress=False)
        state = {
            "vocab": dict(retriever.vocab_dict or {}),
            "data": np.asarray(retriever.scores.get("data", np.zeros(0)), dtype=np.float32)
            if chunk_texts
            else np.zeros(0, dtype=np.float32),
            "indices": np.asarray(retriever.scores.get("indices", np.zeros(0)), dtype=np.int32)
            if chunk_texts
            else np.zeros(0, dtype=np.int32),
            "indptr": np.asarray(retriever.scores.get("indptr", np.zeros(1)), dtype=np.int32)
            if chunk_texts
            else np.zeros(1, dtype=np.int32),
        }
        version = index_version([(d["document"], d["sha256"]) for d in documents], chunking, embedding)
        return cls(
            version=version,
            embedding=embedding,
            documents=documents,
            texts=texts,
            chunk_document=np.asarray(owner, dtype=np.int32),
            chunk_start=np.asarray(starts, dtype=np.int64),
            chunk_end=np.asarray(ends, dtype=np.int64),
            vectors=np.vstack(vectors).astype(np.float32)
            if vectors
            else np.zeros((0, embedding.dimensions), dtype=np.float32),
            bm25_state=state,
        )

    # ---- the file -----------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        meta = {
            "format": INDEX_FORMAT,
            "version": self.version,
            "embedding": self.embedding.as_dict(),
            "documents": self.documents,
            "bm25": BM25_PARAMS,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=_json_array(meta),
            texts=_json_array(self.texts),
            chunk_document=self.chunk_document,
            chunk_start=self.chunk_start,
            chunk_end=self.chunk_end,
            vectors=self.vectors,
            bm25_vocab=_json_array(self.bm25_state["vocab"]),
            bm25_data=self.bm25_state["data"],
            bm25_indices=self.bm25_state["indices"],
            bm25_indptr=self.bm25_state["indptr"],
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, expected_sha256: str | None = None) -> KnowledgeIndex:
        if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
            raise KnowledgeIndexError(
                "the index file's sha256 is not the one its manifest records (tampered?)"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                meta = _from_json_array(arrays["meta"])
                if meta.get("format") != INDEX_FORMAT:
                    raise KnowledgeIndexError(
                        f"index format {meta.get('format')}; this prodml reads {INDEX_FORMAT}"
                    )
                return cls(
                    version=meta["version"],
                    embedding=EmbeddingSpec(**meta["embedding"]),
                    documents=meta["documents"],
                    texts=_from_json_array(arrays["texts"]),
                    chunk_document=arrays["chunk_document"],
                    chunk_start=arrays["chunk_start"],
                    chunk_end=arrays["chunk_end"],
                    vectors=arrays["vectors"],
                    bm25_state={
                        "vocab": _from_json_array(arrays["bm25_vocab"]),
                        "data": arrays["bm25_data"],
                        "indices": arrays["bm25_indices"],
                        "indptr": arrays["bm25_indptr"],
                    },
                )
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, KnowledgeIndexError):
                raise
            raise KnowledgeIndexError(f"not a knowledge index file ({exc})") from None

    @classmethod
    def load(cls, location: str, settings: Any = None, expected_sha256: str | None = None) -> KnowledgeIndex:
        """From a local path or an ``s3://`` URI."""
        if location.startswith("s3://"):
            from prodml import aws

            bucket, key = aws.split_s3_uri(location)
            data = aws.client("s3", settings).get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            with open(location, "rb") as fh:
                data = fh.read()
        return cls.from_bytes(data, expected_sha256)

    # ---- reading --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.chunk_document)

    def chunk(self, position: int) -> Chunk:
        doc = int(self.chunk_document[position])
        start, end = int(self.chunk_start[position]), int(self.chunk_end[position])
        first = int(np.searchsorted(self.chunk_document, doc, side="left"))
        sha = self.documents[doc]["sha256"]
        return Chunk(
            chunk_id=chunk_id(sha, position - first),
            document=self.documents[doc]["document"],
            document_version=sha,
            start=start,
            end=end,
            text=self.texts[doc][start:end],
        )

    def document_text(self, document: str, version: str | None = None) -> str:
        for meta, text in zip(self.documents, self.texts, strict=True):
            if meta["document"] == document and version in (None, meta["sha256"]):
                return text
        raise LookupError(f"document {document!r} (version {version}) is not in index {self.version}")

    def use_embedder(self, embedder: Any) -> None:
        """The embedder questions are embedded with; it must be the index's model."""
        if embedder.model_id != self.embedding.model_id:
            raise KnowledgeIndexError(
                f"index {self.version} was embedded with {self.embedding.model_id}; "
                f"questions cannot be embedded with {embedder.model_id}"
            )
        self._embedder = embedder

    def _question_vector(self, question: str) -> np.ndarray:
        if self._embedder is None:
            from prodml.knowledge.embedding import embedder_for
            from prodml.settings import get_settings

            self._embedder = embedder_for(self.embedding.model_id, get_settings(), self.embedding.dimensions)
        vector: np.ndarray = self._embedder.embed([question])[0]
        return vector

    def bm25_scores(self, question: str) -> np.ndarray:
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        if self._bm25 is None:
            bm25s = _bm25s()

            retriever = bm25s.BM25(**BM25_PARAMS)
            retriever.vocab_dict = self.bm25_state["vocab"]
            retriever.unique_token_ids_set = set(retriever.vocab_dict.values())
            retriever.scores = {
                "data": self.bm25_state["data"],
                "indices": self.bm25_state["indices"],
                "indptr": self.bm25_state["indptr"],
                "num_docs": len(self),
            }
            retriever.nonoccurrence_array = None
            self._bm25 = retriever
        ids = self._bm25.get_tokens_ids(bm25_tokens([question])[0])
        if not ids:
            return np.zeros(len(self), dtype=np.float32)
        scores: np.ndarray = self._bm25.get_scores_from_ids(ids)
        return scores.astype(np.float32)

    def retrieve(self, question: str, k: int, mode: str = "hybrid", rrf_k: int = 60) -> list[Hit]:
        """The ``k`` best chunks for ``question`` by ``mode``: dense, bm25 or hybrid (reciprocal rank fusion)."""
        if mode not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"unknown retrieval mode {mode!r}; use dense, bm25 or hybrid")
        n = len(self)
        if n == 0 or k <= 0:
            return []
        similarity = self.vectors @ self._question_vector(question)
        lexical = self.bm25_scores(question)
        if mode == "dense":
            score = similarity
        elif mode == "bm25":
            # Ties (no shared term) fall back to similarity, so the order is never arbitrary.
            score = lexical + 1e-6 * similarity
        else:
            depth = min(n, max(k * 20, 100))
            score = np.zeros(n, dtype=np.float64)
            score[_top(similarity, depth)] += 1.0 / (rrf_k + 1 + np.arange(min(depth, n)))
            matching = int(np.count_nonzero(lexical > 0))
            if matching:
                lexical_depth = min(depth, matching)
                score[_top(lexical, lexical_depth)] += 1.0 / (rrf_k + 1 + np.arange(lexical_depth))
            score = score + 1e-9 * similarity
        return [
            Hit(
                chunk=self.chunk(int(i)),
                rank=rank,
                score=float(score[i]),
                similarity=float(similarity[i]),
                bm25=float(lexical[i]),
            )
            for rank, i in enumerate(_top(score, min(k, n)), start=1)
        ]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first; ties broken by position (deterministic)."""
    if k >= len(scores):
        return np.lexsort((np.arange(len(scores)), -scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def _json_array(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def _from_json_array(array: np.ndarray) -> Any:
    return json.loads(array.tobytes().decode("utf-8"))


def _utf8_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _from_utf8_array(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")
