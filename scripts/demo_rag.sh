#!/usr/bin/env bash
# make demo-rag: emulator up, then `prodml demo-rag` (ingest prodml's own docs, build, evaluate and promote the
# index, serve it and ask questions with citations).
set -euo pipefail
cd "$(dirname "$0")/.."
contract="${1:-contracts/knowledge/prodml_docs.yaml}"
run=(scripts/uv.sh run --frozen --all-extras --quiet)

"${run[@]}" prodml emulator up
"${run[@]}" prodml demo-rag --contract "$contract"
