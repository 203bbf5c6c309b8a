"""Explanation benchmark: ``POST /predict?explain=true`` beside plain ``POST /predict``, in one run.

One prodml server (gunicorn, the Dockerfile's CMD, one uvicorn worker a core) serves a random forest of 200
trees (the tests' real artifact) from an emulator registry, with the prediction cache off so that every
request runs the model (and, asked, shap's TreeExplainer on the joblib pipeline: see
services/inference/app/serving/explain.py). Both are measured at 8 connections with bench_serving's load
generator (wrk, one thread), in turns, ``--rounds`` times; figures are medians over the rounds. The first
explanation in each worker builds its explainer: the warm-up pays for it, the measurement does not.

Prints req/s, p50 and p99 of both, and the explain/plain ratios. Writes .prodml/bench/explain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_serving as serving  # noqa: E402  # its load generator, helpers and row

from prodml import aws  # noqa: E402
from prodml.bootstrap import bootstrap  # noqa: E402
from prodml.contract import load_contract  # noqa: E402
from prodml.emulator import Emulator  # noqa: E402
from prodml.registry import APPROVED, ModelRegistry  # noqa: E402
from prodml.settings import Settings  # noqa: E402

PATHS = {"plain": "/predict", "explain": "/predict?explain=true"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=serving.DURATION_S, help="seconds a measurement")
    parser.add_argument("--rounds", type=int, default=serving.ROUNDS, help="times each is measured")
    args = parser.parse_args()
    subprocess.run([str(REPO / "scripts" / "ensure_apt.sh"), "wrk", "wrk"], check=True)
    build_artifact = serving._tests_module("tests/inference/conftest.py").build_artifact

    work = Path(tempfile.mkdtemp(prefix="prodml-bench-explain-"))
    port = serving.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = Emulator(
        Settings(endpoint_url=endpoint), port=port, state_dir=work / "emulator", persist=False
    )
    emulator.up()
    process = None
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PRODML_")},
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(
            {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        )
        settings = Settings(endpoint_url=endpoint)
        contract = load_contract(serving.CONTRACT)
        bootstrap(settings, [contract.name])
        print(f"training a random forest of {serving.TREES} trees on sample data ...")
        tarball = build_artifact(contract, work / "model", n_estimators=serving.TREES, seed=11, rows=5000)
        bucket = settings.bucket("artifacts")
        aws.client("s3", settings).upload_file(str(tarball), bucket, "training/bench/output/model.tar.gz")
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
        port = serving.free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [str(serving.BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app.main:app"],
            cwd=REPO / "services" / "inference",
            env={
                **env,
                "PRODML_BIND": f"127.0.0.1:{port}",
                "PRODML_AUTH": "none",  # loopback, against the emulator
                "PRODML_DATASET": contract.name,
                "PRODML_CACHE_ENABLED": "false",  # every request runs the model (and the explainer)
                "PRODML_MODEL_DIR": str(work / "models"),
                "PROMETHEUS_MULTIPROC_DIR": str(work / "prom"),
            },
            stdout=open(work / "prodml.log", "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
        )
        serving.wait_ready(url, process)
        for path in PATHS.values():  # warm-up: each worker builds its explainer on its first explanation
            serving.wrk(url, serving.ROW, 3, path=path)
        runs: dict[str, list[dict]] = {key: [] for key in PATHS}
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}/{args.rounds}: {serving.CONNECTIONS} connections, {args.duration}s each:")
            for key, path in PATHS.items():
                result = serving.wrk(url, serving.ROW, args.duration, path=path)
                runs[key].append(result)
                print(
                    f"  {path:<24} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                    f"p99 {result['p99_ms']:6.2f} ms"
                    + (f"  ({result['non_2xx']} non-2xx!)" if result["non_2xx"] else "")
                )
        results: dict = {
            "connections": serving.CONNECTIONS,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "cores": os.cpu_count(),
            "trees": serving.TREES,
            "cache": False,
        }
        for key, measured in runs.items():
            results[key] = {m: serving.median([r[m] for r in measured]) for m in ("rps", "p50_ms", "p99_ms")}
            results[key]["non_2xx"] = sum(r["non_2xx"] for r in measured)
            results[key]["rounds"] = measured
        plain, explain = results["plain"], results["explain"]
        results["explain_over_plain"] = {
            "p99": round(explain["p99_ms"] / plain["p99_ms"], 2),
            "rps": round(explain["rps"] / plain["rps"], 3),
        }
        print()
        print(f"  {'':<26} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for key, path in PATHS.items():
            r = results[key]
            print(f"  {path:<26} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
        print(
            f"  explain / plain: p99 {results['explain_over_plain']['p99']}x, "
            f"req/s {results['explain_over_plain']['rps']}x (medians of {args.rounds} rounds, cache off)"
        )
        if plain["non_2xx"] or explain["non_2xx"]:
            print("  ERRORS: some requests did not answer 200")
        out = REPO / ".prodml" / "bench" / "explain.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"  written to {out.relative_to(REPO)}")
    finally:
        if process is not None and process.poll() is None:
            serving.stop(process)
        emulator.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
