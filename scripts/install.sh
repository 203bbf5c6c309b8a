#!/usr/bin/env bash
# Install uv (pinned, into .tools/ unless one is on PATH) and the locked environment. Idempotent and quiet
# on a warm machine.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
if command -v uv >/dev/null 2>&1; then
  uv_bin="$(command -v uv)"
else
  uv_bin=".tools/bin/uv"
  if [[ ! -x "$uv_bin" ]]; then
    echo "installing uv ${UV_VERSION} into .tools/ ..."
    python3 -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
  fi
fi
# Bytecode is compiled at install time, as the inference image has it: without it every process compiles
# what it imports (a shell with PYTHONDONTWRITEBYTECODE=1 never keeps the result), which tripled the
# service's cold start and `prodml --help`. uv compiles only what it installs; compileall only what changed.
"$uv_bin" sync --frozen --all-extras --quiet --compile-bytecode
.venv/bin/python -m compileall -q -j 0 src services/inference/app pipelines >/dev/null
