#!/bin/sh
# Runs the test suites: `sh scripts/test.sh [unit|integration|interop|e2e|all]` (default all), on the Node.js
# major of .ci/versions.env (node24.sh).
# all = type-check + unit + integration + interop + e2e (containers). The e2e suites need a container
# runtime (Docker, or podman via DOCKER_HOST, see docs/testing.md), the interop suites the tools of
# .ci/tools.sh (test/interop/README.md); with CI set they fail when these are missing.
# The e2e files share one Keycloak container and one real Kubernetes cluster (.ci/k8s-cluster.sh), both
# started by the global setup test/helpers/e2e-global-setup.ts.
set -eu
cd "$(dirname "$0")/.."
node_bin=$(sh scripts/node24.sh)
PATH="$(dirname "$node_bin"):$PATH"
export PATH
suite="${1:-all}"
# No Docker but a podman API socket (.ci/podman.sh): point testcontainers at it, and use the
# locally built Keycloak image when there is one (.ci/images.sh).
if [ -z "${DOCKER_HOST:-}" ] && [ ! -S /var/run/docker.sock ] && [ -S /run/podman/podman.sock ]; then
  export DOCKER_HOST=unix:///run/podman/podman.sock TESTCONTAINERS_RYUK_DISABLED=true
  export TESTCONTAINERS_HOST_OVERRIDE="${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1}"
fi
# shellcheck source=../.ci/versions.env
. .ci/versions.env
if [ -z "${KEYCLOAK_IMAGE:-}" ] && command -v podman >/dev/null 2>&1 && podman image exists "localhost/authjwt/keycloak:$KEYCLOAK_VERSION" 2>/dev/null; then
  export KEYCLOAK_IMAGE="localhost/authjwt/keycloak:$KEYCLOAK_VERSION"
fi
run() {
  echo "== $1 tests"
  start=$(date +%s)
  shift
  node --test --test-reporter=spec --test-timeout=600000 "$@"
  echo "== done in $(( $(date +%s) - start ))s"
}
case "$suite" in
  unit) run unit "test/unit/**/*.test.ts" ;;
  integration) run integration "test/integration/**/*.test.ts" ;;
  interop) run interop "test/interop/**/*.test.ts" ;;
  e2e) run e2e --test-concurrency=1 --test-global-setup=test/helpers/e2e-global-setup.ts "test/e2e/**/*.test.ts" ;;
  all)
    echo "== type-check"
    node node_modules/typescript/bin/tsc --noEmit -p tsconfig.json
    run "unit + integration + interop" "test/unit/**/*.test.ts" "test/integration/**/*.test.ts" "test/interop/**/*.test.ts"
    run e2e --test-concurrency=1 --test-global-setup=test/helpers/e2e-global-setup.ts "test/e2e/**/*.test.ts"
    ;;
  *) echo "unknown suite $suite" >&2; exit 2 ;;
esac
