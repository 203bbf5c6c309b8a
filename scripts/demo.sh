#!/usr/bin/env bash
# make demo: emulator up, sample data (once), then `prodml demo` for the given contract and data file.
set -euo pipefail
cd "$(dirname "$0")/.."
contract="${1:-contracts/customer_churn.yaml}"
data="${2:-data/customer_churn.csv}"
run=(scripts/uv.sh run --frozen --all-extras --quiet)

"${run[@]}" prodml emulator up
if [[ ! -s "$data" ]]; then
  "${run[@]}" prodml sample-data --contract "$contract" --out "$data"
fi
"${run[@]}" prodml demo --contract "$contract" --data "$data"
