#!/usr/bin/env bash
# The inference image in the applied environment's ECR repository (PRODML_ECR_REPOSITORY_URL in PRODML_ENV_FILE).
#
#   scripts/ecr_image.sh url            # the repository's URL (what an image tag is appended to)
#   scripts/ecr_image.sh login          # docker login to the repository's registry
#   scripts/ecr_image.sh digest TAG     # the digest TAG points at, or nothing if the tag is not there
#   scripts/ecr_image.sh scan DIGEST    # wait for ECR's scan of the image; fail on any CRITICAL finding
#   scripts/ecr_image.sh publish DIGEST # the processing jobs run this image from now on: <repository>@DIGEST written
#                                       # to the platform image parameter (PRODML_IMAGE_PARAMETER_NAME), read back
#
# The repository is immutable: a tag that exists always means the same image, so the deploy workflow pushes only
# when `digest` prints nothing, and a re-run reuses what the first run pushed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/applied_env.sh
. scripts/applied_env.sh

usage() {
  echo "usage: scripts/ecr_image.sh url | login | digest TAG | scan DIGEST | publish DIGEST" >&2
  exit 64
}

fail() {
  echo "ecr_image.sh: $*" >&2
  exit 1
}

registry="${PRODML_ECR_REPOSITORY_URL%%/*}"
repository="${PRODML_ECR_REPOSITORY_URL#*/}"

# The digest TAG names; nothing when the tag is not there. Any other error (credentials, permissions) fails, so a
# caller never mistakes "cannot look" for "not pushed yet".
digest_of() {
  local out
  if out="$(aws ecr describe-images --repository-name "$repository" --image-ids "imageTag=$1" \
    --query 'imageDetails[0].imageDigest' --output text 2>&1)"; then
    echo "$out"
  elif [[ "$out" != *ImageNotFoundException* ]]; then
    fail "cannot look up ${PRODML_ECR_REPOSITORY_URL}:$1: ${out}"
  fi
}

# The image manifests a digest stands for: itself, or, for an index (build-push-action's, which carries the SBOM
# and provenance attestations beside the image), the platform images in it. ECR scans images, not indexes.
platform_images() {
  aws ecr batch-get-image --repository-name "$repository" --image-ids "imageDigest=$1" \
    --accepted-media-types application/vnd.oci.image.index.v1+json \
    application/vnd.docker.distribution.manifest.list.v2+json \
    application/vnd.oci.image.manifest.v1+json \
    application/vnd.docker.distribution.manifest.v2+json \
    --query 'images[0].imageManifest' --output text |
    jq -r --arg self "$1" \
      'if .manifests then .manifests[] | select(.platform.os != "unknown") | .digest else $self end'
}

# Basic scanning reports COMPLETE; enhanced scanning (Inspector) keeps the image ACTIVE once it has findings.
scan_image() {
  local image="$1" deadline=$((SECONDS + 900)) status started=""
  while :; do
    status="$(aws ecr describe-image-scan-findings --repository-name "$repository" --image-id "imageDigest=$image" \
      --query 'imageScanStatus.status' --output text 2>/dev/null || echo NONE)"
    case "$status" in
      COMPLETE | ACTIVE) break ;;
      FAILED | UNSUPPORTED_IMAGE | FINDINGS_UNAVAILABLE | SCAN_ELIGIBILITY_EXPIRED)
        fail "ECR could not scan ${image} (${status}); a deploy needs a scanned image"
        ;;
      NONE)
        # Scan-on-push scans what was pushed; an image pushed another way (or an old one) is scanned now.
        if [[ -z "$started" ]]; then
          aws ecr start-image-scan --repository-name "$repository" --image-id "imageDigest=$image" >/dev/null ||
            true
          started=1
        fi
        ;;
    esac
    ((SECONDS < deadline)) || fail "ECR's scan of ${image} did not finish in 15 minutes (last status ${status})"
    sleep 10
  done
  local critical
  critical="$(aws ecr describe-image-scan-findings --repository-name "$repository" --image-id "imageDigest=$image" \
    --query 'imageScanFindings.findingSeverityCounts.CRITICAL' --output text)"
  [[ "$critical" == "None" ]] && critical=0
  if ((critical > 0)); then
    aws ecr describe-image-scan-findings --repository-name "$repository" --image-id "imageDigest=$image" \
      --output json | jq -r '.imageScanFindings | (.findings // []) + (.enhancedFindings // []) | .[]
        | select(.severity == "CRITICAL") | "  \(.name // .packageVulnerabilityDetails.vulnerabilityId) \(.uri // .title)"' \
      >&2 || true
    fail "${critical} CRITICAL finding(s) in ${image}: not deploying it"
  fi
  echo "ecr_image.sh: ${image}: no CRITICAL findings" >&2
}

# The state machines read the parameter in their first step, so every job of a run uses one image. Only an image
# of this repository, by digest, that is in it: the parameter's allowed_pattern refuses a tag on AWS as well.
publish_image() {
  local image="${PRODML_ECR_REPOSITORY_URL}@$1" out written
  [[ -n "${PRODML_IMAGE_PARAMETER_NAME:-}" ]] ||
    fail "${PRODML_ENV_FILE} has no PRODML_IMAGE_PARAMETER_NAME (apply the platform first: make apply or make tf-env)"
  out="$(aws ecr describe-images --repository-name "$repository" --image-ids "imageDigest=$1" \
    --query 'imageDetails[0].imageDigest' --output text 2>&1)" || fail "no ${image}: ${out}"
  aws ssm put-parameter --name "$PRODML_IMAGE_PARAMETER_NAME" --value "$image" --type String --overwrite >/dev/null
  written="$(aws ssm get-parameter --name "$PRODML_IMAGE_PARAMETER_NAME" --query Parameter.Value --output text)"
  [[ "$written" == "$image" ]] || fail "${PRODML_IMAGE_PARAMETER_NAME} reads ${written}, not ${image}"
  echo "ecr_image.sh: ${PRODML_IMAGE_PARAMETER_NAME} = ${image}" >&2
}

[[ $# -ge 1 ]] || usage
case "$1" in
  url)
    [[ $# -eq 1 ]] || usage
    echo "$PRODML_ECR_REPOSITORY_URL"
    ;;
  login)
    [[ $# -eq 1 ]] || usage
    aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
    ;;
  digest)
    [[ $# -eq 2 ]] || usage
    digest_of "$2"
    ;;
  scan)
    [[ $# -eq 2 && "$2" == sha256:* ]] || usage
    images="$(platform_images "$2")"
    [[ -n "$images" ]] || fail "no image ${2} in ${PRODML_ECR_REPOSITORY_URL}"
    for image in $images; do
      scan_image "$image"
    done
    ;;
  publish)
    [[ $# -eq 2 && "$2" =~ ^sha256:[0-9a-f]{64}$ ]] || usage
    publish_image "$2"
    ;;
  *) usage ;;
esac
