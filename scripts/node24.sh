#!/bin/sh
# Prints the path of a Node.js binary of at least the major in .ci/versions.env (NODE_MAJOR). When the
# machine's node is older (Debian's packaged Node is end-of-life and too old for current OpenTelemetry
# and testcontainers), installs that major from the npm `node` package into a cached prefix once and
# reuses it.
set -eu
# shellcheck source=../.ci/versions.env
. "$(dirname "$0")/../.ci/versions.env"
prefix="${AUTHJWT_NODE_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/authjwt-node/$NODE_MAJOR}"
if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge "$NODE_MAJOR" ]; then command -v node; exit 0; fi
fi
if [ ! -x "$prefix/bin/node" ]; then
  echo "authjwt: machine node is older than $NODE_MAJOR; installing node@$NODE_MAJOR into $prefix" >&2
  npm i -g --prefix "$prefix" --no-audit --no-fund "node@$NODE_MAJOR" >&2
fi
echo "$prefix/bin/node"
