"""The drift job against the emulator: the champion's baseline from the registry, a window of requests the
service's own CaptureWriter wrote to the capture bucket, the entrypoint run as the Processing job runs it
(``python -m prodml.monitoring``), its outputs, and the DriftScore metric in CloudWatch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from prodml import aws
from prodml.bootstrap import bootstrap
from prodml.jobs import EVENT_PREFIX, monitoring_spec
from prodml.monitoring import __main__ as entrypoint
from prodml.monitoring.job import DriftRequest, run_drift
from prodml.settings import Settings
from tests.conftest import REPO
from tests.inference.conftest import SERVICE_DIR
from tests.monitoring.helpers import capture_entries, processed_rows, register_model

from app.serving.capture import CaptureWriter  # isort: skip  # the service's own writer

CAPTURED_ROWS = 1500


def capture(settings: Settings, contract, table, model_version: int) -> None:
    """Write ``table``'s rows to the capture bucket as the service does: CaptureWriter, flushed."""
    writer = CaptureWriter(
        s3_factory=lambda: aws.client("s3", settings),
        bucket=settings.bucket("capture"),
        fraction=1.0,
        flush_s=1.0,
        batch_rows=500,
        queue_rows=100_000,
    )
    writer.record(
        contract.name, capture_entries(contract, table, at=datetime.now(UTC), model_version=model_version)
    )
    asyncio.run(writer.flush())


@pytest.fixture
def served(aws_env, churn, churn_profile, tmp_path):
    """A provisioned emulator, an approved churn model carrying the baseline, and requests it served."""
    bootstrap(aws_env, [churn.name])
    version = register_model(aws_env, churn, churn_profile, tmp_path / "model")
    capture(aws_env, churn, processed_rows(churn, CAPTURED_ROWS, seed=21), version.version)
    # Served by an older model: counted, not compared.
    capture(aws_env, churn, processed_rows(churn, 40, seed=22, shift=1.0), version.version + 5)
    return version


def events(stdout: str) -> list[dict]:
    return [
        json.loads(line[len(EVENT_PREFIX) :]) for line in stdout.splitlines() if line.startswith(EVENT_PREFIX)
    ]


def test_the_job_compares_the_captured_window_and_publishes_the_metric(aws_env, churn, served, tmp_path):
    out = tmp_path / "output"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "prodml.monitoring",
            "--dataset",
            churn.name,
            "--window-hours",
            "1",
            "--output",
            str(out),
        ],
        cwd=SERVICE_DIR,  # the platform image's WORKDIR, as the Processing job runs it
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    final = events(result.stdout)[-1]
    assert final["event"] == "result" and final["verdict"] == "no_drift", final
    assert final["model_version"] == served.version and final["rows"] == CAPTURED_ROWS
    saved = json.loads((out / "drift.json").read_text())
    assert saved["verdict"] == "no_drift" and saved["rows"] == CAPTURED_ROWS
    assert saved["details"]["rows_other_model_versions"] == {str(served.version + 5): 40}
    assert saved["source"]["kind"] == "capture"
    page = (out / "drift.html").read_text()
    assert page.count("<img") == len(churn.model_features)
    assert f"served by other model versions: v{served.version + 5}: 40" in page

    spec = monitoring_spec()
    cloudwatch = aws.boto3_session(aws_env).client("cloudwatch", endpoint_url=aws_env.endpoint_url)
    metrics = cloudwatch.list_metrics(Namespace=spec.namespace, MetricName=spec.metric_name)["Metrics"]
    published = sorted(tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics)
    expected = [tuple(sorted((d["Name"], d["Value"]) for d in spec.metric_dimensions(churn.name)))]
    expected += [
        tuple(sorted((d["Name"], d["Value"]) for d in spec.metric_dimensions(churn.name, f)))
        for f in churn.model_features
    ]
    assert published == sorted(expected)
    assert final["metrics_published"] == len(expected)


def test_a_dataset_source_and_a_named_version(aws_env, churn, served, tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "batch.parquet"
    pq.write_table(processed_rows(churn, 1200, seed=23, shift=0.5), path)
    result = run_drift(
        DriftRequest(dataset=churn.name, source=str(path), model_version=served.version),
        None,
        settings=aws_env,
        publish=False,
    )
    assert result.verdict == "drift" and result.source == {"kind": "dataset", "uri": str(path)}


def test_no_champion_is_a_clear_failure_and_help_is_there(aws_env, churn, tmp_path, capsys):
    bootstrap(aws_env, [churn.name])
    assert entrypoint.main(["--dataset", churn.name, "--output", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "no approved model" in out.err and '"event": "error"' in out.out
    with pytest.raises(SystemExit) as done:
        entrypoint.main(["--help"])
    assert done.value.code == 0 and "--window-hours" in capsys.readouterr().out
