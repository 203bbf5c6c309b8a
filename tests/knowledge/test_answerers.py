"""The Bedrock answerer's model route (with botocore's Stubber standing in for AWS, since the emulator's
bedrock-runtime generates nothing) and the index file's integrity. No emulator needed."""

from __future__ import annotations

import hashlib

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber

from prodml.knowledge.answer import (
    AnswererUnavailable,
    BedrockAnswerer,
    Guardrail,
    PromptTemplate,
    answer_question,
)
from prodml.knowledge.chunking import chunk_spans
from prodml.knowledge.embedding import OfflineEmbedder
from prodml.knowledge.index import EmbeddingSpec, KnowledgeIndex, KnowledgeIndexError, ProcessedDocument
from prodml.knowledge.normalise import normalise
from prodml.settings import Settings
from tests.knowledge.documents import ALPHA, BETA

PROMPT = PromptTemplate("test", "Answer from the passages.", "{context}\n\nQuestion: {question}")


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> KnowledgeIndex:
    embedder = OfflineEmbedder()
    processed = []
    for name, raw, kind in (("alpha.md", ALPHA, "markdown"), ("beta.html", BETA, "html")):
        text = normalise(raw.encode(), kind)
        spans = chunk_spans(text, 200, 30)
        vectors = embedder.embed([text[s.start : s.end] for s in spans])
        processed.append(
            ProcessedDocument(name, name.replace(".", "0") * 8, kind, "s3://x", text, spans, vectors)
        )
    built = KnowledgeIndex.build(
        processed, {"size": 200}, EmbeddingSpec(embedder.model_id, embedder.dimensions)
    )
    return KnowledgeIndex.from_bytes(built.to_bytes())


def _converse_response(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 420, "outputTokens": 35, "totalTokens": 455},
        "metrics": {"latencyMs": 80},
    }


def test_a_throttled_model_falls_back_to_the_configured_route(index, kb_contract):
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    generation = kb_contract.answer.generation
    with Stubber(client) as stub:
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
        stub.add_response("converse", _converse_response("Rejected rows go to the quarantine zone [1]."))
        answerer = BedrockAnswerer(
            kb_contract, Settings(endpoint_url=None), Guardrail("gr-123", "1"), client=client, prompt=PROMPT
        )
        answer = answer_question(index, "Where do rejected rows go?", kb_contract, answerer)
        stub.assert_no_pending_responses()
    assert answer.answerer == "bedrock-converse" and answer.fallback_used
    assert answer.model_id == generation.fallback_model_id
    assert (answer.input_tokens, answer.output_tokens) == (420, 35)
    price = kb_contract.pricing.models[generation.fallback_model_id]
    assert answer.cost_usd == pytest.approx(
        0.42 * price.input_per_1k_tokens + 0.035 * price.output_per_1k_tokens
    )
    [citation] = answer.citations
    text = index.document_text(citation["document"], citation["document_version"])
    assert text[citation["start"] : citation["end"]] == citation["passage"]


def test_a_bad_request_is_not_retried_on_the_fallback(index, kb_contract):
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("converse", "ValidationException", "bad guardrail", 400)
        answerer = BedrockAnswerer(
            kb_contract, Settings(endpoint_url=None), None, client=client, prompt=PROMPT
        )
        with pytest.raises(Exception, match="ValidationException"):
            answer_question(index, "Where do rejected rows go?", kb_contract, answerer)


def test_bedrock_refuses_to_pretend_on_the_emulator(kb_contract):
    with pytest.raises(AnswererUnavailable, match="AWS only"):
        BedrockAnswerer(kb_contract, Settings(endpoint_url="http://127.0.0.1:4566"), None)


def test_retrieval_modes_and_a_tampered_index_file(index):
    for mode in ("dense", "bm25", "hybrid"):
        [best, *_] = index.retrieve("canary fraction of requests to the challenger", 3, mode)
        assert best.chunk.document == "beta.html", mode
    data = index.to_bytes()
    KnowledgeIndex.from_bytes(data, hashlib.sha256(data).hexdigest())
    with pytest.raises(KnowledgeIndexError, match="sha256"):
        tampered = data[:100] + bytes([data[100] ^ 1]) + data[101:]
        KnowledgeIndex.from_bytes(tampered, hashlib.sha256(data).hexdigest())
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-5)


def test_the_shipped_contracts_load_by_name():
    from prodml.knowledge.contract import load_knowledge_contracts
    from tests.conftest import REPO

    assert list(load_knowledge_contracts(REPO / "contracts" / "knowledge")) == ["prodml_docs"]
