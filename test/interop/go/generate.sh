#!/bin/sh
# Generates the Go code of every .proto under PROTO_DIR into MODULE_DIR/gen/ with protoc,
# protoc-gen-go and protoc-gen-go-grpc (all three from PATH): auth/v1alpha1/auth.proto becomes
# package <module>/gen/authv1alpha1. The import paths come from M mappings, which take precedence over
# a go_package option, so this works whether or not the proto declares one. The output is never
# committed (gen/ is ignored): .ci/tools.sh runs this in a copy of the module before building.
#
#   sh test/interop/go/generate.sh [PROTO_DIR] [MODULE_DIR]     (defaults: proto/, test/interop/go/)
#
# PROTOC_INCLUDE (optional): directory holding google/protobuf/*.proto (Debian: /usr/include).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_dir=$(cd "${1:-$here/../../../proto}" && pwd)
module_dir=$(cd "${2:-$here}" && pwd)
module=$(sed -n 's/^module[[:space:]]*//p' "$module_dir/go.mod")
[ -n "$module" ] || { echo "generate.sh: no module line in $module_dir/go.mod" >&2; exit 1; }
for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "generate.sh: $tool not found on PATH (run .ci/tools.sh)" >&2; exit 1; }
done

files=$(cd "$proto_dir" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
[ -n "$files" ] || { echo "generate.sh: no .proto under $proto_dir" >&2; exit 1; }
set --
for f in $files; do
  pkg=$(dirname "$f" | tr -cd 'A-Za-z0-9')
  set -- "$@" "--go_opt=M$f=$module/gen/$pkg;$pkg" "--go-grpc_opt=M$f=$module/gen/$pkg;$pkg"
done
rm -rf "$module_dir/gen"
mkdir -p "$module_dir/gen"
# shellcheck disable=SC2086 # $files: proto paths, no spaces
protoc -I "$proto_dir" ${PROTOC_INCLUDE:+-I "$PROTOC_INCLUDE"} \
  --go_out="$module_dir" --go_opt="module=$module" \
  --go-grpc_out="$module_dir" --go-grpc_opt="module=$module" \
  "$@" $files
