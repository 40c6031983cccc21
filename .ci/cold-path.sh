#!/usr/bin/env bash
# The cold path of CI's image and tool steps, runnable on a warm machine: the steps of .ci/run that
# download and build (.ci/images.sh, .ci/node-build-image.sh + .ci/authjwt-image.sh, .ci/k8s-tools.sh,
# .ci/tools.sh) with EMPTY caches — fresh temporary directories for the image cache, the tools cache,
# the Go module and build caches and pip — as on a fresh machine. The images get their own tag
# namespace (AUTHJWT_IMAGE_PREFIX, default localhost/authjwt-cold), so the images other runs on this
# machine use at the same time are never rebuilt, retagged or removed. Prints each step's wall time and
# the load average; removes the temporary caches and the cold images at the end (KEEP=1 keeps both).
#
# Not cold here: Debian packages (apt installs machine-wide; .ci/podman.sh and .ci/tools.sh install only
# what is missing) and podman's storage of other images.
#
# Usage (as root, after .ci/podman.sh):  bash .ci/cold-path.sh
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "[cold-path] must run as root (like .ci/run)" >&2; exit 1; }
# shellcheck source=versions.env
. .ci/versions.env
PREFIX="${AUTHJWT_IMAGE_PREFIX:-localhost/authjwt-cold}"
case "$PREFIX" in localhost/authjwt) echo "[cold-path] AUTHJWT_IMAGE_PREFIX must not be the shared localhost/authjwt" >&2; exit 1 ;; esac
ROOT_TMP="$(mktemp -d "${TMPDIR:-/var/tmp}/authjwt-cold.XXXXXX")"
IMAGES=("$PREFIX/debian-jre17:bookworm" "$PREFIX/keycloak:$KEYCLOAK_VERSION" "$PREFIX/node:$NODE_MAJOR-bookworm-slim"
  "$PREFIX/node-build:$NODE_MAJOR")

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then echo "[cold-path] kept $ROOT_TMP and the $PREFIX/* images" >&2; return; fi
  local repo
  for repo in "${IMAGES[@]}" $(podman images --format '{{.Repository}}:{{.Tag}}' "$PREFIX/authjwt" 2>/dev/null || true); do
    podman rmi -f "$repo" >/dev/null 2>&1 || true
  done
  rm -rf "$ROOT_TMP"
}
trap cleanup EXIT

log() { printf '[cold-path] %s\n' "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
ROWS=()
step() {
  local name=$1 t0 load0
  shift
  t0=$(date +%s)
  load0=$(loadavg)
  log "== $name (load $load0)"
  "$@" >"$ROOT_TMP/$name.out" 2> >(tee "$ROOT_TMP/$name.log" >&2)
  ROWS+=("$(printf '%-32s %5ss  load before %s, after %s' "$name" $(( $(date +%s) - t0 )) "$load0" "$(loadavg)")")
}

export AUTHJWT_IMAGE_CACHE="$ROOT_TMP/images" AUTHJWT_IMAGE_PREFIX="$PREFIX"
export PIP_NO_CACHE_DIR=1 npm_config_cache="$ROOT_TMP/npm" MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }-Dmaven.repo.local=$ROOT_TMP/m2"
T0=$(date +%s)
step images bash .ci/images.sh
# .ci/authjwt-image.sh builds its offline bases itself only under their default names.
step node-build-image env NODE_BASE_IMAGE="$PREFIX/node:$NODE_MAJOR-bookworm-slim" BUILD_BASE_IMAGE="$PREFIX/node-build:$NODE_MAJOR" \
  bash .ci/node-build-image.sh
step authjwt-image env NODE_IMAGE="$PREFIX/node:$NODE_MAJOR-bookworm-slim" BUILD_IMAGE="$PREFIX/node-build:$NODE_MAJOR" \
  IMAGE_REPO="$PREFIX/authjwt" bash .ci/authjwt-image.sh
step k8s-tools env AUTHJWT_TOOLS_BIN="$ROOT_TMP/k8s/bin" GOMODCACHE="$ROOT_TMP/k8s/go/mod" GOCACHE="$ROOT_TMP/k8s/go/build" \
  bash .ci/k8s-tools.sh
step tools env AUTHJWT_TOOLS_CACHE="$ROOT_TMP/tools" bash .ci/tools.sh
log "cold path done in $(( $(date +%s) - T0 ))s on $(nproc) cores:"
for row in "${ROWS[@]}"; do log "  $row"; done
