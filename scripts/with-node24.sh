#!/bin/sh
# Runs `node ARGS…` on Node.js >= 24 (see node24.sh). Node 24 strips erasable TypeScript natively.
set -eu
node_bin=$(sh "$(dirname "$0")/node24.sh")
PATH="$(dirname "$node_bin"):$PATH"
export PATH
exec "$node_bin" "$@"
