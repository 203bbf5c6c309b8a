"""Batch scoring benchmark: `prodml batch-score`'s job end to end against raw ONNX Runtime, in one run.

The same rows (1M churn rows by default, the sample generator's, typed parquet in one file; --text-input for
text columns) are scored two ways with the same 200-tree random forest (the tests' real artifact, ONNX graph
included):

- batch      S3 parquet → S3 parquet: the SageMaker Processing job `prodml batch-score` starts, run by the
             emulator's executor in the platform image's code (`python -m app.batch`): container start,
             model download and verification, the input downloaded, read in chunks, validated against the
             contract by ETL's own checks, encoded, scored, written, and the output uploaded. Timed from
             the CreateProcessingJob call to the job's ProcessingEndTime (stamped when it is Completed).
- raw        ONNX Runtime alone: ``session.run`` over the same rows already encoded in memory, in the same
             chunks, with the same session options (``app.serving.model.onnx_session_options``), both ways
             it can use every core (one call at a time with a thread a core; one-thread calls on every core
             at once, as the job makes them); the faster way.

Both sides are the best of --runs (3) runs: three jobs, three passes each way, on a machine whose speed
varies by ±5% from minute to minute.

Prints rows/s for both and the ratio. Target: batch ≥ 0.7x raw. Writes .prodml/bench/batch.json."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "inference"))

import pyarrow.parquet as pq  # noqa: E402
from app.batch.scoring import DEFAULT_CHUNK_ROWS, available_cores  # noqa: E402

from prodml import aws  # noqa: E402
from prodml.bootstrap import bootstrap  # noqa: E402
from prodml.contract import load_contract  # noqa: E402
from prodml.emulator import Emulator  # noqa: E402
from prodml.registry import APPROVED, ModelRegistry  # noqa: E402
from prodml.release import record_image  # noqa: E402
from prodml.sample_data import generate_table  # noqa: E402
from prodml.settings import Settings  # noqa: E402

CONTRACT = REPO / "contracts" / "customer_churn.yaml"
TREES = 200
ROWS = 1_000_000
TARGET = 0.7


def _tests_module(relative: str):
    """A conftest loaded by path (a `tests` package elsewhere on sys.path would shadow ours)."""
    import importlib.util

    for name, path in (("tests.conftest", "tests/conftest.py"), ("prodml_bench_models", relative)):
        spec = importlib.util.spec_from_file_location(name, REPO / path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path} as a module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_onnx_rows_per_second(tarball: Path, table, chunk_rows: int, work: Path, passes: int = 3) -> dict:
    """ONNX Runtime's own throughput on ``table``'s rows, encoded beforehand (not timed), in the same chunks,
    both ways it can use every core: one session with a thread a core, one call at a time
    (``one_call_every_core``), and one-thread calls on every core at once, as the job makes them
    (``a_call_a_core``). Each is the best of ``passes`` passes (a first pass can run at half speed while ONNX
    Runtime and the allocator warm up, which would flatter the ratio). The baseline is the faster way."""
    from concurrent.futures import ThreadPoolExecutor

    from app.batch.scoring import encode_columns
    from app.serving.model import load_artifact

    from prodml.etl.validate import validate_batch

    cores = available_cores()
    results = {}
    for way, threads, workers in (("one_call_every_core", cores, 1), ("a_call_a_core", 1, cores)):
        model = load_artifact(tarball, 1, work_dir=work, onnx_threads=threads)
        try:
            validated = validate_batch(model.contract, table, with_target=False)
            feed = model.encoding.encode(
                encode_columns(model, validated.table), validated.table.num_rows
            ).onnx_feed()
            session, rows = model._predictor, validated.table.num_rows
            chunks = [
                {k: v[start : start + chunk_rows] for k, v in feed.items()}
                for start in range(0, rows, chunk_rows)
            ]
            best = 0.0
            with ThreadPoolExecutor(workers) as pool:
                for _ in range(passes):
                    started = time.perf_counter()
                    list(pool.map(session.run, [None] * len(chunks), chunks))
                    best = max(best, rows / (time.perf_counter() - started))
            results[way] = best
        finally:
            model.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=ROWS, help="rows scored (default 1,000,000)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help="rows a chunk, both ways (the job's default)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="jobs run, and raw passes each way; each side's best counts (default 3)",
    )
    parser.add_argument(
        "--text-input",
        action="store_true",
        help="write every column as text (the job then parses each value, as for a CSV) instead of typed",
    )
    args = parser.parse_args()
    build_artifact = _tests_module("tests/inference/conftest.py").build_artifact

    work = Path(tempfile.mkdtemp(prefix="prodml-bench-batch-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = Emulator(
        Settings(endpoint_url=endpoint), port=port, state_dir=work / "emulator", persist=False
    )
    emulator.up()
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        for name in [n for n in os.environ if n.startswith("PRODML_")]:
            del os.environ[name]
        settings = Settings(endpoint_url=endpoint)
        contract = load_contract(CONTRACT)
        bootstrap(settings, [contract.name])
        record_image(settings)
        print(f"training a random forest of {TREES} trees on sample data ...")
        tarball = build_artifact(contract, work / "model", n_estimators=TREES, seed=11, rows=5000)
        s3, bucket = aws.client("s3", settings), settings.bucket("artifacts")
        s3.upload_file(str(tarball), bucket, "training/bench/output/model.tar.gz")
        ModelRegistry(
            aws.client("sagemaker", settings), settings.model_package_group(contract.name)
        ).register(
            model_data_url=f"s3://{bucket}/training/bench/output/model.tar.gz",
            image_uri="bench",
            metrics_uri=f"s3://{bucket}/training/bench/metrics.json",
            summary={},
            metadata={},
            status=APPROVED,
        )
        print(f"generating {args.rows:,} rows ...")
        text = generate_table(contract, args.rows, seed=5, dirty_fraction=0.0)
        text = text.drop_columns([contract.target.name]).slice(0, args.rows)
        # Parquet carries types: the input is the rows typed as the contract types them (as the processed zone
        # holds them). --text-input scores the same rows as text columns, as a CSV turned parquet would be.
        from prodml.etl.validate import validate_batch

        table = text if args.text_input else validate_batch(contract, text, with_target=False).table
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        s3.put_object(Bucket=bucket, Key="bench/batch/in/part-00000.parquet", Body=buffer.getvalue())

        from prodml.jobs import processing

        runs = []
        for run in range(1, args.runs + 1):
            print(f"scoring S3 → S3 as a processing job ({run} of {args.runs}) ...")
            started = time.time()
            job = processing.start_batch_scoring(
                settings,
                dataset=contract.name,
                input_uri=f"s3://{bucket}/bench/batch/in/",
                output_uri=f"s3://{bucket}/bench/batch/out-{run}/",
                chunk_rows=args.chunk_rows,
            )
            # Polled at the CLI's own pace: the end is the job's ProcessingEndTime, not when a poll saw it.
            description = processing.wait(settings, job.name)
            seconds = description["ProcessingEndTime"].timestamp() - started
            summary = processing.read_summary(settings, description)
            if summary["rows_scored"] != table.num_rows:
                raise RuntimeError(
                    f"the job scored {summary['rows_scored']} of {table.num_rows} rows: {summary}"
                )
            runs.append((seconds, summary))
            print(
                f"  {table.num_rows / seconds:,.0f} rows/s ({seconds:.2f} s; {summary['seconds']:.2f} s inside)"
            )
        batch_seconds, summary = min(runs, key=lambda run: run[0])  # the best, as raw's is its best pass
        batch_rps = table.num_rows / batch_seconds
        print("raw ONNX Runtime on the same rows in memory ...")
        raw = raw_onnx_rows_per_second(tarball, table, args.chunk_rows, work / "raw", passes=args.runs)
        raw_rps = max(raw.values())
        ratio = batch_rps / raw_rps
        results = {
            "rows": table.num_rows,
            "input": "text parquet" if args.text_input else "typed parquet",
            "trees": TREES,
            "cores": available_cores(),
            "chunk_rows": args.chunk_rows,
            "batch": {
                "runs_seconds": [round(seconds, 2) for seconds, _ in runs],
                "seconds": round(batch_seconds, 2),
                "rows_per_second": round(batch_rps),
                "job_seconds": summary["seconds"],  # inside the container: read, validate, score, write
                "job_rows_per_second": summary["rows_per_second"],
                "backend": summary["model_backend"],
            },
            "raw_onnx": {"rows_per_second": round(raw_rps), **{way: round(rps) for way, rps in raw.items()}},
            "ratio": round(ratio, 3),
            "targets": {f"batch >= {TARGET}x raw ONNX": ratio >= TARGET},
        }
        print()
        print(f"  {'':<44} {'rows/s':>10}")
        print(
            f"  {'batch scoring, S3 parquet → S3 parquet (job)':<44} {batch_rps:>10,.0f}  ({batch_seconds:.1f} s)"
        )
        print(
            f"  {'  of which inside the container':<44} {summary['rows_per_second']:>10,.0f}  ({summary['seconds']:.1f} s)"
        )
        print(f"  {'raw ONNX Runtime, in memory (the faster of)':<44} {raw_rps:>10,.0f}")
        print(f"  {'  one call at a time, a thread a core':<44} {raw['one_call_every_core']:>10,.0f}")
        print(f"  {'  a one-thread call on every core at once':<44} {raw['a_call_a_core']:>10,.0f}")
        print(f"  ratio {ratio:.2f}x (target ≥ {TARGET}x: {'met' if ratio >= TARGET else 'MISSED'})")
        out = REPO / ".prodml" / "bench" / "batch.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"  written to {out.relative_to(REPO)}")
    finally:
        emulator.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
