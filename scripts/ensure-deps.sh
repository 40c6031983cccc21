#!/bin/sh
# Installs the locked dependencies when node_modules is missing or older than package-lock.json, so
# `npm start` and `npm test` work right after cloning.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "authjwt: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
