"""Bad input through the ETL core: every case has a clear outcome, and every row is accounted for."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml.contract import Quality
from prodml.etl.process import EtlOptions, QualityGateError, process
from tests.etl.helpers import GOOD, HEADER, csv_text, raw_file


@pytest.fixture
def lenient(churn_contract):
    """The churn contract with the quality gate open, to look at rejected rows one by one."""
    return churn_contract.model_copy(update={"quality": Quality(max_reject_fraction=1.0)})


def run(contract, tmp_path, *sources, **options):
    return process(
        contract, list(sources), tmp_path / "work", dataset_version="test", options=EtlOptions(**options)
    )


def quarantined(result) -> list[dict]:
    return [row for path in result.quarantine_files for row in pq.read_table(path).to_pylist()]


def test_clean_file_passes_with_normalised_values(churn_contract, tmp_path):
    result = run(churn_contract, tmp_path, raw_file(tmp_path, csv_text(*GOOD)))
    rows = [r for s in result.split_files.values() for p in s for r in pq.read_table(p).to_pylist()]
    assert sorted(r["customer_id"] for r in rows) == ["C1", "C2", "C3"]
    by_id = {r["customer_id"]: r for r in rows}
    assert (
        by_id["C2"]["plan"] == "pro"
        and by_id["C2"]["region"] == "emea"
        and by_id["C2"]["monthly_spend"] is None
    )
    assert by_id["C3"]["autopay"] is True and by_id["C3"]["churned"] is False
    assert by_id["C1"]["signup_year"] == 2020 and by_id["C1"]["signup_month"] == 1
    assert result.report["rows"] | {"by_split": None} == {
        "in": 3,
        "out": 3,
        "quarantined": 0,
        "exact_duplicates_dropped": 0,
        "duplicate_ids_dropped": 0,
        "duplicate_id_policy": "keep_last",
        "by_split": None,
    }


def test_bom_is_skipped(churn_contract, tmp_path):
    result = run(churn_contract, tmp_path, raw_file(tmp_path, b"\xef\xbb\xbf" + csv_text(*GOOD).encode()))
    assert result.report["rows"]["out"] == 3 and result.report["objects"][0]["outcome"] == "ok"


def test_quoted_fields_with_delimiters_and_newlines(lenient, tmp_path):
    body = csv_text(
        *GOOD,
        'C4,5,"basic",7,2020-01-01,"na",0,true,1,"false"',
        'C5,5,"pro,\nplus",7,2020-01-01,na,0,true,1,false',
    )
    result = run(
        lenient,
        tmp_path,
        raw_file(tmp_path, body),
    )
    assert result.report["rows"]["in"] == 5 and result.report["rows"]["out"] == 4
    (bad,) = quarantined(result)
    assert (
        bad["plan"] == "pro,\nplus"
        and bad["quarantine_reason"] == "plan:unknown_category"
        and bad["source_row"] == 5
    )


def test_truncated_last_line_is_quarantined_as_malformed(lenient, tmp_path):
    body = csv_text(*GOOD).rstrip("\n") + "\nC9,4,basic"
    result = run(lenient, tmp_path, raw_file(tmp_path, body))
    assert result.report["rows"]["in"] == 4 and result.report["quarantined_by_reason"] == {"malformed_row": 1}
    (bad,) = quarantined(result)
    assert bad["raw_record"] == "C9,4,basic" and bad["source_object"].endswith("raw.csv")


def test_non_utf8_bytes_quarantine_the_row_and_keep_the_bytes(lenient, tmp_path):
    body = csv_text(*GOOD).encode() + b"C7,1,basic,1,2020-01-01,na,0,true,1,fa\xfflse\n"
    result = run(lenient, tmp_path, raw_file(tmp_path, body))
    (bad,) = quarantined(result)
    assert bad["quarantine_reason"] == "churned:invalid_utf8" and bad["churned"] == "fa\\xfflse"


def test_wrong_types_in_every_column_type(lenient, tmp_path):
    rows = [
        "C10,twelve,basic,1,2020-01-01,na,0,true,1,false",  # int
        "C11,1,basic,cheap,2020-01-01,na,0,true,1,false",  # float
        "C12,1,basic,1,last tuesday,na,0,true,1,false",  # timestamp
        "C13,1,gold,1,2020-01-01,na,0,true,1,false",  # category
        "C14,1,basic,1,2020-01-01,na,0,sometimes,1,false",  # bool
        "C15,1,basic,1,2020-01-01,na,0,true,1,2",  # target (bool)
        ",1,basic,1,2020-01-01,na,0,true,1,false",  # id (string, required)
    ]
    result = run(lenient, tmp_path, raw_file(tmp_path, csv_text(*GOOD, *rows)))
    assert result.report["rows"]["out"] == 3
    assert sorted(r["quarantine_reason"] for r in quarantined(result)) == sorted(
        [
            "tenure_months:invalid_int",
            "monthly_spend:invalid_float",
            "signup_date:invalid_timestamp",
            "plan:unknown_category",
            "autopay:invalid_bool",
            "churned:invalid_bool",
            "customer_id:null_not_allowed",
        ]
    )


def test_wrong_header_rejects_the_object_but_keeps_and_counts_its_rows(lenient, tmp_path):
    good = raw_file(tmp_path, csv_text(*GOOD), "good.csv", order=0)
    wrong = raw_file(tmp_path, csv_text("1,2,3", "4,5,6", header="a,b,c"), "wrong.csv", order=1)
    result = run(lenient, tmp_path, good, wrong)
    outcome = result.report["objects"][1]
    assert outcome["outcome"] == "header_mismatch" and "missing column(s) customer_id" in outcome["detail"]
    assert result.report["rows"]["in"] == 5 and result.report["quarantined_by_reason"] == {
        "header_mismatch": 2
    }
    assert [json.loads(r["raw_record"]) for r in quarantined(result)] == [
        {"a": "1", "b": "2", "c": "3"},
        {"a": "4", "b": "5", "c": "6"},
    ]


def test_missing_column_is_a_header_mismatch(lenient, tmp_path):
    header = HEADER.replace(",region", "")
    rows = [",".join(p for i, p in enumerate(r.split(",")) if i != 5) for r in GOOD]
    result = run(
        lenient,
        tmp_path,
        raw_file(tmp_path, csv_text(*GOOD), "a.csv"),
        raw_file(tmp_path, csv_text(*rows, header=header), "b.csv", 1),
    )
    assert result.report["objects"][1]["outcome"] == "header_mismatch"
    assert "missing column(s) region" in result.report["objects"][1]["detail"]
    assert result.report["rows"]["quarantined"] == 3 and result.report["rows"]["out"] == 3


def test_extra_columns_are_ignored_and_reported(churn_contract, tmp_path):
    body = csv_text(*[r + ",x" for r in GOOD], header=HEADER + ",notes")
    result = run(churn_contract, tmp_path, raw_file(tmp_path, body))
    assert result.report["rows"]["out"] == 3 and result.report["objects"][0]["extra_columns"] == ["notes"]


def test_empty_and_header_only_objects_are_reported_empty(churn_contract, tmp_path):
    good = raw_file(tmp_path, csv_text(*GOOD), "good.csv", 0)
    empty = raw_file(tmp_path, b"", "empty.csv", 1)
    header_only = raw_file(tmp_path, HEADER + "\n", "header.csv", 2)
    result = run(churn_contract, tmp_path, good, empty, header_only)
    assert [(o["outcome"], o["rows_in"]) for o in result.report["objects"]] == [
        ("ok", 3),
        ("empty", 0),
        ("empty", 0),
    ]


def test_only_empty_objects_fail_with_a_clear_message(churn_contract, tmp_path):
    with pytest.raises(QualityGateError, match=r"no rows to process.*empty"):
        run(churn_contract, tmp_path, raw_file(tmp_path, b"", "empty.csv"))


def test_a_file_of_only_bad_rows_fails_the_gate_and_says_why(churn_contract, tmp_path):
    rows = [f"C{i},-1,basic,1,2020-01-01,na,0,true,1,false" for i in range(5)]
    with pytest.raises(QualityGateError, match=r"5 of 5 rows rejected.*tenure_months:below_min 5") as caught:
        run(churn_contract, tmp_path, raw_file(tmp_path, csv_text(*rows)))
    assert caught.value.report["gate"]["passed"] is False


def test_jsonl_and_parquet_follow_the_same_rules(churn_contract, tmp_path):
    names = HEADER.split(",")
    records = [dict(zip(names, r.split(","), strict=True)) for r in GOOD]
    records[0]["tenure_months"] = 12  # a JSON number, not text
    jsonl = raw_file(tmp_path, "\n".join(json.dumps(r) for r in records) + "\n", "a.jsonl", 0)
    table = pa.Table.from_pylist([{**r, "customer_id": "P" + r["customer_id"][1:]} for r in records[1:]])
    pq.write_table(table, tmp_path / "b.parquet")
    parquet = raw_file(tmp_path, (tmp_path / "b.parquet").read_bytes(), "b.parquet", 1)
    result = run(churn_contract, tmp_path, jsonl, parquet)
    assert result.report["rows"] | {"by_split": None} == result.report["rows"] | {
        "in": 5,
        "out": 5,
        "quarantined": 0,
        "by_split": None,
    }


def test_duplicates_are_counted_and_the_books_balance(churn_contract, tmp_path):
    first = raw_file(tmp_path, csv_text(*GOOD, GOOD[0]), "first.csv", 0)  # one exact duplicate
    changed = GOOD[1].replace(",0, PRO ,", ",7,pro,")  # same id, other values, landed later
    second = raw_file(tmp_path, csv_text(changed), "second.csv", 1)
    result = run(churn_contract, tmp_path, first, second)
    rows = result.report["rows"]
    assert (rows["in"], rows["out"], rows["exact_duplicates_dropped"], rows["duplicate_ids_dropped"]) == (
        5,
        3,
        1,
        1,
    )
    kept = {
        r["customer_id"]: r
        for s in result.split_files.values()
        for p in s
        for r in pq.read_table(p).to_pylist()
    }
    assert kept["C2"]["tenure_months"] == 7  # keep_last: the later landing wins
