# shellcheck shell=bash
# Sourced by the image scripts (bash): picks the container CLI (podman here, docker elsewhere) and
# defines image helpers on it. Expects the caller's die().
if command -v podman >/dev/null 2>&1; then CLI=podman
elif command -v docker >/dev/null 2>&1; then CLI=docker
else die "neither podman nor docker found (run .ci/podman.sh)"; fi
exists() { "$CLI" image inspect "$1" >/dev/null 2>&1; }
image_id() { "$CLI" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
label() { "$CLI" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
