"""Batch scoring on local directories (the Processing job's input and output), with the model from a real
(moto) registry: the counts reconcile, refused rows are exactly the rows ETL's validation refuses, and the
columnar path predicts what the service's row path predicts."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prodml.etl.validate import validate_batch
from tests.inference.conftest import SERVICE_DIR

pytestmark = pytest.mark.integration


def _read(directory) -> pa.Table:
    files = sorted(directory.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def test_dirty_input_reconciles_and_scores_as_the_service_does(platform, artifacts, dirty_input, tmp_path):
    from app.batch import scoring

    version = platform.publish(artifacts["a"]).version
    input_dir, rows_written = dirty_input
    output = tmp_path / "output"
    events: list[dict] = []
    summary = scoring.run(
        platform.settings,
        dataset="customer_churn",
        input_dir=input_dir,
        output_dir=output,
        chunk_rows=64,
        on_progress=events.append,
    )
    contract = platform.contract
    assert summary.rows_in == rows_written
    assert summary.rows_scored + summary.rows_quarantined == summary.rows_in
    assert summary.rows_quarantined > 1 and summary.rows_scored > 300
    assert sum(summary.quarantined_by_reason.values()) == summary.rows_quarantined
    assert summary.quarantined_by_reason["malformed_row"] == 1
    assert set(summary.files) == {"part-a.csv", "more/part-b.parquet"}  # notes.txt is no input
    assert json.loads((output / "summary.json").read_text()) == summary.as_dict()
    assert events[0]["event"] == "model" and events[-1]["rows_done"] == summary.rows_in

    predictions, quarantine = _read(output / "predictions"), _read(output / "quarantine")
    assert predictions.num_rows == summary.rows_scored and quarantine.num_rows == summary.rows_quarantined
    assert predictions.column_names == [
        contract.id,
        "prediction",
        "probability_0",
        "probability_1",
        "model_version",
    ]
    assert set(predictions.column("model_version").to_pylist()) == {version}
    probabilities = np.column_stack(
        [predictions.column(c).to_numpy() for c in ("probability_0", "probability_1")]
    )
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)

    # Refused rows are exactly those ETL's validation refuses (the target aside), each with its reasons.
    read_back = pa.concat_tables(
        [
            pacsv.read_csv(
                input_dir / "part-a.csv",
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(contract.raw_columns, pa.string())
                ),
                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            ),
            pq.read_table(input_dir / "more" / "part-b.parquet"),
        ]
    )
    validated = validate_batch(contract, read_back, with_target=False)
    assert int((~validated.valid).sum()) == summary.rows_quarantined - 1  # and the malformed line
    malformed = quarantine.filter(pc.equal(quarantine.column("quarantine_reason"), "malformed_row"))
    assert malformed.column("raw_record").to_pylist() == ["only,three,fields"]
    assert malformed.column("source_row").to_pylist() == [(rows_written - 1) // 2 + 1]
    refused = quarantine.filter(pc.not_equal(quarantine.column("quarantine_reason"), "malformed_row"))
    assert all(":" in r for r in refused.column("quarantine_reasons").to_pylist())
    assert sorted(set(refused.column("source_file").to_pylist())) == ["more/part-b.parquet", "part-a.csv"]

    # The columnar path predicts what the service's row path (validated request rows) predicts.
    from app.serving.model import load_artifact

    model = load_artifact(artifacts["a"], version, work_dir=tmp_path / "work")
    try:
        good = validated.table.filter(pa.array(validated.valid)).slice(0, 50)
        rows = [{k: v for k, v in r.items() if k != contract.id} for r in good.to_pylist()]
        served = [r["probability"] for r in model.predict(rows)]
        by_id = dict(zip(predictions.column(contract.id).to_pylist(), probabilities[:, 1], strict=True))
        batch = [by_id[i] for i in good.column(contract.id).to_pylist()]
        assert np.allclose(served, batch, atol=1e-6)
    finally:
        model.close()


def test_explain_adds_attributions_that_sum_to_the_margin(platform, artifacts, dirty_input, tmp_path):
    from app.batch import scoring

    platform.publish(artifacts["a"])
    summary = scoring.run(
        platform.settings,
        dataset="customer_churn",
        input_dir=dirty_input[0],
        output_dir=tmp_path / "o",
        explain=True,
    )
    predictions = _read(tmp_path / "o" / "predictions")
    assert predictions.num_rows == summary.rows_scored
    features = platform.contract.model_features
    attributions = np.column_stack([predictions.column(f"attribution_{f}").to_numpy() for f in features])
    total = predictions.column("base_value").to_numpy() + attributions.sum(axis=1)
    assert np.abs(total - predictions.column("margin").to_numpy()).max() < 1e-6
    assert set(predictions.column("explained_class").to_pylist()) == {"1"}


def test_entrypoint_has_help_and_fails_in_one_line(platform, tmp_path):
    def entry(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.batch", *args],
            cwd=SERVICE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert "--chunk-rows" in entry("--help").stdout
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("customer_id\nC1\n")
    failed = entry(
        "--dataset", "customer_churn", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "error: no approved model in 'prodml-dev-customer-churn': approve one, or name --model-version"
    ]


def test_any_number_of_workers_writes_the_same_output_and_typed_input_is_checked_as_text_is(
    platform, artifacts, dirty_input, tmp_path
):
    """Chunks are scored by a worker a core and written in input order: one worker and four give the same
    files. A typed parquet file (as the processed zone holds rows) is validated without the text round trip,
    and its refused rows reach the quarantine as text."""
    from app.batch import scoring

    from prodml.sample_data import generate_table

    contract = platform.contract
    version = platform.publish(artifacts["a"]).version
    input_dir, _ = dirty_input
    clean = generate_table(contract, 300, seed=3, dirty_fraction=0.0).drop_columns([contract.target.name])
    typed = validate_batch(contract, clean, with_target=False).table
    spend = typed.column("monthly_spend").to_pylist()
    tenure = typed.column("tenure_months").to_pylist()
    spend[5], tenure[7] = float("nan"), -5  # not a float; below the contract's minimum
    typed = typed.set_column(
        typed.schema.get_field_index("monthly_spend"), "monthly_spend", pa.array(spend, pa.float64())
    )
    typed = typed.set_column(
        typed.schema.get_field_index("tenure_months"), "tenure_months", pa.array(tenure, pa.int64())
    )
    pq.write_table(typed, input_dir / "typed.parquet")

    model = scoring.load_model(platform.settings, "customer_churn", version, tmp_path / "model")
    try:
        outputs = {}
        for workers in (1, 4):
            output = tmp_path / f"out-{workers}"
            summary = scoring.score_directory(
                model, input_dir, output, dataset="customer_churn", chunk_rows=37, workers=workers
            )
            outputs[workers] = (
                _read(output / "predictions"),
                _read(output / "quarantine"),
                {k: v for k, v in summary.as_dict().items() if k not in ("seconds", "rows_per_second")},
            )
    finally:
        model.close()
    (one, one_refused, one_summary), (four, four_refused, four_summary) = outputs[1], outputs[4]
    assert one.num_rows > 500 and one.equals(four)
    assert one_refused.num_rows > 10 and one_refused.equals(four_refused)
    assert one_summary == four_summary and one_summary["files"]["typed.parquet"] == 300

    from_typed = one_refused.filter(pc.equal(one_refused.column("source_file"), "typed.parquet"))
    assert sorted(from_typed.column("source_row").to_pylist()) == [6, 8]
    by_row = {r["source_row"]: r for r in from_typed.to_pylist()}
    assert (by_row[6]["quarantine_reason"], by_row[6]["monthly_spend"]) == (
        "monthly_spend:invalid_float",
        "nan",
    )
    assert (by_row[8]["quarantine_reason"], by_row[8]["tenure_months"]) == ("tenure_months:below_min", "-5")
