"""``source_row`` in the quarantine is the row's 1-based data row in its object (the header and blank lines
not counted, a quoted field's newlines not starting a row), whatever rows came before it: malformed lines,
rows ETL rejected, block and batch boundaries."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from prodml.contract import Quality
from prodml.etl import read
from prodml.etl.process import EtlOptions, process
from tests.etl.helpers import GOOD, HEADER, csv_text, raw_file

INVALID = "C9,-1,basic,1,2020-01-01,na,0,true,1,false"  # tenure_months below its minimum


@pytest.fixture
def lenient(churn_contract):
    return churn_contract.model_copy(update={"quality": Quality(max_reject_fraction=1.0)})


def quarantined_rows(contract, tmp_path, source) -> dict[str, int]:
    """The quarantine as {customer_id or raw_record: source_row}."""
    result = process(contract, [source], tmp_path / "work", dataset_version="t", options=EtlOptions())
    rows = [row for path in result.quarantine_files for row in pq.read_table(path).to_pylist()]
    return {row["customer_id"] or row["raw_record"]: row["source_row"] for row in rows}


def test_a_malformed_line_does_not_shift_the_rows_after_it(lenient, tmp_path):
    body = csv_text(GOOD[0], "C8,1,basic,1,2020-01-01,na,0,true,1,false,surplus", GOOD[1], INVALID)
    assert quarantined_rows(lenient, tmp_path, raw_file(tmp_path, body)) == {
        "C8,1,basic,1,2020-01-01,na,0,true,1,false,surplus": 2,
        "C9": 4,
    }


def test_jsonl_rows_after_a_malformed_line_keep_their_row(lenient, tmp_path):
    names = HEADER.split(",")
    records = [json.dumps(dict(zip(names, row.split(","), strict=True))) for row in (*GOOD[:2], INVALID)]
    body = "\n".join([records[0], "{not json", records[1], records[2]]) + "\n"
    assert quarantined_rows(lenient, tmp_path, raw_file(tmp_path, body, "raw.jsonl")) == {
        "{not json": 2,
        "C9": 4,
    }


def test_source_rows_hold_across_blocks_blank_lines_and_quoted_newlines(lenient, tmp_path, monkeypatch):
    monkeypatch.setattr(read, "BLOCK_BYTES", 512)
    monkeypatch.setattr(read, "BATCH_ROWS", 5)
    lines = []
    for i in range(1, 120):
        if i % 7 == 0:
            lines.append(f"M{i},1,basic")  # malformed: too few fields
        elif i % 5 == 0:
            lines.append(f"Q{i},-1,basic,1,2020-01-01,na,0,true,1,false")  # invalid value
        elif i % 11 == 0:
            lines.append(f'G{i},1,"basic",1,2020-01-01,"na\nstill na",0,true,1,false')  # invalid, 2 lines
        else:
            lines.append(f"G{i},1,basic,1,2020-01-01,na,0,true,1,false")
        if i % 13 == 0:
            lines.append("")  # a blank line is no data row
    body = csv_text(*lines)
    expected = {}
    records = [r for r in csv.reader(io.StringIO(body)) if r][1:]  # the data rows, as Python reads them
    for number, record in enumerate(records, start=1):
        if len(record) != 10:
            expected[",".join(record)] = number
        elif not record[0].startswith("G") or "\n" in record[5]:
            expected[record[0]] = number
    got = quarantined_rows(lenient, tmp_path, raw_file(tmp_path, body))
    assert got == expected and len(got) > 30
