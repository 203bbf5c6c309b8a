"""The knowledge pipeline on the emulator: S3 event → SQS → worker → versioned index → gate → answers."""

from __future__ import annotations

import json

import pytest

from prodml.knowledge.answer import EXTRACTIVE, answer_question
from prodml.knowledge.contract import parse_knowledge_contract
from prodml.knowledge.store import KnowledgeStore
from prodml.knowledge.worker import dead_letters, ingest, queue_depths, run_worker
from tests.knowledge.documents import ALPHA, ALPHA_CHANGED, ALPHA_UNRELATED

pytestmark = pytest.mark.integration


def test_landing_events_reach_the_queue_and_a_corrupt_pdf_is_dead_lettered_with_its_reason(
    kb_env, kb_contract, corpus
):
    landed = ingest(corpus.values(), kb_contract, kb_env, root=corpus["alpha"].parent, work=False)
    assert len(landed.landed) == 4
    # moto delivers the raw bucket's S3 event notifications to SQS, as AWS does: the worker's path. Two
    # messages a new document (its landing record, then its current-version head), and the s3:TestEvent
    # S3 sends when the notification is set up.
    assert queue_depths(kb_env)["queued"] == 4 * 2 + 1

    report = run_worker({kb_contract.name: kb_contract}, kb_env, drain=True)
    assert report.count("processed") == 3
    [failed] = [o for o in report.outcomes if o.status == "dead_lettered"]
    assert failed.document == "broken.pdf" and "not a readable PDF" in failed.reason

    [letter] = dead_letters(kb_env)
    assert letter["document"] == "broken.pdf" and "not a readable PDF" in letter["reason"]
    assert queue_depths(kb_env)["queued"] == 0

    store = KnowledgeStore(kb_contract, kb_env)
    manifest = store.manifest(store.latest_version())
    assert sorted(d["document"] for d in manifest["documents"]) == ["alpha.md", "beta.html", "gamma.pdf"]
    assert [f["document"] for f in manifest["failed_documents"]] == ["broken.pdf"]


def test_reingesting_is_a_no_op_and_a_changed_document_makes_a_version_citing_it(kb_env, kb_contract, corpus):
    root = corpus["alpha"].parent
    first = ingest(corpus.values(), kb_contract, kb_env, root=root)
    assert first.build is not None and first.build.created

    again = ingest(corpus.values(), kb_contract, kb_env, root=root)
    assert again.build is not None
    assert again.build.version == first.build.version and not again.build.created
    assert not any(r.landed for r in again.landed)  # the same bytes land nowhere new

    corpus["alpha"].write_text(ALPHA_CHANGED)
    changed = ingest([corpus["alpha"]], kb_contract, kb_env, root=root)
    assert changed.build is not None and changed.build.created
    assert changed.build.version != first.build.version
    new_sha = changed.landed[0].record.sha256

    store = KnowledgeStore(kb_contract, kb_env)
    index = store.load_index(changed.build.version)
    answer = answer_question(index, "How long are quarantined rows retained?", kb_contract)
    assert answer.answerer == EXTRACTIVE == answer.as_dict()["answerer"]
    assert answer.index_version == changed.build.version
    assert "thirty days" in answer.answer
    cited = [c for c in answer.citations if c["document"] == "alpha.md"]
    assert cited and all(c["document_version"] == new_sha for c in cited)
    for citation in answer.citations:
        # The offsets point into the normalised document at exactly the passage cited.
        text = index.document_text(citation["document"], citation["document_version"])
        assert text[citation["start"] : citation["end"]] == citation["passage"]
    # The old version is still committed and still cites the old document version.
    old = store.load_index(first.build.version)
    assert (
        "ninety days" in answer_question(old, "How long are quarantined rows retained?", kb_contract).answer
    )

    # A question no document answers gets the contract's refusal, not a guess.
    unanswerable = answer_question(index, "What is the airspeed of an unladen swallow?", kb_contract)
    assert not unanswerable.answered and unanswerable.answer == kb_contract.answer.refusal
    assert unanswerable.citations == []

    # Going back to the earlier bytes lands nothing new, and the index is the earlier version again.
    corpus["alpha"].write_text(ALPHA)
    reverted = ingest([corpus["alpha"]], kb_contract, kb_env, root=root)
    assert not reverted.landed[0].landed and reverted.landed[0].current_changed
    assert reverted.build is not None and reverted.build.version == first.build.version


def test_the_gate_promotes_a_good_index_and_refuses_a_worse_one(kb_env, kb_contract_path, corpus, cli):
    root = str(corpus["alpha"].parent)
    files = [str(p) for p in corpus.values()]
    result = cli("kb", "ingest", *files, "--contract", str(kb_contract_path), "--json")
    assert result.returncode == 0, result.stderr
    good = json.loads(result.stdout)["index"]["version"]

    promoted = cli("kb", "promote", "--contract", str(kb_contract_path), "--json")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert json.loads(promoted.stdout)["promoted"]["version"] == good

    corpus["alpha"].write_text(ALPHA_UNRELATED)
    result = cli("kb", "ingest", str(corpus["alpha"]), "--contract", str(kb_contract_path), "--json")
    worse = json.loads(result.stdout)["index"]["version"]
    assert worse != good

    refused = cli("kb", "promote", worse, "--contract", str(kb_contract_path))
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert f"refused to promote index {worse}" in message
    assert f"worse than the promoted index {good}" in message

    status = json.loads(cli("kb", "status", "--contract", str(kb_contract_path), "--json").stdout)
    assert status["promoted"] == good and status["latest"] == worse
    assert root  # the documents are named relative to the working directory or by file name


def test_a_chunking_change_reprocesses_the_landed_documents_into_a_new_version(kb_env, kb_contract, corpus):
    files = [corpus["alpha"], corpus["beta"]]
    first = ingest(files, kb_contract, kb_env, root=corpus["alpha"].parent)
    data = kb_contract.model_dump(mode="json")
    data["documents"]["types"]["markdown"]["chunking"] = {"size": 120, "overlap": 20}
    rechunked = parse_knowledge_contract(data)
    second = ingest(files, rechunked, kb_env, root=corpus["alpha"].parent)
    # Nothing lands again; the landed documents are queued for the new pipeline and make a new version.
    assert not any(r.landed for r in second.landed)
    assert second.worker is not None and second.worker.count("processed") == 2
    assert second.build is not None and second.build.version != first.build.version
    assert second.build.manifest["chunks"] > first.build.manifest["chunks"]


def test_a_lambda_batch_reports_only_transient_failures(kb_env, kb_contract, corpus):
    from prodml.knowledge.worker import handle_sqs_batch, sqs_client

    ingest([corpus["alpha"], corpus["broken"]], kb_contract, kb_env, root=corpus["alpha"].parent, work=False)
    sqs = sqs_client(kb_env)
    url = sqs.get_queue_url(QueueName="prodml-dev-knowledge-ingest")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}
    # The corrupt PDF is dead-lettered (handled); nothing is transient, so no item is retried.
    assert handle_sqs_batch(event, {kb_contract.name: kb_contract}, kb_env) == {"batchItemFailures": []}
    [letter] = dead_letters(kb_env)
    assert letter["document"] == "broken.pdf"
    store = KnowledgeStore(kb_contract, kb_env)
    assert [d["document"] for d in store.manifest(store.latest_version())["documents"]] == ["alpha.md"]


def test_a_worker_stopped_right_after_a_batch_still_builds_the_index(kb_env, kb_contract, corpus):
    """SIGTERM (a deployment, a scale-in) lands between batches: the documents of the last one must reach an
    index before the worker returns, not wait for whatever the next worker processes."""
    landed = ingest([corpus["alpha"]], kb_contract, kb_env, root=corpus["alpha"].parent, work=False)
    assert len(landed.landed) == 1
    batches = []

    def stop_after_a_batch() -> bool:
        batches.append(None)
        return len(batches) > 1  # one receive, then stop: as if SIGTERM came during the first batch

    report = run_worker(
        {kb_contract.name: kb_contract}, kb_env, should_stop=stop_after_a_batch, wait_seconds=1
    )
    assert report.count("processed") == 1 and len(batches) == 2
    store = KnowledgeStore(kb_contract, kb_env)
    version = store.latest_version()
    assert version is not None
    assert [d["document"] for d in store.manifest(version)["documents"]] == ["alpha.md"]
