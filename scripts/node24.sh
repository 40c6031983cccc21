#!/bin/sh
# Prints the path of a Node.js >= 24 binary. When the machine's node is older (Debian's Node 20 is
# end-of-life and too old for current OpenTelemetry and testcontainers), installs Node 24 from the
# npm `node` package into a cached prefix once and reuses it.
set -eu
prefix="${AUTHJWT_NODE_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/authjwt-node/24}"
if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge 24 ]; then command -v node; exit 0; fi
fi
if [ ! -x "$prefix/bin/node" ]; then
  echo "authjwt: machine node is older than 24; installing node@24 into $prefix" >&2
  npm i -g --prefix "$prefix" --no-audit --no-fund node@24 >&2
fi
echo "$prefix/bin/node"
