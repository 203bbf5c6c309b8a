"""Duplicate resolution, the hash split, and the spill buckets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prodml.contract import parse_contract
from prodml.etl import dedup


def test_id_hash_is_stable_and_independent_of_batching():
    ids = pa.array(["C1", "C2", "a-much-longer-id", "C1"])
    h = dedup.id_hash(ids)
    assert h[0] == h[3] and len(set(h.tolist())) == 3
    # Pinned: the split of a row must never change between releases.
    assert int(h[0]) == 0xCF933DFEA876A2E8
    assert np.array_equal(dedup.id_hash(ids.slice(2)), h[2:])
    assert np.array_equal(dedup.id_hash(pa.chunked_array([ids[:1], ids[1:]])), h)


def test_split_is_deterministic_and_close_to_the_fractions():
    ids = pa.array([f"C{i:07d}" for i in range(100_000)])
    fractions = {"train": 0.7, "validation": 0.15, "test": 0.15}
    split = dedup.assign_split(dedup.id_hash(ids), fractions)
    shares = {name: float(np.mean(split == name)) for name in fractions}
    assert abs(shares["train"] - 0.7) < 0.01 and abs(shares["test"] - 0.15) < 0.01
    # Appending rows never moves an existing row.
    more = pa.array([f"C{i:07d}" for i in range(100_000, 120_000)])
    again = dedup.assign_split(dedup.id_hash(pa.concat_arrays([ids, more])), fractions)
    assert np.array_equal(again[:100_000], split)


def _contract(policy: str):
    return parse_contract(
        {
            "name": "t",
            "version": 1,
            "id": "k",
            "target": {"name": "y", "task": "regression"},
            "features": [{"name": "x", "type": "int"}],
            "split": {"train": 0.5, "validation": 0.25, "test": 0.25},
            "quality": {"duplicate_id_policy": policy},
        }
    )


def _rows(*rows):
    k, x, y = zip(*rows, strict=True)
    return pa.table(
        {
            "k": pa.array(k),
            "x": pa.array(x, pa.int64()),
            "y": pa.array(y, pa.float64()),
            dedup.SEQ: pa.array(range(len(rows)), pa.int64()),
        }
    )


def test_keep_last_keeps_the_last_landed_row_even_when_it_repeats_an_older_one():
    table = _rows(("a", 1, 0.0), ("a", 2, 0.0), ("a", 1, 0.0), ("b", 5, 1.0), ("b", 5, 1.0))
    kept, exact, by_id = dedup.resolve_duplicates(_contract("keep_last"), table)
    assert kept.select(["k", "x", dedup.SEQ]).to_pylist() == [
        {"k": "a", "x": 1, dedup.SEQ: 2},
        {"k": "b", "x": 5, dedup.SEQ: 4},
    ]
    assert (exact, by_id) == (2, 1)


def test_keep_first():
    table = _rows(("a", 1, 0.0), ("a", 2, 0.0), ("a", 1, 0.0))
    kept, exact, by_id = dedup.resolve_duplicates(_contract("keep_first"), table)
    assert kept.column("x").to_pylist() == [1] and kept.column(dedup.SEQ).to_pylist() == [0]
    assert (exact, by_id) == (1, 1)


def test_nulls_compare_equal_for_exact_duplicates():
    table = _rows(("a", None, 0.0), ("a", None, 0.0))
    _, exact, by_id = dedup.resolve_duplicates(_contract("keep_last"), table)
    assert (exact, by_id) == (1, 0)


def test_spill_keeps_every_row_of_an_id_in_one_bucket(tmp_path):
    spill = dedup.BucketSpill(tmp_path, 7, pa.schema([("k", pa.string())]))
    for start in range(0, 3000, 1000):
        ids = pa.array([f"id{i % 1500}" for i in range(start, start + 1000)])
        spill.add(pa.table({"k": ids}), np.arange(start, start + 1000), dedup.id_hash(ids))
    spill.close()
    seen: dict[str, int] = {}
    total = 0
    for bucket in range(7):
        table = spill.read(bucket)
        if table is None:
            continue
        total += table.num_rows
        for key in set(table.column("k").to_pylist()):
            assert key not in seen
            seen[key] = bucket
    assert total == 3000 and len(seen) == 1500
