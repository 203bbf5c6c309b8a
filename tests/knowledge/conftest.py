from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prodml.bootstrap import _ensure_bucket
from prodml.knowledge.contract import KnowledgeContract, load_knowledge_contract
from tests.conftest import REPO
from tests.knowledge.documents import GOLDEN, write_corpus


@pytest.fixture
def kb_contract_path(tmp_path) -> Path:
    """A knowledge contract like the shipped one, over the test corpus and its golden questions."""
    data = yaml.safe_load((REPO / "contracts" / "knowledge" / "prodml_docs.yaml").read_text())
    data.update(name="test_kb", sources=[])
    data["evaluation"].update(golden_questions="golden.yaml", min_recall_at_k=0.75, min_mrr=0.5)
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "golden.yaml").write_text(GOLDEN)
    path = folder / "test_kb.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def kb_contract(kb_contract_path) -> KnowledgeContract:
    return load_knowledge_contract(kb_contract_path)


@pytest.fixture
def corpus(tmp_path) -> dict[str, Path]:
    return write_corpus(tmp_path / "docs")


@pytest.fixture
def kb_env(aws_env):
    """A clean emulator with the two buckets the knowledge layer uses (what Terraform creates)."""
    from prodml import aws

    s3 = aws.client("s3", aws_env)
    for zone in ("raw", "artifacts"):
        _ensure_bucket(s3, aws_env.bucket(zone), aws_env.region)
    return aws_env
