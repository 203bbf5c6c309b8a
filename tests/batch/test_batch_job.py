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
        "--json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    answer = json.loads(result.stdout)
    summary = answer["summary"]
    assert answer["status"] == "Completed" and answer["job"].startswith("prodml-dev-customer-churn-batch-")
    assert summary["model_version"] == version and summary["model_backend"] == "onnx"
    assert summary["rows_in"] == rows_written
    assert summary["rows_scored"] + summary["rows_quarantined"] == summary["rows_in"]
    assert summary["rows_quarantined"] > 1 and summary["quarantined_by_reason"]["malformed_row"] == 1
    assert _rows(s3, bucket, "batch/out/predictions/") == summary["rows_scored"]
    assert _rows(s3, bucket, "batch/out/quarantine/") == summary["rows_quarantined"]

    described = aws.client("sagemaker", settings).describe_processing_job(ProcessingJobName=answer["job"])
    assert described["AppSpecification"]["ContainerEntrypoint"][:3] == ["python", "-m", "app.batch"]
    assert described["Environment"] == {
        "PRODML_PROJECT": "prodml",
        "PRODML_ENV": "dev",
        "PRODML_REGION": "us-east-1",
    }

    # Read by a person: progress, then the counts and rows/s.
    shown = run_prodml(
        "batch-score",
        "--input",
        f"s3://{bucket}/batch/in/",
        "--output",
        f"s3://{bucket}/batch/out2/",
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert (
        f"scored {summary['rows_scored']:,} and quarantined {summary['rows_quarantined']:,}" in shown.stdout
    )
    assert "rows/s" in shown.stdout


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
