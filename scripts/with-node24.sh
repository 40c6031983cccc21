#!/bin/sh
# Runs `node ARGS…` on the Node.js major of .ci/versions.env (see node24.sh), which strips erasable
# TypeScript natively.
set -eu
node_bin=$(sh "$(dirname "$0")/node24.sh")
PATH="$(dirname "$node_bin"):$PATH"
export PATH
exec "$node_bin" "$@"
