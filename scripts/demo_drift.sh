#!/usr/bin/env bash
# make demo-drift: emulator up, sample data (once), then `prodml demo-drift` (which runs `prodml demo` first when
# no model is approved yet).
set -euo pipefail
cd "$(dirname "$0")/.."
contract="${1:-contracts/customer_churn.yaml}"
data="${2:-data/customer_churn.csv}"
run=(scripts/uv.sh run --frozen --all-extras --quiet)

"${run[@]}" prodml emulator up
if [[ ! -s "$data" ]]; then
  "${run[@]}" prodml sample-data --contract "$contract" --out "$data"
fi
"${run[@]}" prodml demo-drift --contract "$contract" --data "$data"
