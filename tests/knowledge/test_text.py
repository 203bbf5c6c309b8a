"""Normalisation, chunking and the contract: pure steps, no AWS."""

from __future__ import annotations

import itertools

import pytest
import yaml

from prodml.knowledge.chunking import chunk_spans
from prodml.knowledge.contract import (
    KnowledgeContractError,
    load_knowledge_contract,
    parse_knowledge_contract,
)
from prodml.knowledge.normalise import NormalisationError, normalise
from tests.conftest import REPO
from tests.knowledge.documents import ALPHA, BETA, CORRUPT_PDF, GAMMA_PDF_TEXT, pdf_with_text

CONTRACT = REPO / "contracts" / "knowledge" / "prodml_docs.yaml"


def test_markdown_html_and_pdf_become_text_without_markup():
    markdown = normalise(ALPHA.encode(), "markdown")
    assert "#" not in markdown and "Quarantine\n\nRows that fail validation" in markdown
    # A soft line break inside a paragraph is a space, not a sentence boundary.
    assert "together with its reason code" in markdown
    html = normalise(BETA.encode(), "html")
    assert "small fraction of live requests" in html
    assert "never indexed" not in html and "color" not in html
    assert normalise(pdf_with_text(GAMMA_PDF_TEXT), "pdf").strip() == GAMMA_PDF_TEXT


@pytest.mark.parametrize(
    ("data", "document_type", "reason"),
    [
        (CORRUPT_PDF, "pdf", "not a readable PDF"),
        (b"\xff\xfe\xfa not utf-8", "markdown", "not UTF-8"),
        (b"<html><script>x</script></html>", "html", "no text"),
        (b"", "text", "empty"),
    ],
)
def test_unreadable_documents_say_why(data, document_type, reason):
    with pytest.raises(NormalisationError, match=reason):
        normalise(data, document_type, "doc")


def test_chunks_are_offsets_that_cover_the_text_with_overlap():
    text = normalise((REPO / "README.md").read_bytes(), "markdown")
    spans = chunk_spans(text, 800, 120)
    assert all(0 < s.end - s.start <= 800 for s in spans)
    assert all(not text[s.start].isspace() and not text[s.end - 1].isspace() for s in spans)
    # Consecutive chunks overlap or touch, so no text is lost between them.
    assert all(b.start <= a.end + 2 for a, b in itertools.pairwise(spans))
    covered = "".join(text[s.start : s.end] for s in spans)
    assert set(text.split()) <= set(covered.split())


def test_the_shipped_contract_loads_and_a_bad_one_says_which_field():
    contract = load_knowledge_contract(CONTRACT)
    assert contract.golden_questions_path().is_file()
    data = yaml.safe_load(CONTRACT.read_text())
    data["documents"]["types"]["pdf"]["chunking"]["overlap"] = 900
    with pytest.raises(KnowledgeContractError, match=r"documents.types.pdf.chunking.*overlap"):
        parse_knowledge_contract(data, "bad.yaml")
    data = yaml.safe_load(CONTRACT.read_text())
    del data["pricing"]["models"]["amazon.nova-micro-v1:0"]
    with pytest.raises(KnowledgeContractError, match=r"no price for amazon\.nova-micro-v1:0"):
        parse_knowledge_contract(data, "bad.yaml")
