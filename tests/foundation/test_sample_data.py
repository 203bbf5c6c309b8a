"""The sample-data generator: deterministic, realistic, and ~2 % dirty in every advertised way."""

from __future__ import annotations

import pyarrow.csv as pacsv

from prodml.sample_data import DIRTY_KINDS, write_sample


def test_same_seed_same_bytes_and_about_two_percent_dirty(tmp_path, churn_contract):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    summary = write_sample(churn_contract, a, 20_000, seed=11)
    write_sample(churn_contract, b, 20_000, seed=11)
    write_sample(churn_contract, c, 20_000, seed=12)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert set(summary.dirty) == set(DIRTY_KINDS)  # every kind of dirt is there
    assert 0.015 <= summary.dirty_rows / summary.rows <= 0.03

    table = pacsv.read_csv(a, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert table.column_names == churn_contract.raw_columns
    assert table.num_rows == summary.rows
    ids = table.column("customer_id").to_pylist()
    assert len(ids) - len(set(ids)) >= summary.dirty["duplicate_id"]
    churned = table.column("churned").to_pylist()
    rate = sum(1 for v in churned if str(v).lower() in ("1", "true")) / len(churned)
    assert 0.1 < rate < 0.5  # a realistic minority class, not noise


def test_a_shifted_batch_moves_every_feature_and_keeps_its_own_ids(tmp_path, churn_contract):
    base, moved = tmp_path / "base.csv", tmp_path / "moved.csv"
    write_sample(churn_contract, base, 5_000, seed=3, dirty_fraction=0)
    write_sample(churn_contract, moved, 5_000, seed=3, dirty_fraction=0, shift=1.0, id_offset=5_000)
    read = pacsv.ConvertOptions(strings_can_be_null=True)
    a, b = pacsv.read_csv(base, convert_options=read), pacsv.read_csv(moved, convert_options=read)
    assert not set(a.column("customer_id").to_pylist()) & set(b.column("customer_id").to_pylist())
    for feature in churn_contract.features:
        if feature.synthetic is None:
            continue
        x, y = a.column(feature.name).to_pylist(), b.column(feature.name).to_pylist()
        if feature.is_numeric:
            mean = lambda values: sum(float(v) for v in values if v not in (None, "")) / len(values)  # noqa: E731
            assert mean(y) > mean(x) * 1.2, feature.name
        else:  # the most frequent value changes when weights move towards their reverse
            top = lambda values: max(set(values), key=values.count)  # noqa: E731
            assert top(x) != top(y), feature.name
