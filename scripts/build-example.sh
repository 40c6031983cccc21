#!/bin/sh
# Installs and builds the example frontend examples/authjs-sveltekit (SvelteKit + Auth.js + GetJWT):
#   npm ci      when node_modules is missing or older than package-lock.json (scripts/ensure-deps.sh;
#               npm registry only; the npm cache, ~/.npm, makes repeated installs fast)
#   npm run check   svelte-kit sync + svelte-check (types of the example, generated client included)
#   npm run build   vite build with adapter-node → build/ (run with `node build`)
# Used by test/e2e/authjs-example.test.ts (so `npm test` needs nothing else) and by hand.
set -eu
cd "$(dirname "$0")/.."
node_bin=$(sh scripts/node24.sh)
PATH="$(dirname "$node_bin"):$PATH"
export PATH
sh scripts/ensure-deps.sh examples/authjs-sveltekit
cd examples/authjs-sveltekit
npm run --silent check >&2
npm run --silent build >&2
