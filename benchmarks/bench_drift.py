"""Drift benchmark: prodml's drift detection on 1M captured requests against a naive pandas/scipy baseline,
measured in the same run.

- The data: ``--rows`` (default 1M) churn requests in the capture zone's layout (JSON lines under
  ``<dataset>/date=/hour=`` folders, as the service's CaptureWriter writes them), drawn by
  ``prodml.sample_data`` from a slightly moved world (``shift`` 0.25), and the baseline profile ETL's
  profiler computes on 200k train rows. Generated once into ``.prodml/bench/drift/`` and reused.
- prodml: the capture window read chunk by chunk (``prodml.monitoring.sources.capture_chunks``), encoded as
  the model sees it, scored (``DriftDetector``), then ``drift.json`` and the HTML report: everything the job
  does but the registry download and the metric publication (network calls that do not grow with rows).
- naive: every line into pandas (``read_json(lines=True)`` + ``json_normalize``), PSI with ``np.histogram``
  on the same bins and KS with ``scipy.stats.ks_2samp`` against the 200k train rows themselves.

Each side runs in a fresh child process that reports its own peak RSS (``VmHWM``). Target: prodml's peak RSS
<= 1 GB. Results go to ``.prodml/bench/drift.json``. Run: ``make bench BENCH=benchmarks/bench_drift.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "contracts" / "customer_churn.yaml"
OUT = REPO / ".prodml" / "bench"
DATA = OUT / "drift"
TRAIN_ROWS = 200_000
ROWS_PER_FILE = 50_000
SHIFT = 0.25
WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM), as bench_etl measures it."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def typed_rows(contract, rows: int, seed: int, shift: float = 0.0):
    """Sample rows typed as the processed zone types them (ETL's own validation, so no second writer)."""
    import pyarrow as pa

    from prodml.etl.validate import validate_batch
    from prodml.features import derive_columns
    from prodml.sample_data import generate_table

    text = generate_table(contract, rows, seed=seed, dirty_fraction=0.0, shift=shift)
    batch = validate_batch(contract, text)
    return derive_columns(contract, batch.table.filter(pa.array(batch.valid)))


def prepare(rows: int) -> tuple[Path, Path, Path]:
    """The train split (parquet), its baseline profile, and ``rows`` captured requests (cached)."""
    import numpy as np
    import pyarrow.parquet as pq

    from prodml.contract import load_contract
    from prodml.etl.profile import BaselineProfiler

    contract = load_contract(CONTRACT)
    DATA.mkdir(parents=True, exist_ok=True)
    train_path, profile_path = DATA / "train.parquet", DATA / "baseline_profile.json"
    if not profile_path.exists():
        train = typed_rows(contract, TRAIN_ROWS, seed=1)
        pq.write_table(train, train_path)
        profiler = BaselineProfiler(contract)
        profiler.add(train, np.arange(train.num_rows, dtype=np.uint64))
        profile = profiler.finish(
            dataset=contract.name, version="bench", fingerprint=contract.fingerprint, train_files=[train_path]
        )
        profile_path.write_text(json.dumps(profile))
    capture = DATA / f"capture-{rows}"
    done = capture / "_COMPLETE"
    if not done.exists():
        features = [f.name for f in contract.features]
        written = 0
        for index in range((rows + ROWS_PER_FILE - 1) // ROWS_PER_FILE):
            n = min(ROWS_PER_FILE, rows - written)
            at = WINDOW_START + timedelta(minutes=30 * index)
            table = typed_rows(contract, n, seed=100 + index, shift=SHIFT)
            folder = capture / contract.name / f"date={at:%Y-%m-%d}" / f"hour={at:%H}"
            folder.mkdir(parents=True, exist_ok=True)
            captured_at = at.isoformat()
            with (folder / f"batch-{index:04d}.jsonl").open("w") as sink:
                for i, row in enumerate(table.select(features).to_pylist()):
                    entry = {
                        "captured_at": captured_at,
                        "request_id": f"r{index}-{i}",
                        "model_version": 1,
                        "variant": "champion",
                        "cache_hit": False,
                        contract.id: f"C{written + i:09d}",
                        "features": row,
                        "output": {"label": 0, "probabilities": [0.7, 0.3]},
                    }
                    sink.write(json.dumps(entry, separators=(",", ":"), default=str) + "\n")
            written += n
        done.write_text(str(written))
    return train_path, profile_path, capture


def window(rows: int) -> tuple[datetime, datetime]:
    files = (rows + ROWS_PER_FILE - 1) // ROWS_PER_FILE
    return WINDOW_START, WINDOW_START + timedelta(minutes=30 * files)


def run_prodml(capture: Path, profile_path: Path, rows: int, out: Path) -> dict:
    """Child mode: the drift job's reading, scoring and outputs."""
    import matplotlib  # noqa: F401 - imports are not part of the measured time

    from prodml.contract import load_contract
    from prodml.monitoring.drift import DriftDetector
    from prodml.monitoring.report import render_html
    from prodml.monitoring.sources import CaptureStats, capture_chunks

    contract = load_contract(CONTRACT)
    profile = json.loads(profile_path.read_text())
    since, until = window(rows)
    started = time.perf_counter()
    detector = DriftDetector(contract, profile)
    stats = CaptureStats()
    for chunk in capture_chunks(contract, str(capture), since, until, model_version=1, stats=stats):
        detector.add_columns(chunk.columns, chunk.rows)
    scored = time.perf_counter()
    result = detector.result(dataset=contract.name, model_version=1, source={"kind": "capture"})
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(result.to_json())
    (out / "drift.html").write_text(render_html(result))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "scoring_seconds": scored - started,
        "report_seconds": seconds - (scored - started),
        "rows": result.rows,
        "verdict": result.verdict,
        "psi": {f.feature: f.psi for f in result.features},
        "ks": {f.feature: f.ks for f in result.features},
        "peak_rss_mb": peak_rss_mb(),
    }


def run_naive(capture: Path, profile_path: Path, train_path: Path) -> dict:
    """Child mode: everything in pandas, KS against the train rows themselves."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from scipy import stats  # type: ignore[import-untyped]  # scipy ships no stubs (scipy-stubs is not a dependency)

    from prodml.contract import load_contract

    contract = load_contract(CONTRACT)
    profile = json.loads(profile_path.read_text())
    started = time.perf_counter()
    frames = [pd.read_json(path, lines=True) for path in sorted(capture.rglob("*.jsonl"))]
    frame = pd.concat(frames, ignore_index=True)
    del frames
    current = pd.json_normalize(frame["features"].tolist())
    train = pq.read_table(train_path).to_pandas()
    for derived in contract.derived:
        when = pd.to_datetime(current[derived.source], utc=True, format="ISO8601")
        current[derived.name] = getattr(when.dt, derived.transform)
    psi, ks = {}, {}
    for name in contract.numeric_features:
        values = pd.to_numeric(current[name], errors="coerce").astype(float).to_numpy()
        edges = np.array(profile["numeric"][name]["bins"]["edges"])
        bins = np.concatenate([[-np.inf], edges, [np.inf]])
        present = values[~np.isnan(values)]
        cur = np.append(np.histogram(present, bins=bins)[0], np.isnan(values).sum())
        base = np.append(profile["numeric"][name]["bins"]["counts"], profile["numeric"][name]["null_count"])
        b, c = np.maximum(base / base.sum(), 1e-4), np.maximum(cur / cur.sum(), 1e-4)
        psi[name] = float(((c - b) * np.log(c / b)).sum())
        reference = train[name].astype(float).dropna().to_numpy()
        ks[name] = float(stats.ks_2samp(present, reference).statistic)
    for name in contract.categorical_features:
        counts = profile["categorical"][name]["counts"]
        seen = current[name].fillna("").value_counts()
        cur = np.array(
            [seen.get(v, 0) for v in counts]
            + [
                int(seen.drop(list(counts), errors="ignore").drop("", errors="ignore").sum()),
                int(seen.get("", 0)),
            ]
        )
        base = np.array([*counts.values(), 0, profile["categorical"][name]["null_count"]])
        b, c = np.maximum(base / base.sum(), 1e-4), np.maximum(cur / cur.sum(), 1e-4)
        psi[name] = float(((c - b) * np.log(c / b)).sum())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "psi": psi, "ks": ks, "peak_rss_mb": peak_rss_mb()}


def child(mode: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, f"--{mode}", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stdout}\n{done.stderr}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Captured requests to compare.")
    parser.add_argument("--prodml", action="store_true", help=argparse.SUPPRESS)  # child modes
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prodml or args.naive:
        train, profile, capture = prepare(args.rows)
        run = (
            run_prodml(capture, profile, args.rows, OUT / "drift-report")
            if args.prodml
            else run_naive(capture, profile, train)
        )
        print(json.dumps(run))
        return

    started = time.perf_counter()
    prepare(args.rows)
    print(f"data ready in {time.perf_counter() - started:.0f}s ({DATA})")
    prodml = child("prodml", "--rows", str(args.rows))
    naive = child("naive", "--rows", str(args.rows))
    disagreement = {
        "psi": max(abs(prodml["psi"][n] - naive["psi"][n]) for n in naive["psi"]),
        "ks": max(abs(prodml["ks"][n] - naive["ks"][n]) for n in naive["ks"] if prodml["ks"][n] is not None),
    }
    results = {
        "rows": prodml["rows"],
        "prodml": prodml,
        "naive": naive,
        "speedup": naive["seconds"] / prodml["seconds"],
        "rss_ratio": prodml["peak_rss_mb"] / naive["peak_rss_mb"],
        "largest_disagreement": disagreement,
    }
    print(f"Drift on {prodml['rows']:,} captured requests (verdict {prodml['verdict']})")
    print(f"{'':<10}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>14}")
    for name, run in (("prodml", prodml), ("naive", naive)):
        print(
            f"{name:<10}{run['seconds']:>10.2f}{run['rows'] / run['seconds']:>14,.0f}{run['peak_rss_mb']:>14,.0f}"
        )
    print(
        f"prodml: {prodml['scoring_seconds']:.2f}s reading and scoring, {prodml['report_seconds']:.2f}s "
        "drift.json and the HTML report"
    )
    print(
        f"ratio naive / prodml: {results['speedup']:.1f}x the time; prodml's peak RSS is "
        f"{results['rss_ratio']:.2f}x naive's (target <= 1024 MB: "
        f"{'met' if prodml['peak_rss_mb'] <= 1024 else 'MISSED'})"
    )
    print(
        f"largest disagreement with the naive statistics: PSI {disagreement['psi']:.4f}, "
        f"KS {disagreement['ks']:.4f} (KS on the profile's 101-point grid, naive on the train rows)"
    )
    (OUT / "drift.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
