#!/usr/bin/env bash
# Run every benchmark (benchmarks/bench_*.py, or the ones named) in one go. Each prints prodml against a
# baseline measured in the same run, as ratios; results also land in .prodml/bench/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .prodml/bench
if [[ $# -gt 0 ]]; then
  benches=("$@")
else
  benches=(benchmarks/bench_*.py)
fi
for bench in "${benches[@]}"; do
  echo "== ${bench}"
  scripts/uv.sh run --frozen --all-extras --quiet python "${bench}"
done
