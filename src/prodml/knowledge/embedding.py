"""Text embeddings: Bedrock (Titan Text Embeddings) on AWS, and offline a model whose weights ship inside
its wheel.

The offline model is WordLlama's ``l2_supercat`` at 256 dimensions: the ``wordllama`` wheel (MIT) carries
its weights and tokenizer, and it is loaded with downloads disabled. Nothing here may fetch weights at run
time: that fails on a laptop without network and in a locked-down VPC alike.

Every embedder returns L2-normalised float32 rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, Protocol

import numpy as np

from prodml.settings import Settings

OFFLINE_MODEL_ID = "wordllama/l2_supercat-256"


class EmbeddingError(RuntimeError):
    """Embedding failed after every retry."""


class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class OfflineEmbedder:
    """WordLlama static token embeddings, average-pooled: fast on a CPU and deterministic."""

    model_id = OFFLINE_MODEL_ID
    dimensions = 256

    def __init__(self) -> None:
        self._model = _wordllama()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._model.embed(list(texts), norm=True, return_np=True)
        return _normalised(np.asarray(vectors, dtype=np.float32))


@cache
def _wordllama() -> Any:
    import logging
    from pathlib import Path

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama  # type: ignore[import-untyped]  # ships no type information

    # wordllama calls logging.basicConfig(level=INFO) on import: undo it, the host process owns logging.
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)

    # The wheel ships weights/ and tokenizers/ inside the package; pointing the cache at the package makes
    # WordLlama find both there, and disable_download turns a missing file into an error, not a download.
    return wordllama.WordLlama.load(
        config="l2_supercat", dim=256, cache_dir=Path(wordllama.__file__).parent, disable_download=True
    )


class BedrockEmbedder:
    """Titan Text Embeddings v2 through ``bedrock-runtime`` InvokeModel: one text a call, calls in parallel."""

    def __init__(self, model_id: str, dimensions: int, settings: Settings, client: Any = None) -> None:
        if not settings.is_real_aws and client is None:
            raise EmbeddingError(
                f"{model_id} runs on Amazon Bedrock; the emulator's bedrock-runtime is a stub that returns no "
                "real embeddings. Use the offline embedding model there (embedding.use: offline or auto)."
            )
        self.model_id = model_id
        self.dimensions = dimensions
        self._client = client or bedrock_runtime(settings)
        self.input_tokens = 0

    def _one(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text, "dimensions": self.dimensions, "normalize": True})
        response = self._client.invoke_model(
            modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
        )
        payload = json.loads(response["body"].read())
        self.input_tokens += int(payload.get("inputTextTokenCount", 0))
        return list(payload["embedding"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=8) as pool:
            rows = list(pool.map(self._one, texts))
        return _normalised(np.asarray(rows, dtype=np.float32))


@cache
def bedrock_runtime(settings: Settings) -> Any:
    """One client a process and settings (a worker embeds document after document with it)."""
    from botocore.config import Config

    from prodml import aws

    # Throttling is retried by botocore's adaptive mode first; what still fails is ours to retry or route.
    config = Config(retries={"max_attempts": 4, "mode": "adaptive"}, read_timeout=60)
    return aws.boto3_session(settings).client(
        "bedrock-runtime", endpoint_url=settings.endpoint_url, config=config
    )


def embedder_for(model_id: str, settings: Settings, aws_dimensions: int = 1024) -> Embedder:
    """The embedder of ``model_id``: an index is always queried with the model it was built with."""
    if model_id == OFFLINE_MODEL_ID:
        return OfflineEmbedder()
    return BedrockEmbedder(model_id, aws_dimensions, settings)


def embed_in_batches(
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int,
    max_attempts: int,
    *,
    on_batch: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> np.ndarray:
    """Embed ``texts`` ``batch_size`` at a time, retrying a failed batch with exponential backoff."""
    parts = []
    for first in range(0, len(texts), batch_size):
        batch = texts[first : first + batch_size]
        for attempt in range(1, max_attempts + 1):
            try:
                parts.append(embedder.embed(batch))
                break
            except Exception as exc:
                if attempt == max_attempts:
                    raise EmbeddingError(
                        f"embedding with {embedder.model_id} failed {max_attempts} times: {exc}"
                    ) from exc
                sleep(min(2.0 ** (attempt - 1) * 0.5, 8.0))
        if on_batch:
            on_batch(len(batch))
    if not parts:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    return np.vstack(parts)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0).astype(np.float32)
