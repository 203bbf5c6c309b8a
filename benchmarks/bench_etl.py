"""ETL benchmark: prodml's ETL core against a naive pandas baseline, measured in the same run.

- Throughput (MB/s, rows/s) on a generated file of ``--rows`` rows (default 1M, `prodml.sample_data`):
  the prodml core (read, validate, quarantine, dedup, split, derive, profile, parquet) against
  ``pandas.read_csv`` (default engine) plus row-wise validation against the same contract. Target ≥ 5x.
- ``--big``: peak RSS of the core on a raw file of ``--big-gb`` GB (default 4), built by repeating a
  generated chunk with fresh ids; the core runs in a fresh child process that reports its own peak RSS
  (``VmHWM``). Target ≤ 1 GB.

Results go to ``.prodml/bench/etl.json``. Run: ``make bench BENCH=benchmarks/bench_etl.py`` (add
``ARGS=--big`` through ``scripts/uv.sh run python benchmarks/bench_etl.py --big``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from prodml import sample_data
from prodml.contract import FeatureType, canonical_category, load_contract

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "contracts" / "customer_churn.yaml"
OUT = REPO / ".prodml" / "bench"


def generate(path: Path, rows: int) -> Path:
    if not path.exists():
        sample_data.write_sample(load_contract(CONTRACT), path, rows)
    return path


def generate_big(path: Path, gigabytes: float, chunk_rows: int = 500_000) -> Path:
    """Repeat one generated chunk with a fresh id prefix per copy until the file reaches the size."""
    target = int(gigabytes * 1024**3)
    if path.exists() and path.stat().st_size >= target:
        return path
    contract = load_contract(CONTRACT)
    chunk = sample_data.generate_table(contract, chunk_rows)
    ids = chunk.column(contract.id)
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as sink:
        writer = None
        copy = 0
        while sink.tell() < target:
            fresh = pc.binary_join_element_wise(pa.scalar(f"R{copy:05d}-"), ids, "")
            table = chunk.set_column(0, contract.id, fresh)
            if writer is None:
                writer = pacsv.CSVWriter(
                    sink, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                )
            writer.write_table(table)
            copy += 1
        if writer is not None:  # None when the size asked for is 0: the file stays empty
            writer.close()
    tmp.replace(path)
    return path


def run_core(path: Path, workdir: Path) -> dict:
    """The prodml ETL core on one local file, as the Glue job runs it (minus S3)."""
    for module in ("pyarrow.acero", "pyarrow.parquet"):  # imports are not part of the measured time
        importlib.import_module(module)

    from prodml.etl.process import EtlOptions, process
    from prodml.etl.read import RawObject

    contract = load_contract(CONTRACT)
    source = RawObject(
        name=str(path), sha256="bench", size=path.stat().st_size, fmt="csv", opener=lambda: path.open("rb")
    )
    started = time.perf_counter()
    result = process(contract, [source], workdir, dataset_version="bench", options=EtlOptions())
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows_in": result.report["rows"]["in"],
        "rows_out": result.report["rows"]["out"],
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not getrusage(RUSAGE_CHILDREN) in the parent: Linux folds the
    RSS a child inherited at fork into its ru_maxrss, so the parent's own size would be counted."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pandas_baseline(path: Path) -> dict:
    """The naive way: read_csv with the default engine, then validate row by row in Python."""
    import pandas as pd

    contract = load_contract(CONTRACT)
    pd.Timestamp("2020-01-01")  # warm up: imports are not part of the measured time
    started = time.perf_counter()
    frame = pd.read_csv(path)
    valid_rows = []
    rejected = 0
    columns = list(frame.columns)
    for record in frame.itertuples(index=False, name=None):
        row = dict(zip(columns, record, strict=True))
        ok = isinstance(row[contract.id], str) and row[contract.id] != ""
        for f in contract.features:
            value = row[f.name]
            missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
            if missing:
                ok = ok and f.nullable
                continue
            try:
                if f.type is FeatureType.INT:
                    value = int(value) if not isinstance(value, str) else int(value.strip())
                elif f.type is FeatureType.FLOAT:
                    value = float(value)
                    ok = ok and math.isfinite(value)
                elif f.type is FeatureType.BOOL:
                    ok = ok and str(value).strip().lower() in ("true", "false", "1", "0")
                elif f.type is FeatureType.TIMESTAMP:
                    pd.Timestamp(value)
                elif f.type is FeatureType.CATEGORY:
                    ok = ok and canonical_category(str(value)) in f.categories
            except (ValueError, TypeError):
                ok = False
                continue
            if f.is_numeric and ok:
                ok = (f.min is None or value >= f.min) and (f.max is None or value <= f.max)
        if ok:
            valid_rows.append(row)
        else:
            rejected += 1
    clean = pd.DataFrame(valid_rows).drop_duplicates().drop_duplicates(subset=[contract.id], keep="last")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows_in": len(frame), "rows_out": len(clean), "rejected": rejected}


def peak_rss_of_core(path: Path, workdir: Path) -> dict:
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--core", str(path), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    return {"wall_seconds": wall, **json.loads(child.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the throughput file.")
    parser.add_argument("--big", action="store_true", help="Also measure peak RSS on a multi-GB file.")
    parser.add_argument("--big-gb", type=float, default=4.0, help="Size of the --big file in GB.")
    parser.add_argument("--core", type=Path, help=argparse.SUPPRESS)  # child mode for the RSS measurement
    parser.add_argument("--workdir", type=Path, default=OUT / "work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.core:
        print(json.dumps(run_core(args.core, args.workdir)))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    data = generate(OUT / f"etl_{args.rows}.csv", args.rows)
    megabytes = data.stat().st_size / 1024**2
    core = run_core(data, OUT / "work")
    baseline = run_pandas_baseline(data)
    results: dict = {"file": str(data), "megabytes": megabytes, "rows": core["rows_in"]}
    for name, run in (("prodml", core), ("pandas_naive", baseline)):
        results[name] = run | {
            "mb_per_s": megabytes / run["seconds"],
            "rows_per_s": run["rows_in"] / run["seconds"],
        }
    results["speedup"] = baseline["seconds"] / core["seconds"]

    print(f"ETL throughput on {data.name}: {megabytes:,.0f} MB, {core['rows_in']:,} rows")
    print(f"{'':<14}{'seconds':>10}{'MB/s':>10}{'rows/s':>14}")
    for name in ("prodml", "pandas_naive"):
        r = results[name]
        print(f"{name:<14}{r['seconds']:>10.2f}{r['mb_per_s']:>10.1f}{r['rows_per_s']:>14,.0f}")
    print(f"ratio prodml / pandas: {results['speedup']:.1f}x (target >= 5x)")

    if args.big:
        big = generate_big(OUT / "etl_big.csv", args.big_gb)
        rss = peak_rss_of_core(big, OUT / "work-big")
        results["big"] = {"file": str(big), "gigabytes": big.stat().st_size / 1024**3, **rss}
        print(
            f"peak RSS on {results['big']['gigabytes']:.2f} GB ({rss['rows_in']:,} rows): "
            f"{rss['peak_rss_mb']:,.0f} MB in {rss['wall_seconds']:.0f}s (target <= 1024 MB)"
        )
    (OUT / "etl.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
