#!/usr/bin/env bash
# OFFLINE PATH ONLY. Builds the image the Dockerfile's build stage runs in when the official
# node:24-bookworm-slim (which has npm) cannot be pulled:
#
#   localhost/authjwt/node-build:24  =  localhost/authjwt/node:24-bookworm-slim (.ci/images.sh node)
#                                       + the npm CLI, unpacked from the npm registry's `npm` tarball
#
# The runtime stage keeps using localhost/authjwt/node:24-bookworm-slim (no npm: the official *runtime*
# image has npm too, but authjwt never runs it). With Docker and a registry none of this is needed:
# the Dockerfile's defaults (NODE_IMAGE=BUILD_IMAGE=node:24-bookworm-slim) apply.
#
# Idempotent: skipped when the tag exists and was built from the current node base and npm version
# (recorded in image labels). Needs podman (.ci/podman.sh) or docker, and npm on the host
# to fetch the tarball (`npm pack`, cached in $AUTHJWT_IMAGE_CACHE/downloads).
#
# Versions (NODE_MAJOR, NPM_VERSION): .ci/versions.env.
# Env knobs:
#   NODE_BASE_IMAGE      default localhost/authjwt/node:$NODE_MAJOR-bookworm-slim (built when missing)
#   BUILD_BASE_IMAGE     default localhost/authjwt/node-build:$NODE_MAJOR
#   AUTHJWT_IMAGE_CACHE  default /var/cache/authjwt-images (shared with .ci/images.sh)
#   FORCE=1              rebuild even if up to date
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$REPO_ROOT/.ci/versions.env"
NODE_BASE_IMAGE="${NODE_BASE_IMAGE:-localhost/authjwt/node:${NODE_MAJOR}-bookworm-slim}"
BUILD_BASE_IMAGE="${BUILD_BASE_IMAGE:-localhost/authjwt/node-build:${NODE_MAJOR}}"
CACHE="${AUTHJWT_IMAGE_CACHE:-/var/cache/authjwt-images}"
FORCE="${FORCE:-0}"

log() { printf '[node-build-image] %s\n' "$*" >&2; }
die() { printf '[node-build-image] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=container-cli.sh
source "$REPO_ROOT/.ci/container-cli.sh"

if ! exists "$NODE_BASE_IMAGE"; then
  case "$NODE_BASE_IMAGE" in
    # .ci/images.sh's node image, under its default or another AUTHJWT_IMAGE_PREFIX
    localhost/*/node:*)
      log "$NODE_BASE_IMAGE missing: building it (AUTHJWT_IMAGE_PREFIX=${NODE_BASE_IMAGE%/node:*} .ci/images.sh node)"
      AUTHJWT_IMAGE_PREFIX="${NODE_BASE_IMAGE%/node:*}" bash "$REPO_ROOT/.ci/images.sh" node
      ;;
    *) die "$NODE_BASE_IMAGE not found" ;;
  esac
fi
base_id="$("$CLI" image inspect --format '{{.Id}}' "$NODE_BASE_IMAGE")"

if [ "$FORCE" != 1 ] && exists "$BUILD_BASE_IMAGE" \
   && [ "$(label "$BUILD_BASE_IMAGE" io.authjwt.base-id)" = "$base_id" ] \
   && [ "$(label "$BUILD_BASE_IMAGE" io.authjwt.npm-version)" = "$NPM_VERSION" ]; then
  log "$BUILD_BASE_IMAGE up to date (npm $NPM_VERSION on ${base_id:0:12}), skipping"
  exit 0
fi

mkdir -p "$CACHE/downloads"
tgz="$CACHE/downloads/npm-${NPM_VERSION}.tgz"
if [ ! -f "$tgz" ]; then
  command -v npm >/dev/null 2>&1 || die "npm is needed on the host to fetch npm@$NPM_VERSION from the npm registry"
  d="$(mktemp -d)"
  log "npm pack npm@$NPM_VERSION ..."
  (cd "$d" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  mv "$d/npm-${NPM_VERSION}.tgz" "$tgz.part" && mv "$tgz.part" "$tgz"
  rm -rf "$d"
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$tgz" "$ctx/npm.tgz"
cat >"$ctx/Containerfile" <<'EOF'
ARG NODE_BASE_IMAGE
FROM ${NODE_BASE_IMAGE}
ARG NPM_VERSION
ARG BASE_ID
COPY npm.tgz /tmp/npm.tgz
RUN mkdir -p /usr/local/lib/node_modules/npm \
 && tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 --no-same-owner \
 && rm /tmp/npm.tgz \
 && ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && npm --version
LABEL io.authjwt.npm-version="${NPM_VERSION}" io.authjwt.base-id="${BASE_ID}" \
      org.opencontainers.image.description="OFFLINE build base for authjwt: local node base + npm ${NPM_VERSION}"
EOF
t0=$(date +%s)
"$CLI" build --quiet -f "$ctx/Containerfile" \
  --build-arg "NODE_BASE_IMAGE=$NODE_BASE_IMAGE" --build-arg "NPM_VERSION=$NPM_VERSION" --build-arg "BASE_ID=$base_id" \
  -t "$BUILD_BASE_IMAGE" "$ctx" >/dev/null
got="$("$CLI" run --rm --entrypoint npm "$BUILD_BASE_IMAGE" --version)"
[ "$got" = "$NPM_VERSION" ] || die "npm --version in $BUILD_BASE_IMAGE printed '$got', expected $NPM_VERSION"
log "built $BUILD_BASE_IMAGE (node base ${base_id:0:12} + npm $got) in $(( $(date +%s) - t0 ))s"
