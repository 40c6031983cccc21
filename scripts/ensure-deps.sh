#!/bin/sh
# Installs the locked dependencies when node_modules is missing or older than package-lock.json, so
# `npm start` and `npm test` work right after cloning. `sh scripts/ensure-deps.sh [DIR]`: DIR is a
# package of this repository (default: the repository itself), e.g. examples/authjs-sveltekit.
set -eu
cd "$(dirname "$0")/.."
cd "${1:-.}"
# `find -newer` rather than `[ a -nt b ]`, which POSIX sh does not define.
if [ ! -f node_modules/.package-lock.json ] || [ -n "$(find package-lock.json -newer node_modules/.package-lock.json)" ]; then
  echo "${1:-authjwt}: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
