"""What drift reads: a window of captured requests (by partition hour and captured_at, served by one model
version) and any dataset (parquet or CSV), in the layout and shapes their writers use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prodml.monitoring.sources import CaptureStats, SourceError, capture_chunks, dataset_chunks
from prodml.sample_data import write_sample
from tests.inference.conftest import SERVICE_DIR  # noqa: F401 - puts the service's `app` on sys.path
from tests.monitoring.helpers import capture_entries, jsonl, processed_rows

from app.serving.capture import capture_key  # isort: skip  # the service's own layout

SINCE = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=2)


def write(root, contract, at, written, entries) -> None:
    path = root / capture_key(contract.name, written, f"b{written:%H%M%S}-{len(list(root.rglob('*')))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jsonl(entries))


def test_a_capture_window_keeps_rows_captured_inside_it_served_by_the_model(churn, tmp_path):
    table = processed_rows(churn, 100, seed=9)
    inside = SINCE + timedelta(minutes=59, seconds=55)
    # Written after the next hour began: in the hour=11 partition, captured in hour 10.
    write(
        tmp_path,
        churn,
        inside,
        inside + timedelta(seconds=30),
        capture_entries(churn, table, at=inside, model_version=3),
    )
    write(
        tmp_path,
        churn,
        inside,
        inside,
        capture_entries(churn, table.slice(0, 10), at=inside, model_version=2),
    )
    before = SINCE - timedelta(seconds=1)
    write(
        tmp_path, churn, before, SINCE, capture_entries(churn, table.slice(0, 7), at=before, model_version=3)
    )
    late = UNTIL - timedelta(minutes=1)  # in the window, its batch written in the hour after it
    write(
        tmp_path,
        churn,
        late,
        UNTIL + timedelta(minutes=5),
        capture_entries(
            churn, table.slice(0, 5), at=late, model_version=3, variant="challenger", cache_hit=True
        ),
    )
    after = UNTIL
    write(tmp_path, churn, after, after, capture_entries(churn, table.slice(0, 4), at=after, model_version=3))
    (tmp_path / capture_key(churn.name, SINCE, "broken")).write_bytes(
        jsonl(capture_entries(churn, table.slice(0, 2), at=inside, model_version=3))
        + b'{"captured_at": "nope"\n'
    )
    stats = CaptureStats()
    chunks = list(capture_chunks(churn, str(tmp_path), SINCE, UNTIL, model_version=3, stats=stats))
    assert sum(c.rows for c in chunks) == 100 + 5 + 2
    assert stats.rows_other_model_versions == {"2": 10}
    assert stats.rows_outside_window == 7 + 4
    assert stats.unreadable_lines == 1
    assert stats.variants == {"champion": 102, "challenger": 5} and stats.cache_hits == 5
    # The values read are the rows written (JSON and back, through the capture's shape).
    spend = np.sort(np.concatenate([c.columns["monthly_spend"] for c in chunks]))
    written = table.column("monthly_spend").to_numpy(zero_copy_only=False)
    assert np.array_equal(spend, np.sort(np.concatenate([written, written[:5], written[:2]])), equal_nan=True)


def test_a_dataset_is_read_from_parquet_and_csv(churn, tmp_path):
    table = processed_rows(churn, 500, seed=11)
    pq.write_table(table, tmp_path / "part-0.parquet")
    (tmp_path / "_MANIFEST.json").write_text("{}")
    raw = tmp_path / "raw" / "landed.csv"
    raw.parent.mkdir()
    write_sample(churn, raw, 300, dirty_fraction=0.0)
    parquet_rows = sum(c.rows for c in dataset_chunks(churn, str(tmp_path / "part-0.parquet")))
    assert parquet_rows == 500
    assert sum(c.rows for c in dataset_chunks(churn, str(tmp_path))) == 800  # the folder: both, not _MANIFEST
    (chunk,) = dataset_chunks(churn, str(raw))
    assert chunk.rows == 300 and chunk.columns["signup_date"].dtype.kind == "M"
    raw_plans = pacsv.read_csv(raw).column("plan").to_pylist()
    assert list(chunk.columns["plan"]) == [p.strip().casefold() for p in raw_plans]
    with pytest.raises(SourceError, match="no parquet or CSV"):
        list(dataset_chunks(churn, str(tmp_path / "nothing")))
    pq.write_table(table.drop_columns(["plan"]), tmp_path / "bad.parquet")
    with pytest.raises(SourceError, match="lacks the contract's columns"):
        list(dataset_chunks(churn, str(tmp_path / "bad.parquet")))
