#!/usr/bin/env bash
# Static check of every shell script in the repository with shellcheck (Debian package, installed by
# .ci/tools.sh), every severity (style and up), `source`d files followed (.shellcheckrc). .ci/run runs
# it beside lint and fails the run on any finding.
#
# The scripts: tracked files named *.sh, and tracked files without an extension whose first line is an
# sh or bash shebang (.ci/run); node_modules never.
#
# Usage:  bash .ci/shellcheck.sh          check them
#         bash .ci/shellcheck.sh --list   print their paths, one a line
set -euo pipefail
cd "$(dirname "$0")/.."

candidates() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git ls-files; else find . -path ./node_modules -prune -o -type f -print | sed 's|^\./||'; fi
}

scripts=()
while IFS= read -r f; do
  case "$f" in
    */node_modules/* | node_modules/*) continue ;;
    *.sh) ;;
    *)
      case "${f##*/}" in *.*) continue ;; esac
      [ -f "$f" ] || continue
      IFS= read -r first <"$f" || true
      case "$first" in '#!/bin/sh'* | '#!/bin/bash'* | '#!/usr/bin/env sh'* | '#!/usr/bin/env bash'*) ;; *) continue ;; esac
      ;;
  esac
  [ -f "$f" ] && scripts+=("$f")
done < <(candidates | LC_ALL=C sort)

case "${1:-}" in
  --list) printf '%s\n' "${scripts[@]}"; exit 0 ;;
  "") ;;
  *) echo "usage: bash .ci/shellcheck.sh [--list]" >&2; exit 2 ;;
esac

command -v shellcheck >/dev/null 2>&1 || { echo "[shellcheck] ERROR: shellcheck is not installed: run  eval \"\$(bash .ci/tools.sh)\"  as root" >&2; exit 1; }
echo "[shellcheck] $(shellcheck --version | sed -n 's/^version: //p'): ${#scripts[@]} scripts" >&2
shellcheck --severity=style "${scripts[@]}"
echo "[shellcheck] no findings" >&2
