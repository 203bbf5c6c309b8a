"""``POST /ask`` on the service as deployed (gunicorn with the Dockerfile's CMD) against a real emulator holding
a knowledge base built by the real ingestion path: citations whose offsets point at the cited text, a canary
index for a share of request keys, a hot swap when a new index is promoted, 503 without a knowledge base, and
the knowledge metrics (Prometheus and EMF)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.knowledge.documents import ALPHA_CHANGED

from .conftest import ROW, Server

pytestmark = pytest.mark.integration

QUESTION = "How long are quarantined rows retained?"


def wait_for_index(server: Server, champion: str, challenger: str | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = server.get("/ready").json()
        if body["knowledge_index_version"] == champion and body["knowledge_challenger_version"] == challenger:
            return
        time.sleep(0.1)
    raise AssertionError(
        f"index {champion} (canary {challenger}) never served: {body}\n{server.logs()[-3000:]}"
    )


def test_ask_cites_passages_at_their_offsets_canaries_a_new_index_and_hot_swaps_to_it(knowledge, serve):
    first = knowledge.ingest()
    knowledge.promote(first)
    knowledge.documents["alpha"].write_text(ALPHA_CHANGED)
    second = knowledge.ingest()  # committed, not promoted: the canary's index
    assert second != first
    server = serve(
        **knowledge.env,
        PRODML_KNOWLEDGE_POLL_INTERVAL_S="0.3",
        PRODML_KNOWLEDGE_CANARY_VERSION=second,
        PRODML_KNOWLEDGE_CANARY_FRACTION="0.5",
    )
    wait_for_index(server, first, second)
    indexes = {v: knowledge.store.load_index(v) for v in (first, second)}

    # The canary: request keys below the fraction meet the challenger index, the rest the promoted one,
    # each key always the same one (the model canary's routing).
    from app.serving.routing import key_point

    with httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(16):
            key = f"user-{n}"
            answers = [
                client.post("/ask", json={"question": QUESTION}, headers={"X-Request-Key": key}) for _ in "ab"
            ]
            assert [a.status_code for a in answers] == [200, 200], answers[0].text
            body = answers[0].json()
            assert answers[1].json()["index_version"] == body["index_version"]  # sticky
            expected = ("challenger", second) if key_point(key) < 0.5 else ("champion", first)
            assert (body["variant"], body["index_version"]) == expected
            assert answers[0].headers["x-index-version"] == body["index_version"]
            assert body["answerer"] == "extractive-offline" and body["answered"]
            assert body["model_id"] is None and body["tokens"] == {"input": 0, "output": 0}
            assert set(body["latency_ms"]) == {"retrieval", "generation"}
            assert body["retrieval"] and body["retrieval"][0]["rank"] == 1
            # Every citation's offsets point into the normalised document at exactly the cited passage.
            assert body["citations"]
            for citation in body["citations"]:
                text = indexes[body["index_version"]].document_text(
                    citation["document"], citation["document_version"]
                )
                assert citation["passage"] and citation["passage"] in text
                assert text[citation["start"] : citation["end"]] == citation["passage"]
            retention = "thirty days" if body["variant"] == "challenger" else "ninety days"
            assert retention in body["answer"]

    # Promoting the canary's index swaps it in for everybody; its citations name the new document version.
    knowledge.promote(second)
    wait_for_index(server, second, None)
    answer = server.post("/ask", {"question": QUESTION}, headers={"X-Request-Key": "user-1"}).json()
    assert answer["index_version"] == second and answer["variant"] == "champion"
    new_sha = knowledge.store.manifest(second)["documents"][0]["sha256"]
    assert any(c["document_version"] == new_sha for c in answer["citations"] if c["document"] == "alpha.md")

    # Metrics: Prometheus counters and one EMF record an answer in knowledge.yaml's namespace.
    metrics = server.get("/metrics").text
    assert 'prodml_knowledge_answers_total{answered="true",answerer="extractive-offline"' in metrics
    assert 'prodml_knowledge_latency_seconds_count{knowledge_base="test_kb",stage="retrieval"}' in metrics
    assert (
        f'prodml_knowledge_index{{knowledge_base="test_kb",variant="champion",version="{second}"}} 1.0'
        in (metrics)
    )
    assert 'route="/ask"' in metrics
    records = [
        line
        for line in server.log_lines(until=lambda lines: sum("RetrievalLatency" in x for x in lines) >= 33)
        if "RetrievalLatency" in line
    ]
    assert len(records) == 33
    record = records[-1]
    directives = record["_aws"]["CloudWatchMetrics"]
    assert {d["Namespace"] for d in directives} == {"prodml/knowledge"}
    assert [["KnowledgeBase"], ["KnowledgeBase", "Model"]] in [d["Dimensions"] for d in directives]
    assert record["KnowledgeBase"] == "test_kb" and record["Model"] == "extractive-offline"
    assert record["EstimatedCost"] == 0 and record["RetrievalScore"] > 0.25
    assert record["IndexVersion"] == second


def test_without_a_knowledge_base_ask_is_503_and_predict_still_serves(platform, artifacts, serve):
    platform.publish(artifacts["a"])
    server = serve()
    server.wait_ready()
    assert server.post("/predict", ROW).status_code == 200
    refused = server.post("/ask", {"question": "What is prodml?"})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "no_knowledge_base"
    assert "PRODML_KNOWLEDGE_BASE" in refused.json()["error"]["message"]
    assert server.get("/ready").json()["knowledge_index_version"] is None


def test_a_configured_knowledge_base_with_no_promoted_index_is_503_until_one_is_promoted(knowledge, serve):
    server = serve(
        **knowledge.env,
        PRODML_KNOWLEDGE_POLL_INTERVAL_S="0.3",
    )
    refused = server.post("/ask", {"question": QUESTION})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "knowledge_not_ready"
    assert "prodml kb promote" in refused.json()["error"]["message"]
    version = knowledge.ingest()
    knowledge.promote(version)
    wait_for_index(server, version)
    assert server.post("/ask", {"question": QUESTION}).json()["index_version"] == version


def test_a_worker_serves_before_a_slow_first_index_load_and_answers_once_it_is_in(knowledge, serve):
    """gunicorn kills a worker whose start outlasts its timeout: a worker waits for its first index only so
    long (here not at all), serves meanwhile, and answers /ask once the index is in."""
    version = knowledge.ingest()
    knowledge.promote(version)
    server = serve(**knowledge.env, PRODML_KNOWLEDGE_FIRST_LOAD_WAIT_S="0")
    assert server.get("/health").status_code == 200
    wait_for_index(server, version)
    assert server.post("/ask", {"question": QUESTION}).json()["index_version"] == version
    assert "knowledge base still loading after 0.0 s" in server.logs()
