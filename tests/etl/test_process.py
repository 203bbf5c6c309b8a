"""The ETL core end to end on a local file: bucket count does not change the result, and the baseline
profile has the documented shape."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from prodml import sample_data
from prodml.etl import dedup
from prodml.etl.process import EtlOptions, process
from tests.etl.helpers import raw_file


def _ids_by_split(result) -> dict[str, set]:
    return {
        split: {i for p in files for i in pq.read_table(p, columns=["customer_id"]).column(0).to_pylist()}
        for split, files in result.split_files.items()
    }


def test_many_small_buckets_give_the_same_dataset_as_one(churn_contract, tmp_path):
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 4000)
    source = raw_file(tmp_path, data.read_bytes(), "churn.csv")
    one = process(churn_contract, [source], tmp_path / "one", dataset_version="v", options=EtlOptions())
    many = process(
        churn_contract,
        [source],
        tmp_path / "many",
        dataset_version="v",
        options=EtlOptions(bucket_bytes=20_000),
    )
    assert dedup.bucket_count(source.size, 20_000) > 10
    assert one.report["rows"] == many.report["rows"]
    assert _ids_by_split(one) == _ids_by_split(many)
    assert (
        one.report["rows"]["exact_duplicates_dropped"] > 0 and one.report["rows"]["duplicate_ids_dropped"] > 0
    )


def test_baseline_profile_shape(churn_contract, tmp_path):
    data = tmp_path / "churn.csv"
    sample_data.write_sample(churn_contract, data, 2000)
    result = process(
        churn_contract, [raw_file(tmp_path, data.read_bytes())], tmp_path / "w", dataset_version="v"
    )
    profile = result.profile
    assert profile["schema_version"] == 1 and profile["split"] == "train"
    assert profile["rows"] == result.rows_out["train"]
    for name, entry in profile["numeric"].items():
        assert sum(entry["histogram"]["counts"]) == entry["count"] - entry["null_count"], name
        edges = entry["histogram"]["bin_edges"]
        assert edges == sorted(edges) and edges[0] == entry["min"] and edges[-1] == entry["max"]
        assert list(entry["quantiles"]) == [
            "0.01",
            "0.05",
            "0.1",
            "0.25",
            "0.5",
            "0.75",
            "0.9",
            "0.95",
            "0.99",
        ]
    plan = profile["categorical"]["plan"]
    assert set(plan["frequencies"]) == {"basic", "pro", "enterprise"}
    assert abs(sum(plan["frequencies"].values()) - 1) < 1e-9
    assert profile["target"]["name"] == "churned" and set(profile["target"]["counts"]) == {"true", "false"}


def test_row_hash_tells_null_from_empty_and_equal_rows_match():
    table = pa.table({"a": ["x", "x", "", None], "b": [1, 1, 1, 1]})
    h = dedup.row_hash(table)
    assert h[0] == h[1] and len({int(h[1]), int(h[2]), int(h[3])}) == 3
