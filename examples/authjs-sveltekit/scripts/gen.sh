#!/bin/sh
# Generates the GetJWT client (src/lib/gen) from the repository's proto with Debian's protoc
# (`apt-get install protobuf-compiler`; `@protobuf-ts/protoc` would download protoc from GitHub) and the
# pinned @protobuf-ts/plugin from node_modules. The output is committed; the e2e test
# (test/e2e/authjs-example.test.ts) regenerates it into a temporary directory and fails when it differs.
#   sh scripts/gen.sh [OUT_DIR]   (default src/lib/gen)
set -eu
cd "$(dirname "$0")/.."
out="${1:-src/lib/gen}"
if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found: apt-get install protobuf-compiler (Debian/Ubuntu), or any protoc >= 3.12 on PATH" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/protoc-gen-ts ]; then
  echo "node_modules/.bin/protoc-gen-ts not found: run npm ci first" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts=node_modules/.bin/protoc-gen-ts \
  --ts_out="$out" \
  --ts_opt=optimize_code_size \
  --proto_path=../../proto \
  auth/v1alpha1/auth.proto
