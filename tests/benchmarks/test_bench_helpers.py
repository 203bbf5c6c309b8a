"""The benchmarks' own helpers: the None holes mypy found in them, each pinned by a test."""

from __future__ import annotations

import pytest

from benchmarks import bench_etl, bench_serving


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("1.20ms", 1.2), ("2.01s", 2010.0), ("1.02m", 61_200.0), ("1.00h", 3_600_000.0)],
)
def test_parse_duration_ms_reads_every_unit_wrk_prints(text, ms):
    assert bench_serving.parse_duration_ms(text) == pytest.approx(ms)


def test_parse_duration_ms_names_what_is_not_a_duration():
    with pytest.raises(ValueError, match="not a wrk duration"):
        bench_serving.parse_duration_ms("n/a")


def test_generate_big_of_zero_gigabytes_writes_an_empty_file(tmp_path):
    path = bench_etl.generate_big(tmp_path / "big.csv", 0, chunk_rows=10)
    assert path.exists()
    assert path.stat().st_size == 0
