#!/usr/bin/env bash
# Run uv: the one on PATH, else the pinned copy scripts/install.sh put in .tools/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
exec "$root/.tools/bin/uv" "$@"
