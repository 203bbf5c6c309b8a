"""An object ETL cannot read is quarantined whole and never blocks a run: the other objects are committed,
the books balance, and the quality gate judges only what could be read. A CSV header with spaces around its
names is read the way the header check reads it."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from prodml import aws
from prodml.bootstrap import bootstrap
from prodml.etl import read
from prodml.etl.process import EtlOptions, QualityGateError, process
from prodml.ingest import ingest
from tests.etl.helpers import GOOD, HEADER, csv_text, raw_file
from tests.etl.job_runs import job_argv, run_job

SPACED_HEADER = ",".join(f" {name} " if i % 2 == 0 else name for i, name in enumerate(HEADER.split(",")))


def run(contract, tmp_path, *sources):
    return process(contract, list(sources), tmp_path / "work", dataset_version="test", options=EtlOptions())


def quarantined(result) -> list[dict]:
    return [row for path in result.quarantine_files for row in pq.read_table(path).to_pylist()]


def published_ids(result) -> list[str]:
    return sorted(
        i
        for files in result.split_files.values()
        for path in files
        for i in pq.read_table(path, columns=["customer_id"]).column(0).to_pylist()
    )


def balanced(rows: dict) -> bool:
    dropped = rows["exact_duplicates_dropped"] + rows["duplicate_ids_dropped"]
    return rows["in"] == rows["out"] + rows["quarantined"] + dropped


def test_header_names_with_surrounding_spaces_are_read(churn_contract, tmp_path):
    result = run(churn_contract, tmp_path, raw_file(tmp_path, csv_text(*GOOD, header=SPACED_HEADER)))
    assert result.report["objects"][0]["outcome"] == "ok"
    assert published_ids(result) == ["C1", "C2", "C3"] and result.report["rows"]["quarantined"] == 0


def test_a_corrupt_object_is_quarantined_whole_and_the_others_are_published(churn_contract, tmp_path):
    good = raw_file(tmp_path, csv_text(*GOOD), "good.csv", order=0)
    corrupt = raw_file(tmp_path, b"PAR1 this is not a parquet file", "broken.parquet", order=1)
    result = run(churn_contract, tmp_path, good, corrupt)  # the strict gate (5 %) still passes
    outcome = result.report["objects"][1]
    assert outcome["outcome"] == "unreadable" and "parquet" in outcome["detail"].lower()
    assert published_ids(result) == ["C1", "C2", "C3"]
    (record,) = quarantined(result)
    assert record["source_object"] == corrupt.name and record["quarantine_reason"] == "unreadable_object"
    assert record["source_row"] is None and outcome["detail"] in record["quarantine_reasons"]
    rows = result.report["rows"]
    assert (rows["in"], rows["out"], rows["quarantined"]) == (4, 3, 1) and balanced(rows)
    assert result.report["quarantined_by_reason"] == {"unreadable_object": 1}
    assert result.report["reject_fraction"] == 0 and result.report["gate"]["passed"]


def test_an_object_that_fails_part_way_leaves_none_of_its_rows_behind(churn_contract, tmp_path, monkeypatch):
    # A field larger than a read block cannot be parsed: the failure comes after earlier batches of the
    # same object were already validated, spilled and quarantined.
    monkeypatch.setattr(read, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(read, "BATCH_ROWS", 8)
    good = raw_file(tmp_path, csv_text(*GOOD), "good.csv", order=0)
    rows = [f"P{i},1,basic,1,2020-01-01,na,0,true,1,false" for i in range(40)]
    rows[3] = "P3,-1,basic,1,2020-01-01,na,0,true,1,false"  # invalid: quarantined before the failure
    rows[5] = "P5,1,basic"  # malformed: quarantined before the failure
    rows[30] = 'P30,1,basic,1,2020-01-01,na,0,true,1,"' + "x" * 5000 + '"'
    failing = raw_file(tmp_path, csv_text(*rows), "failing.csv", order=1)
    result = run(churn_contract, tmp_path, good, failing)
    outcome = result.report["objects"][1]
    assert outcome["outcome"] == "unreadable" and "row" in outcome["detail"]
    assert published_ids(result) == ["C1", "C2", "C3"]
    assert [(r["source_object"], r["quarantine_reason"]) for r in quarantined(result)] == [
        (failing.name, "unreadable_object")
    ]
    assert result.report["quarantined_by_reason"] == {"unreadable_object": 1}
    assert result.report["rows"]["in"] == 4 and balanced(result.report["rows"])


def test_only_unreadable_objects_fail_with_a_clear_message(churn_contract, tmp_path):
    corrupt = raw_file(tmp_path, b"not parquet", "broken.parquet")
    with pytest.raises(QualityGateError, match=r"no rows to process.*broken\.parquet: unreadable") as caught:
        run(churn_contract, tmp_path, corrupt)
    assert balanced(caught.value.report["rows"])


@pytest.mark.integration
def test_a_spaced_header_and_an_unreadable_object_do_not_block_the_dataset(aws_env, churn_contract, tmp_path):
    bootstrap(aws_env, [churn_contract.name])
    spaced = tmp_path / "spaced.csv"
    spaced.write_text(csv_text(*GOOD, header=SPACED_HEADER))
    ingest(spaced, churn_contract, aws_env)  # ingest accepts it: the job must read it
    s3 = aws.client("s3", aws_env)
    broken_key = f"{churn_contract.name}/manual/broken.parquet"
    s3.put_object(Bucket=aws_env.bucket("raw"), Key=broken_key, Body=b"PAR1 truncated upload")

    argv = job_argv(aws_env, churn_contract)
    first = run_job(argv)
    assert first["status"] == "committed", first
    report = first["report"]
    outcomes = {o["name"].rsplit("/", 1)[-1]: o for o in report["objects"]}
    assert outcomes["broken.parquet"]["outcome"] == "unreadable" and outcomes["broken.parquet"]["detail"]
    assert [o["outcome"] for name, o in outcomes.items() if name != "broken.parquet"] == ["ok"]
    assert report["rows"]["out"] == 3 and report["quarantined_by_reason"] == {"unreadable_object": 1}
    assert run_job(argv)["status"] == "noop"
