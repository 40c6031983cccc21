#!/bin/sh
# Copies the monitoring files the Helm chart embeds into helm/authjwt/files/ (Helm's .Files can only
# read inside the chart directory). deploy/ holds the ONE source; the chart's copies must be identical
# (test/integration/helm.test.ts fails otherwise).
#
#   sh scripts/sync-chart-files.sh          copy deploy/ -> helm/authjwt/files/
#   sh scripts/sync-chart-files.sh --check  exit 1 (and name the files) when a copy differs or is missing
set -eu
cd "$(dirname "$0")/.."
dest=helm/authjwt/files
# source:copy-name
pairs="deploy/prometheus/authjwt-rules.yaml:authjwt-rules.yaml deploy/grafana/authjwt-dashboard.json:authjwt-dashboard.json"
check=0
[ "${1:-}" = "--check" ] && check=1
stale=0
for pair in $pairs; do
  src="${pair%%:*}"
  copy="$dest/${pair#*:}"
  [ -f "$src" ] || { echo "sync-chart-files: missing source $src" >&2; exit 1; }
  if [ -f "$copy" ] && cmp -s "$src" "$copy"; then continue; fi
  if [ "$check" = 1 ]; then
    echo "sync-chart-files: $copy is missing or differs from $src (run: sh scripts/sync-chart-files.sh)" >&2
    stale=1
  else
    mkdir -p "$dest"
    cp "$src" "$copy"
    echo "sync-chart-files: $src -> $copy" >&2
  fi
done
exit "$stale"
