#!/usr/bin/env bash
# Installs the Kubernetes tools the chart and deploy tests use, from the Go module proxy (no GitHub
# release downloads needed), into a cached GOBIN:
#
#   helm                 helm.sh/helm/v3/cmd/helm@$HELM_VERSION
#   kustomize            sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION
#   kubernetes-validate  PyPI kubernetes-validate==$KUBERNETES_VALIDATE_VERSION in a venv next to the bin
#                        directory: ships the Kubernetes OpenAPI-derived JSON schemas (strict variants
#                        reject unknown fields), so objects are validated offline — kubeconform would
#                        download its schemas from GitHub, which is not reachable here.
#
# helm is built with the ldflags of helm's own Makefile: `helm version` reports $HELM_VERSION and the
# default Kubernetes version of `helm template` / `helm lint` is the one of helm's client-go modules
# (a plain `go install` would default to v1.20, older than the chart's kubeVersion).
#
# Idempotent: a tool whose installed version matches is not rebuilt. Only the bin directory goes to
# stdout (logs on stderr), so  `export PATH="$(bash .ci/k8s-tools.sh):$PATH"`  works.
#
# Versions (HELM_VERSION, KUSTOMIZE_VERSION, KUBERNETES_VALIDATE_VERSION): .ci/versions.env.
# Env knobs:
#   AUTHJWT_TOOLS_BIN   default ${XDG_CACHE_HOME:-$HOME/.cache}/authjwt-tools/bin
set -euo pipefail

# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"
BIN="${AUTHJWT_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/authjwt-tools/bin}"

log() { printf '[k8s-tools] %s\n' "$*" >&2; }
die() { printf '[k8s-tools] ERROR: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "go is not installed (needed to build helm and kustomize from the Go module proxy)"
mkdir -p "$BIN"
export GOBIN="$BIN" GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" CGO_ENABLED=0

if [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
  log "helm $HELM_VERSION already installed"
else
  t0=$(date +%s)
  # Kubernetes version = helm's k8s.io/client-go module (v0.X.Y -> 1.X), read from its go.mod
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION ..."
  go mod download -json "helm.sh/helm/v3@$HELM_VERSION" >/dev/null
  modfile="$(go env GOMODCACHE)/cache/download/helm.sh/helm/v3/@v/$HELM_VERSION.mod"
  k8s_minor="$(sed -n '/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/{s//\1/p;q;}' "$modfile")"
  [ -n "$k8s_minor" ] || die "cannot read the client-go version from $modfile"
  pkg=helm.sh/helm/v3
  go install -trimpath -ldflags "-w -s \
    -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.metadata= \
    -X $pkg/internal/version.gitTreeState=clean \
    -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    "$pkg/cmd/helm@$HELM_VERSION"
  log "helm $("$BIN/helm" version --template '{{.Version}}') (default Kubernetes 1.$k8s_minor) in $(( $(date +%s) - t0 ))s"
fi

if [ -x "$BIN/kustomize" ] && [ "$("$BIN/kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; then
  log "kustomize $KUSTOMIZE_VERSION already installed"
else
  t0=$(date +%s)
  log "go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION ..."
  go install -trimpath -ldflags "-w -s -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  log "kustomize $("$BIN/kustomize" version) in $(( $(date +%s) - t0 ))s"
fi
VENV="$(dirname "$BIN")/kubernetes-validate-venv"
if [ -x "$BIN/kubernetes-validate" ] && [ "$("$BIN/kubernetes-validate" --version 2>/dev/null | awk '{print $NF}')" = "$KUBERNETES_VALIDATE_VERSION" ]; then
  log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION already installed"
else
  command -v python3 >/dev/null 2>&1 || die "python3 is needed for kubernetes-validate"
  t0=$(date +%s)
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    log "python3 -m venv failed; installing python3-venv (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  log "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION ..."
  "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  ln -sf "$VENV/bin/kubernetes-validate" "$BIN/kubernetes-validate"
  log "kubernetes-validate $("$BIN/kubernetes-validate" --version | awk '{print $NF}') in $(( $(date +%s) - t0 ))s"
fi
echo "$BIN"
