#!/usr/bin/env bash
# Promote an image to the applied environment (PRODML_ENV_FILE) by digest: the manifest dev ran, byte for byte,
# tagged TAG in this environment's ECR repository. Nothing is rebuilt.
#
#   scripts/promote_image.sh <dev-registry>/<repository>@sha256:<digest> <commit sha>
#
# Idempotent: when TAG already names that digest it does nothing; when it names another image (the repository is
# immutable) it fails. The caller's credentials must pull from the source repository (its repository policy) and
# push to this one. After the copy the digest is read back and compared, so a copy that changed a byte fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/applied_env.sh
. scripts/applied_env.sh

fail() {
  echo "promote_image.sh: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || {
  echo "usage: scripts/promote_image.sh SOURCE_REPOSITORY@sha256:DIGEST TAG" >&2
  exit 64
}
source_ref="$1"
tag="$2"
digest="${source_ref##*@}"
[[ "$source_ref" == *@sha256:* && "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "source must be pinned by digest, got ${source_ref}"
target="${PRODML_ECR_REPOSITORY_URL}:${tag}"

existing="$(scripts/ecr_image.sh digest "$tag")"
if [[ "$existing" == "$digest" ]]; then
  echo "promote_image.sh: ${target} is already ${digest}" >&2
  exit 0
fi
[[ -z "$existing" ]] || fail "${target} already names ${existing}, not ${digest} (the repository is immutable)"

# Log in to both registries (an ECR token is per region; the source may be another account's registry).
source_registry="${source_ref%%/*}"
source_region="$(sed -E -n 's/^[0-9]+\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$/\1/p' <<<"$source_registry")"
[[ -n "$source_region" ]] || fail "not an ECR registry: ${source_registry}"
aws ecr get-login-password --region "$source_region" |
  docker login --username AWS --password-stdin "$source_registry" >/dev/null
scripts/ecr_image.sh login >/dev/null

# One source: imagetools copies the manifest (index, attestations and all) unchanged, blobs included.
docker buildx imagetools create --tag "$target" "$source_ref"

copied="$(scripts/ecr_image.sh digest "$tag")"
[[ "$copied" == "$digest" ]] || fail "${target} is ${copied:-missing} after the copy, not ${digest}"
echo "promote_image.sh: ${target} is ${digest}" >&2
