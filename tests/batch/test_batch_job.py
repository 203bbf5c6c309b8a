"""`prodml batch-score` end to end on the emulator: a SageMaker Processing job running the platform image
(recorded in ECR, named by its SSM parameter) scores a dirty CSV + parquet input from S3 into S3, and the
output reconciles with the input: scored + quarantined = in, file by file and in total."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from prodml import aws
from prodml.release import record_image
from tests.conftest import run_prodml

from .conftest import write_dirty_input

pytestmark = pytest.mark.integration


def _upload(s3, directory, bucket: str, prefix: str) -> None:
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, prefix + path.relative_to(directory).as_posix())


def _rows(s3, bucket: str, prefix: str) -> int:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return sum(
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())).num_rows for k in keys
    )


def test_batch_score_runs_as_a_processing_job_and_reconciles(platform, artifacts, tmp_path):
    settings = platform.settings
    record_image(settings)  # the platform image in ECR and its SSM parameter, as `prodml ship` flows do
    version = platform.publish(artifacts["a"]).version
    rows_written = write_dirty_input(platform.contract, tmp_path / "input", 300, seed=5)
    s3, bucket = aws.client("s3", settings), settings.bucket("artifacts")
    _upload(s3, tmp_path / "input", bucket, "batch/in/")

    result = run_prodml(
        "batch-score",
        "--input",
        f"s3://{bucket}/batch/in",
        "--output",
        f"s3://{bucket}/batch/out/",
        "--chunk-rows",
        "100",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    summary = json.loads(s3.get_object(Bucket=bucket, Key="batch/out/summary.json")["Body"].read())
    assert summary["model_version"] == version and summary["model_backend"] == "onnx"
    assert summary["rows_in"] == rows_written
    assert summary["rows_scored"] + summary["rows_quarantined"] == summary["rows_in"]
    assert summary["rows_quarantined"] > 1 and summary["quarantined_by_reason"]["malformed_row"] == 1
    assert _rows(s3, bucket, "batch/out/predictions/") == summary["rows_scored"]
    assert _rows(s3, bucket, "batch/out/quarantine/") == summary["rows_quarantined"]
    # Read by a person: the counts and rows/s at the end.
    assert (
        f"scored {summary['rows_scored']:,} and quarantined {summary['rows_quarantined']:,} of "
        f"{summary['rows_in']:,} rows" in result.stdout
    )
    assert "rows/s" in result.stdout

    (job,) = aws.client("sagemaker", settings).list_processing_jobs()["ProcessingJobSummaries"]
    assert job["ProcessingJobName"].startswith("prodml-dev-customer-churn-batch-")
    described = aws.client("sagemaker", settings).describe_processing_job(
        ProcessingJobName=job["ProcessingJobName"]
    )
    assert described["ProcessingJobStatus"] == "Completed"
    assert described["AppSpecification"]["ContainerEntrypoint"][:3] == ["python", "-m", "app.batch"]
    assert described["Environment"] == {
        "PRODML_PROJECT": "prodml",
        "PRODML_ENV": "dev",
        "PRODML_REGION": "us-east-1",
    }


@pytest.mark.slow
def test_json_output_for_scripts(platform, artifacts, tmp_path):
    record_image(platform.settings)
    platform.publish(artifacts["a"])
    rows = write_dirty_input(platform.contract, tmp_path / "input", 50, seed=6)
    s3, bucket = aws.client("s3", platform.settings), platform.settings.bucket("artifacts")
    _upload(s3, tmp_path / "input", bucket, "in/")
    result = run_prodml(
        "batch-score",
        "--input",
        f"s3://{bucket}/in/",
        "--output",
        f"s3://{bucket}/out/",
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "Completed" and answer["summary"]["rows_in"] == rows


@pytest.mark.slow
def test_a_failing_job_says_why(platform, tmp_path):
    record_image(platform.settings)
    bucket = platform.settings.bucket("artifacts")
    aws.client("s3", platform.settings).put_object(
        Bucket=bucket, Key="empty/x.csv", Body=b"customer_id\nC1\n"
    )
    result = run_prodml(
        "batch-score", "--input", f"s3://{bucket}/empty/", "--output", f"s3://{bucket}/o/", timeout=300
    )
    assert result.returncode == 1
    assert "no approved model" in result.stderr and "Traceback" not in result.stderr
