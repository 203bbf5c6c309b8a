"""Batch scoring's fixtures: the inference tests' real artifacts and moto registry (a batch job scores with
the service's own model loading), and a dirty input as a user would land it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prodml.contract import Contract
from prodml.sample_data import generate_table
from tests.inference.conftest import artifacts, platform  # fixtures, shared (listed in __all__)

MALFORMED_LINE = "only,three,fields"


def write_dirty_input(contract: Contract, directory: Path, rows: int, seed: int) -> int:
    """``rows`` sample rows plus their dirty share (every kind of bad value the sample generator makes), as
    one CSV file without the target, one with a malformed line, and one parquet file; the rows written."""
    table = generate_table(contract, rows, seed=seed, dirty_fraction=0.1)
    table = table.drop_columns([contract.target.name])
    half = table.num_rows // 2
    directory.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table.slice(0, half), directory / "part-a.csv")
    with open(directory / "part-a.csv", "a") as handle:
        handle.write(MALFORMED_LINE + "\n")
    nested = directory / "more"
    nested.mkdir()
    pq.write_table(table.slice(half), nested / "part-b.parquet")
    (directory / "notes.txt").write_text("not an input file\n")
    return table.num_rows + 1


@pytest.fixture
def dirty_input(tmp_path, churn_contract) -> tuple[Path, int]:
    directory = tmp_path / "input"
    return directory, write_dirty_input(churn_contract, directory, 400, seed=11)


__all__ = ["artifacts", "dirty_input", "platform"]
