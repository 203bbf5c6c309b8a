"""Serving benchmark: prodml /predict against a naive baseline and the FastAPI floor, in one run.

All three serve the same request (one churn row) for a random forest of 200 trees trained on sample data,
at 8 concurrent connections (wrk, one thread) on this machine's cores:

- prodml     gunicorn + uvicorn workers (one a core), the Dockerfile's CMD; measured with the prediction
             cache on (repeated identical requests are cache hits) and off (every request runs the model:
             the real fast path, ONNX Runtime), and, for information, cache off without micro-batching
             (PRODML_MICRO_BATCH_ROWS=1: every request its own model call)
- baseline   services the tutorial way: FastAPI + joblib.load + model.predict_proba, one uvicorn process
- floor      FastAPI with the same request schema and no model, on the same gunicorn worker count

Also the cold start: process start → /ready 200 (model downloaded from S3, verified, loaded, warmed), for
both prodml servers (the larger counts for the target).

The servers run side by side and are measured in turns, ``--rounds`` times (default 2); each figure is the
median over the rounds, so a burst of other load on the machine moves all of them, not one. prodml's
``POST /predict`` is answered by its middleware, without FastAPI's routing (see
services/inference/app/core/middleware.py), and the rows of requests a worker has read together are
predicted in one model call (app/serving/batching.py); the floor is plain FastAPI. prodml also pays for what the floor
does not do: request ids, API-key check, Prometheus metrics, a JSON access line, 10% data capture to S3.
Writes .prodml/bench/serving.json. Targets: ≥40x baseline req/s, ≥0.8x floor, p99 ≤ 15 ms, cold ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "inference"))

from app.serving.schema import example_row  # noqa: E402

from prodml import aws  # noqa: E402
from prodml.bootstrap import bootstrap  # noqa: E402
from prodml.contract import load_contract  # noqa: E402
from prodml.emulator import Emulator  # noqa: E402
from prodml.registry import APPROVED, ModelRegistry  # noqa: E402
from prodml.settings import Settings  # noqa: E402

CONTRACT = REPO / "contracts" / "customer_churn.yaml"
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
ROUNDS = 2
WARMUP_S = 2
CONNECTIONS = 8
TREES = 200
BIN = Path(sys.executable).parent
# The request every server gets: the contract's own example row (no column is named outside the contract).
ROW = example_row(load_contract(CONTRACT))


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


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except Exception:
            time.sleep(0.02)
    raise RuntimeError(f"{url} never became ready")


# wrk prints a latency in the largest unit that keeps it readable, up to minutes and hours.
_WRK_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_duration_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    value, unit = match.groups()
    return float(value) * _WRK_UNIT_MS[unit]


def wrk(
    url: str,
    body: dict | None,
    duration: int,
    headers: dict | None = None,
    path: str = "/predict",
    *,
    method: str = "POST",
    bodies: list[dict] | None = None,
) -> dict:
    """wrk at CONNECTIONS connections: ``method`` with ``body`` (none for a GET), or each of ``bodies`` in turn."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines += [
            f"wrk.body = {json.dumps(json.dumps(body))}",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    if bodies:
        lines += ['wrk.headers["Content-Type"] = "application/json"', "local bodies = {"]
        lines += [f"  {json.dumps(json.dumps(b))}," for b in bodies]
        lines += [
            "}",
            "local n = 0",
            "request = function()",
            "  n = n % #bodies + 1",
            "  return wrk.format(nil, nil, nil, bodies[n])",
            "end",
        ]
    script.write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(script),
                url + path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        script.unlink()
    rps_line = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps_line is None:
        raise RuntimeError(f"wrk printed no Requests/sec line:\n{out}")
    percentiles = {p: parse_duration_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": float(rps_line.group(1)),
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def measure(name: str, url: str) -> dict:
    wrk(url, ROW, WARMUP_S)
    result = wrk(url, ROW, DURATION_S)
    print(
        f"  {name:<18} {result['rps']:>9.0f} req/s  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms"
        + (f"  ({result['non_2xx']} non-2xx!)" if result["non_2xx"] else "")
    )
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    global DURATION_S, ROUNDS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=int, default=DURATION_S, help="seconds a measurement (after 2 s warm-up)"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="times each server is measured (median kept)"
    )
    args = parser.parse_args()
    DURATION_S, ROUNDS = args.duration, args.rounds
    subprocess.run([str(REPO / "scripts" / "ensure_apt.sh"), "wrk", "wrk"], check=True)
    build_artifact = _tests_module("tests/inference/conftest.py").build_artifact  # the tests' real artifacts

    work = Path(tempfile.mkdtemp(prefix="prodml-bench-serving-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    emulator = Emulator(Settings(endpoint_url=endpoint), port=port, state_dir=work / "emulator")
    emulator.up()
    processes: list[subprocess.Popen] = []
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(
            {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        )
        settings = Settings(endpoint_url=endpoint)
        contract = load_contract(CONTRACT)
        bootstrap(settings, [contract.name])
        print(f"training a random forest of {TREES} trees on sample data ...")
        tarball = build_artifact(contract, work / "model", n_estimators=TREES, seed=11, rows=5000)
        model_dir = work / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(model_dir, filter="data")
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
        workers = os.cpu_count() or 1
        results: dict = {
            "connections": CONNECTIONS,
            "duration_s": DURATION_S,
            "rounds": ROUNDS,
            "cores": os.cpu_count(),
            "trees": TREES,
            "prodml_workers": workers,
        }
        logs = work / "logs"
        logs.mkdir()

        def prodml(cache: bool, batch: bool = True) -> tuple[subprocess.Popen, str, float]:
            port = free_port()
            started = time.monotonic()
            process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app.main:app"],
                cwd=REPO / "services" / "inference",
                env={
                    **env,
                    "PRODML_BIND": f"127.0.0.1:{port}",
                    "PRODML_AUTH": "none",  # loopback, against the emulator: measured without a key check
                    "PRODML_DATASET": contract.name,
                    "PRODML_CACHE_ENABLED": str(cache).lower(),
                    "PRODML_MODEL_DIR": str(work / f"models-{port}"),
                    "PROMETHEUS_MULTIPROC_DIR": str(work / f"prom-{port}"),
                    # Batched: the service's own default (or the caller's PRODML_MICRO_BATCH_ROWS).
                    **({} if batch else {"PRODML_MICRO_BATCH_ROWS": "1"}),
                },
                stdout=open(logs / f"prodml-{port}.log", "wb"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
            processes.append(process)
            url = f"http://127.0.0.1:{port}"
            cold = time.monotonic() - started
            cold = wait_ready(url, process) + cold
            return process, url, cold

        print("starting the servers (prodml cold starts: process start → /ready 200) ...")
        servers: dict[str, str] = {}
        colds = []
        for key, cache in (("prodml_no_cache", False), ("prodml_cache", True)):
            _, servers[key], cold = prodml(cache=cache)
            colds.append(round(cold, 3))
            print(f"  {key}: {cold:.2f} s")
        _, servers["prodml_unbatched"], _ = prodml(cache=False, batch=False)
        results["cold_start_s"] = max(colds)
        results["cold_starts_s"] = colds

        bench_env = {**env, "BENCH_MODEL_DIR": str(model_dir)}
        port = free_port()
        process = subprocess.Popen(
            [str(BIN / "uvicorn"), "naive_server:app", "--port", str(port), "--log-level", "warning"],
            cwd=REPO / "benchmarks" / "serving",
            env=bench_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        servers["baseline"] = f"http://127.0.0.1:{port}"
        wait_ready(servers["baseline"], process)

        port = free_port()
        floor_cmd = ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", str(workers)]
        process = subprocess.Popen(
            [str(BIN / floor_cmd[0]), *floor_cmd[1:], "-b", f"127.0.0.1:{port}", "floor_server:app"],
            cwd=REPO / "benchmarks" / "serving",
            env=bench_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        servers["floor"] = f"http://127.0.0.1:{port}"
        wait_ready(servers["floor"], process)
        results["setups"] = {
            "prodml": f"gunicorn -c gunicorn.conf.py app.main:app ({workers} uvicorn workers, the Dockerfile's "
            "CMD; access log, metrics, 10% capture on)",
            "baseline": "uvicorn naive_server:app (1 process)",
            "floor": " ".join(floor_cmd) + " floor_server:app",
        }

        names = {
            "prodml_no_cache": "prodml (no cache)",
            "prodml_cache": "prodml (cache)",
            "prodml_unbatched": "prodml (unbatched)",
            "baseline": "naive baseline",
            "floor": "FastAPI floor",
        }
        runs: dict[str, list[dict]] = {key: [] for key in names}
        for round_ in range(1, ROUNDS + 1):
            print(
                f"round {round_}/{ROUNDS}: {CONNECTIONS} connections, {DURATION_S}s each, {os.cpu_count()} cores:"
            )
            for key, name in names.items():
                runs[key].append(measure(name, servers[key]))
        for key, measured in runs.items():
            results[key] = {
                metric: median([m[metric] for m in measured]) for metric in ("rps", "p50_ms", "p99_ms")
            }
            results[key]["non_2xx"] = sum(m["non_2xx"] for m in measured)
            results[key]["rounds"] = measured

        base, floor = results["baseline"]["rps"], results["floor"]["rps"]
        for key in ("prodml_no_cache", "prodml_cache", "prodml_unbatched"):
            results[key]["x_baseline"] = round(results[key]["rps"] / base, 1)
            results[key]["x_floor"] = round(results[key]["rps"] / floor, 2)
        targets = {
            "x_baseline >= 40 (no cache)": results["prodml_no_cache"]["x_baseline"] >= 40,
            "x_floor >= 0.8 (no cache)": results["prodml_no_cache"]["x_floor"] >= 0.8,
            "p99 <= 15 ms (no cache)": results["prodml_no_cache"]["p99_ms"] <= 15,
            "cold start <= 2 s": results["cold_start_s"] <= 2,
            "no errors": all(results[k]["non_2xx"] == 0 for k in names),
        }
        results["targets"] = targets
        print()
        print(f"  {'':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x baseline':>11} {'x floor':>8}")
        for label, key in (
            ("prodml, cache off", "prodml_no_cache"),
            ("prodml, cache on", "prodml_cache"),
            ("prodml, cache off, unbatched", "prodml_unbatched"),
            ("naive baseline", "baseline"),
            ("FastAPI floor", "floor"),
        ):
            r = results[key]
            print(
                f"  {label:<28} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['rps'] / base:>10.1f}x {r['rps'] / floor:>7.2f}x"
            )
        print(f"  (medians of {ROUNDS} rounds; ratios of the medians)")
        print(
            f"  cold start (process start → /ready 200): {results['cold_start_s']:.2f} s (worst of {colds})"
        )
        for name, setup in results["setups"].items():
            print(f"  {name}: {setup}")
        for name, met in targets.items():
            print(f"  target {name}: {'met' if met else 'MISSED'}")
        out = REPO / ".prodml" / "bench" / "serving.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"  written to {out.relative_to(REPO)}")
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
        emulator.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
