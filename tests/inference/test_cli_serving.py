"""`prodml serve` and the demo's serve step, against a real moto registry and a real gunicorn process."""

from __future__ import annotations

import pytest

from prodml.cli.demo import DemoContext
from prodml.cli.serving import step_serve
from tests.conftest import CHURN_CONTRACT, run_prodml

pytestmark = pytest.mark.integration


def test_serve_has_help():
    result = run_prodml("serve", "--help")
    assert result.returncode == 0 and "--dataset" in result.stdout


def test_demo_step_serves_the_approved_model_and_shows_a_bad_request(platform, artifacts, capsys):
    version = platform.publish(artifacts["a"]).version
    step_serve(DemoContext(contract=platform.contract, contract_path=CHURN_CONTRACT, data=CHURN_CONTRACT))
    out = capsys.readouterr().out
    assert "POST /predict (contract example) → 200" in out
    assert "cache hit) → 200" in out and '"cached": true' in out
    assert "POST /predict/batch (2 rows) → 200" in out
    assert "(bad: plan = 'no-such-value') → 422" in out and "must be one of" in out
    assert f"GET /model → v{version}" in out
    assert "prodml_requests_total" in out and "service stopped" in out
