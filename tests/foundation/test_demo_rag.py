"""`prodml demo-rag` end to end, as `make demo-rag` runs it: prodml's own docs ingested through the queue path,
the index evaluated and promoted, the service started with it and asked questions over HTTP."""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_prodml

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~9 s: it embeds every document of the repository


def test_demo_rag_answers_questions_with_citations_from_the_promoted_index(aws_env):
    result = run_prodml("demo-rag", timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    out = result.stdout
    for step in ("emulator", "bootstrap", "ingest prodml's docs", "evaluate", "promote", "serve and ask"):
        assert step in out, f"no {step} step"
    version = re.search(r"CURRENT → ([0-9a-f]{20})", out)
    assert version, out[-3000:]
    assert f"service up with index {version.group(1)}" in out
    assert out.count("extractive-offline (quoted, not generated)") == 3
    assert "refused by the answer policy" in out  # the off-topic question
    assert re.search(r"\[1\] services/inference/README\.md@[0-9a-f]{12} chars \d+-\d+", out)
    assert "service stopped" in out and "demo-rag complete" in out
