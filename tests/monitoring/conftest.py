"""Drift fixtures: one churn baseline profile a session (computed by ETL's profiler on sample rows)."""

from __future__ import annotations

from typing import Any

import pytest

from prodml.contract import Contract, load_contract
from tests.conftest import CHURN_CONTRACT
from tests.monitoring.helpers import baseline_profile, processed_rows

BASELINE_ROWS = 20_000


@pytest.fixture(scope="session")
def churn() -> Contract:
    return load_contract(CHURN_CONTRACT)


@pytest.fixture(scope="session")
def churn_profile(churn, tmp_path_factory) -> dict[str, Any]:
    return baseline_profile(
        churn, processed_rows(churn, BASELINE_ROWS, seed=1), tmp_path_factory.mktemp("baseline")
    )
