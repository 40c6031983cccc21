#!/usr/bin/env bash
# Builds the authjwt container image from the Dockerfile, idempotently:
#
#   localhost/authjwt/authjwt:<version>-<inputs hash>   content tag: skipped when it already exists
#   localhost/authjwt/authjwt:<version>                 stable tags, moved to the content image
#   localhost/authjwt/authjwt:dev                       (what test/e2e/image.test.ts and the chart tests use)
#
# The inputs hash covers the Dockerfile, .dockerignore, every file the build context allows (same list
# as .dockerignore) and the base images' ids, so any change to sources, lockfile or bases rebuilds.
# Prints the build time and the image size; the last stdout line is the content tag.
#
# Uses podman when present (this machine), else docker. Offline path (default when no Docker Hub is
# reachable, e.g. this CI): bases are the local images of .ci/images.sh (runtime) and
# .ci/node-build-image.sh (build stage, + npm), built here when missing. With a registry set
# NODE_IMAGE=node:24-bookworm-slim (BUILD_IMAGE defaults to it) to use the official image.
#
# Env knobs:
#   NODE_IMAGE    runtime base   (default localhost/authjwt/node:24-bookworm-slim)
#   BUILD_IMAGE   build base     (default localhost/authjwt/node-build:24 when NODE_IMAGE is the local base, else NODE_IMAGE)
#   IMAGE_REPO    default localhost/authjwt/authjwt
#   FORCE=1       build even if the content tag exists
#   KEEP_OLD=1    keep older content tags (default: remove them after a build, unless a container uses them)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=versions.env
source "$REPO_ROOT/.ci/versions.env"
LOCAL_NODE="localhost/authjwt/node:$NODE_MAJOR-bookworm-slim"
LOCAL_BUILD="localhost/authjwt/node-build:$NODE_MAJOR"
NODE_IMAGE="${NODE_IMAGE:-$LOCAL_NODE}"
if [ -z "${BUILD_IMAGE:-}" ]; then
  if [ "$NODE_IMAGE" = "$LOCAL_NODE" ]; then BUILD_IMAGE="$LOCAL_BUILD"; else BUILD_IMAGE="$NODE_IMAGE"; fi
fi
IMAGE_REPO="${IMAGE_REPO:-localhost/authjwt/authjwt}"
FORCE="${FORCE:-0}"

log() { printf '[authjwt-image] %s\n' "$*" >&2; }
die() { printf '[authjwt-image] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=container-cli.sh
source "$REPO_ROOT/.ci/container-cli.sh"

# Offline bases: build them when missing (each script is idempotent).
[ "$NODE_IMAGE" != "$LOCAL_NODE" ] || exists "$LOCAL_NODE" || bash .ci/images.sh node
[ "$BUILD_IMAGE" != "$LOCAL_BUILD" ] || bash .ci/node-build-image.sh

VERSION="$(sed -n '/^  "version": "\([^"]*\)".*/{s//\1/p;q;}' package.json)"
[ -n "$VERSION" ] || die "no version in package.json"

# The build context, exactly as .dockerignore allows it (keep the two lists in step).
INPUTS=(Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json src proto config)
hash="$( { find "${INPUTS[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
           # an image that exists only remotely has no local id yet: name it instead
           echo "node=$NODE_IMAGE $(image_id "$NODE_IMAGE") build=$BUILD_IMAGE $(image_id "$BUILD_IMAGE")"
         } | sha256sum | cut -c1-12)"
CONTENT_TAG="$IMAGE_REPO:$VERSION-$hash"
STABLE_TAGS=("$IMAGE_REPO:$VERSION" "$IMAGE_REPO:dev")

size_of() { "$CLI" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1000000 }'; }

if [ "$FORCE" != 1 ] && exists "$CONTENT_TAG"; then
  log "$CONTENT_TAG exists (inputs unchanged): build skipped"
  build_secs=0
else
  REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [ "$REVISION" != unknown ] && [ -n "$(git status --porcelain -- "${INPUTS[@]}" 2>/dev/null)" ]; then REVISION="$REVISION-dirty"; fi
  # created = the commit time (reproducible labels, and the label layer stays cached)
  CREATED="$(git log -1 --format=%cI 2>/dev/null || true)"
  log "$CLI build $CONTENT_TAG (NODE_IMAGE=$NODE_IMAGE BUILD_IMAGE=$BUILD_IMAGE) ..."
  t0=$(date +%s.%N)
  secret=()
  # a TLS-intercepting egress proxy's CA (as trusted by the host's node/npm) for npm ci in the build
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then secret=(--secret "id=extra_ca,src=$NODE_EXTRA_CA_CERTS"); fi
  "$CLI" build "${secret[@]}" \
    --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    --build-arg "BUILD_IMAGE=$BUILD_IMAGE" \
    --build-arg "VERSION=$VERSION" \
    --build-arg "REVISION=$REVISION" \
    --build-arg "CREATED=$CREATED" \
    --build-arg "SOURCE=${IMAGE_SOURCE:-}" \
    -f Dockerfile -t "$CONTENT_TAG" . >&2
  build_secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
fi
for t in "${STABLE_TAGS[@]}"; do "$CLI" tag "$CONTENT_TAG" "$t"; done
if [ "${KEEP_OLD:-0}" != 1 ]; then
  # earlier content tags (<version>-<12 hex>) of this repository: the layer cache keeps rebuilds fast anyway.
  # No earlier tag (a first build) makes grep exit 1: not an error under pipefail.
  "$CLI" images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPO" 2>/dev/null \
    | { grep -E ":[^:]+-[0-9a-f]{12}$" | grep -vxF "$CONTENT_TAG" || true; } \
    | while IFS= read -r old; do if "$CLI" rmi "$old" >/dev/null 2>&1; then log "removed old $old"; fi; done
fi
log "image:      $CONTENT_TAG (also ${STABLE_TAGS[*]})"
log "build time: ${build_secs}s"
log "size:       $(size_of "$CONTENT_TAG")"
echo "$CONTENT_TAG"
