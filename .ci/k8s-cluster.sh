#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the e2e suites, assembled on this Docker-less machine from
# the registries it can reach, cached by version:
#
#   Go module proxy   Kubernetes $KUBERNETES_VERSION (kube-apiserver, kube-controller-manager,
#                     kube-scheduler, kubelet, kube-proxy, kubectl) from k8s.io/kubernetes, etcd
#                     $ETCD_VERSION, CoreDNS $COREDNS_VERSION, the prometheus-operator CRDs
#                     ($PROMETHEUS_OPERATOR_VERSION, example/prometheus-operator-crd)
#   Debian            containerd (CRI runtime, 1.6 in bookworm), containernetworking-plugins (bridge,
#                     host-local, loopback, portmap), gcc (the pause binary, from Kubernetes' own pause.c)
#   podman            builds the pause and CoreDNS images (FROM scratch), `podman save` exports them and
#                     the authjwt image; `ctr -n k8s.io images import` loads them: no registry exists,
#                     nothing is ever pulled (kubelet's image GC is off)
#
# Usage:
#   bash .ci/k8s-cluster.sh deps             only the Debian packages (apt; .ci/run runs it before `build`)
#   bash .ci/k8s-cluster.sh build            build/download what is missing into the cache (idempotent)
#   bash .ci/k8s-cluster.sh up [HOLDER]      start the cluster (builds first when needed) or join the one
#                                            running; prints `export` lines (KUBECONFIG, ...) on stdout
#   bash .ci/k8s-cluster.sh down [HOLDER]    leave it; the last holder stops it: pods deleted first (CNI
#                                            cleans up), every process stopped by its recorded PID,
#                                            kubelet's mounts unmounted, the state directory removed
#   bash .ci/k8s-cluster.sh import-image REF import a local podman image into the cluster's containerd
#   bash .ci/k8s-cluster.sh env              print the `export` lines of the running cluster
#   bash .ci/k8s-cluster.sh status           what is cached and what runs
#
# HOLDER (a name; default caller-<PID>) lets several test runs share one cluster: each `up` registers the
# holder with the PID of its caller, `down` removes it, and the cluster stops when no holder remains whose
# process still lives (FORCE=1 down: stop it anyway).
#
# Cache (binaries and image tarballs, keyed by version and recipe; never the Go build cache):
#   $AUTHJWT_TOOLS_CACHE (default /var/cache/authjwt-tools)/k8s/{kubernetes-V,etcd-V,coredns-V,pause-H,...}
# State of the running cluster: $AUTHJWT_K8S_STATE (default /var/lib/authjwt-k8s): certificates,
# kubeconfigs, etcd data, containerd root, kubelet root, logs, PIDs. Root only.
#
# What the cluster is (docs/testing.md): one node, API server on this host's primary address (reachable
# from pods through the `kubernetes` Service and from the host), pods on the bridge $POD_CIDR (avoids
# podman's 10.88.0.0/16 and the 10.89.x networks it creates), Services $SERVICE_CIDR routed by kube-proxy
# (iptables), cluster DNS (CoreDNS) at $DNS_IP. Kubelet: cgroupfs driver, image GC off, Secret/ConfigMap
# volumes re-synced every $KUBELET_SYNC (tuned down from 1m for the rotation tests; see docs/testing.md).
# It does not enforce NetworkPolicy (the bridge plugin has no policy engine) and has a single node.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. .ci/versions.env

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
[ "$(id -u)" = 0 ] || die "must run as root (kubelet, containerd, iptables)"

CACHE_ROOT="${AUTHJWT_TOOLS_CACHE:-/var/cache/authjwt-tools}"
CACHE="$CACHE_ROOT/k8s"
STATE="${AUTHJWT_K8S_STATE:-/var/lib/authjwt-k8s}"
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
BRIDGE=authjwt-k8s0
NODE_NAME=authjwt-node
ETCD_PORT=12379
ETCD_PEER_PORT=12380
API_PORT=16443
KUBELET_SYNC=10s
PAUSE_VERSION=3.10.1
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

mkdir -p "$CACHE"
export GOMODCACHE="$CACHE_ROOT/go/mod" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
quiet_go() { awk '/^go: downloading /{n++; next} {print} END{if (n) printf "  (%d modules downloaded)\n", n}'; }
# Temporary directories live under one root, removed on exit (tmpdir runs in $(...) subshells).
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/authjwt-k8s.XXXXXX")
trap 'chmod -R u+w "$TMP_ROOT" 2>/dev/null; rm -rf "$TMP_ROOT"' EXIT
tmpdir() { mktemp -d "$TMP_ROOT/$1.XXXXXX"; }

# ------------------------------------------------------------------------------------------ build
# An entry is complete when its .complete stamp holds the recipe it was built with; a changed recipe
# (version, flags) builds a new one. Each use touches the stamp; `build` removes entries (and image
# archives) nobody used for 30 days, e.g. those of an earlier version.
complete() { [ -f "$1/.complete" ] && [ "$(cat "$1/.complete")" = "$2" ] && touch "$1/.complete"; }
# AUTHJWT_K8S_NO_BUILD=1 (the tests outside CI): never build, fail naming what is missing.
may_build() { [ "${AUTHJWT_K8S_NO_BUILD:-}" != 1 ] || die "$1 is not built yet: run bash .ci/k8s-cluster.sh build (once; ~10+ min)"; }
stamp() { echo "$2" >"$1/.complete"; }

# go_scratch_build DIR GOMOD_BODY LDFLAGS OUT PKG... : `go build -o DIR/bin/OUT` PKGs of a throwaway module
# (OUT empty: one binary per package, named after it; SCRATCH_MAIN set: its main.go is the module's own
# package "."). The build cache lives for one `build` run, shared by its builds (the standard library
# compiles once), and is removed with it: only the binaries are kept. Module downloads are shared with
# .ci/tools.sh in $CACHE_ROOT/go/mod.
go_scratch_build() {
  local dir=$1 modbody=$2 ldflags=$3 out=$4 src t0
  shift 4
  command -v go >/dev/null 2>&1 || die "go is not installed (needed to build from the Go module proxy)"
  src=$(tmpdir gobuild)
  printf '%s\n' "$modbody" >"$src/go.mod"
  [ -z "${SCRATCH_MAIN:-}" ] || printf '%s\n' "$SCRATCH_MAIN" >"$src/main.go"
  t0=$(now)
  rm -rf "$dir" && mkdir -p "$dir/bin"
  (cd "$src" && GOCACHE="$TMP_ROOT/gocache" GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -ldflags "$ldflags" -o "$dir/bin/$out" "$@" 2>&1 | quiet_go >&2)
  echo $(( $(now) - t0 )) >"$dir/.build-seconds"
  rm -rf "$src"
}

kubernetes_dir() { echo "$CACHE/kubernetes-$KUBERNETES_VERSION"; }
kubernetes_recipe() { echo "kubernetes $KUBERNETES_VERSION ${K8S_BINARIES[*]} go=$(go env GOVERSION 2>/dev/null) static trimpath version-ldflags v1"; }
build_kubernetes() {
  local dir recipe minor staging modfile ldflags pkgs=() b v t0
  dir=$(kubernetes_dir); recipe=$(kubernetes_recipe)
  if complete "$dir" "$recipe"; then log "kubernetes $KUBERNETES_VERSION: cached ($dir)"; return 0; fi
  may_build "kubernetes $KUBERNETES_VERSION"
  t0=$(now)
  log "kubernetes $KUBERNETES_VERSION: building ${K8S_BINARIES[*]} from the Go module proxy (~10 min on 2 idle cores) ..."
  # k8s.io/kubernetes replaces its staging modules with ./staging/... paths, which `go install` refuses
  # and a dependent module ignores: replace each with its published k8s.io/<name> v0.<minor>.<patch>.
  (cd "$(tmpdir modinfo)" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null)
  modfile="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod"
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\1#p' "$modfile")
  [ "$(echo "$staging" | wc -l)" -ge 25 ] || die "could not read the staging modules from $modfile"
  v="v0.${KUBERNETES_VERSION#v1.}"
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local body
  body="module authjwt.invalid/kubernetes-build

go 1.24.0

require k8s.io/kubernetes $KUBERNETES_VERSION

replace ("
  while read -r m; do body+=$'\n'"	$m => $m $v"; done <<<"$staging"
  body+=$'\n)'
  # What hack/lib/version.sh sets: without it the server reports v0.0.0-master and Helm's kubeVersion fails.
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u -d "@$(now)" +%Y-%m-%dT%H:%M:%SZ)"
  done
  for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go_scratch_build "$dir" "$body" "$ldflags" "" "${pkgs[@]}"
  for b in "${K8S_BINARIES[@]}"; do [ -x "$dir/bin/$b" ] || die "kubernetes build produced no $b"; done
  v=$("$dir/bin/kubectl" version --client -o json)
  [[ $v == *"\"gitVersion\": \"$KUBERNETES_VERSION\""* ]] || die "kubectl does not report $KUBERNETES_VERSION"
  # Kubernetes' own pause.c (the sandbox process), from the same module.
  cp "$GOMODCACHE/k8s.io/kubernetes@$KUBERNETES_VERSION/build/pause/linux/pause.c" "$dir/pause.c"
  stamp "$dir" "$recipe"
  log "kubernetes $KUBERNETES_VERSION: built in $(( $(now) - t0 ))s ($(du -sh "$dir/bin" | cut -f1))"
}

etcd_dir() { echo "$CACHE/etcd-$ETCD_VERSION"; }
build_etcd() {
  local dir recipe m body t0 out
  dir=$(etcd_dir); recipe="etcd $ETCD_VERSION go=$(go env GOVERSION 2>/dev/null) v1"
  if complete "$dir" "$recipe"; then log "etcd $ETCD_VERSION: cached"; return 0; fi
  may_build "etcd $ETCD_VERSION"
  t0=$(now)
  log "etcd $ETCD_VERSION: building from the Go module proxy ..."
  # server/v3's go.mod replaces its siblings with ../ paths: require them at the same version instead.
  body="module authjwt.invalid/etcd-build

go 1.24.0

require ("
  for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do body+=$'\n'"	go.etcd.io/etcd/$m $ETCD_VERSION"; done
  body+=$'\n)'
  go_scratch_build "$dir" "$body" "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3
  out=$("$dir/bin/etcd" --version)
  [[ $out == *"etcd Version: ${ETCD_VERSION#v}"* ]] || die "etcd does not report $ETCD_VERSION"
  stamp "$dir" "$recipe"
  log "etcd $ETCD_VERSION: built in $(( $(now) - t0 ))s"
}

coredns_dir() { echo "$CACHE/coredns-$COREDNS_VERSION"; }
# CoreDNS with the plugins the cluster's Corefile uses (apply_coredns), in CoreDNS's own chain order
# (plugin.cfg): the documented way to build it with a chosen plugin set. The stock build links every
# plugin, cloud DNS SDKs included: ~2x the build time for nothing the cluster uses.
COREDNS_PLUGINS=(ready health errors loadbalance cache kubernetes)
build_coredns() {
  local dir recipe t0 p out imports="" directives=""
  dir=$(coredns_dir); recipe="coredns $COREDNS_VERSION plugins=${COREDNS_PLUGINS[*]} go=$(go env GOVERSION 2>/dev/null) v2"
  if complete "$dir" "$recipe"; then log "coredns $COREDNS_VERSION: cached"; return 0; fi
  may_build "coredns $COREDNS_VERSION"
  t0=$(now)
  log "coredns $COREDNS_VERSION (plugins: ${COREDNS_PLUGINS[*]}): building from the Go module proxy ..."
  for p in "${COREDNS_PLUGINS[@]}"; do
    imports+=$'\n'"	_ \"github.com/coredns/coredns/plugin/$p\""
    directives+="\"$p\", "
  done
  SCRATCH_MAIN="package main

import (
	\"github.com/coredns/coredns/core/dnsserver\"
	\"github.com/coredns/coredns/coremain\"
$imports
)

func init() { dnsserver.Directives = []string{${directives%, }} }

func main() { coremain.Run() }" \
    go_scratch_build "$dir" "module authjwt.invalid/coredns-build

go 1.24.0

require github.com/coredns/coredns $COREDNS_VERSION" "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" coredns .
  out=$("$dir/bin/coredns" -version)
  [[ $out == *"CoreDNS-${COREDNS_VERSION#v}"* ]] || die "coredns does not report $COREDNS_VERSION"
  out=$("$dir/bin/coredns" -plugins)
  grep -qx kubernetes <<<"$out" || die "coredns was built without its kubernetes plugin"
  stamp "$dir" "$recipe"
  log "coredns $COREDNS_VERSION: built in $(( $(now) - t0 ))s"
}

crds_dir() { echo "$CACHE/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION"; }
fetch_crds() {
  local dir recipe src
  dir=$(crds_dir); recipe="prometheus-operator $PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd v1"
  if complete "$dir" "$recipe"; then log "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: cached"; return 0; fi
  may_build "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION"
  (cd "$(tmpdir modinfo)" && go mod download "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  src="$GOMODCACHE/github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION/example/prometheus-operator-crd"
  [ -f "$src/monitoring.coreos.com_servicemonitors.yaml" ] || die "no ServiceMonitor CRD in $src"
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$src"/monitoring.coreos.com_*.yaml "$dir/"
  stamp "$dir" "$recipe"
  log "prometheus-operator CRDs $PROMETHEUS_OPERATOR_VERSION: $(find "$dir" -name '*.yaml' | wc -l) files"
}

# Debian packages: the CRI runtime and CNI plugins (installed, never started as system services).
DEB_PACKAGES=(containerd containernetworking-plugins iptables gcc libc6-dev)
install_debian() {
  local missing=() p policy_created=false
  for p in "${DEB_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  may_build "Debian packages ${missing[*]}"
  log "apt-get install ${missing[*]} ..."
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_created=true
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    log "apt-get install failed; apt-get update and retry"
    apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  $policy_created && rm -f /usr/sbin/policy-rc.d
  # A containerd the package may have started as a service is not ours: this cluster runs its own.
  return 0
}

# Images built FROM scratch with podman and saved as archives for `ctr images import`. The tag names
# the content (<version>-<hash of recipe and binary>): containerd keeps images between clusters, and a
# rebuilt binary must not hide behind the name of an older one.
scratch_image() { # NAME REPOSITORY VERSION BINARY RECIPE [USER] -> prints "IMAGE TAR"
  local name=$1 repo=$2 version=$3 bin=$4 recipe=$5 user=${6:-} key tar ctx image
  key=$(printf '%s %s %s' "$recipe" "$repo" "$user" | cat - "$bin" | sha256sum | cut -c1-12)
  image="$repo:$version-$key"
  tar="$CACHE/images/$name-$key.tar"
  if [ -f "$tar" ]; then touch "$tar"; echo "$image $tar"; return 0; fi
  may_build "the $name image"
  command -v podman >/dev/null 2>&1 || die "podman is needed to build the $name image (run .ci/podman.sh)"
  ctx=$(tmpdir "$name-image")
  cp "$bin" "$ctx/$name"
  { echo "FROM scratch"; echo "COPY $name /$name"; [ -z "$user" ] || echo "USER $user"; echo "ENTRYPOINT [\"/$name\"]"; } >"$ctx/Containerfile"
  podman build --quiet --layers=false -t "$image" "$ctx" >/dev/null
  mkdir -p "$CACHE/images"
  find "$CACHE/images" -name "$name-*.tar" -delete
  podman save --quiet --format docker-archive -o "$tar.part" "$image"
  podman rmi "$image" >/dev/null 2>&1 || true   # the archive is what is kept
  mv "$tar.part" "$tar"
  log "$image: $(du -h "$tar" | cut -f1) archive"
  echo "$image $tar"
}
build_images() {
  local kdir pause out
  kdir=$(kubernetes_dir)
  pause="$kdir/pause"
  if [ ! -x "$pause" ]; then
    may_build "the pause binary"
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-authjwt" -o "$pause.part" "$kdir/pause.c"
    strip "$pause.part"
    mv "$pause.part" "$pause"
  fi
  out=$(scratch_image pause localhost/authjwt/k8s-pause "$PAUSE_VERSION" "$pause" "pause $PAUSE_VERSION" 65535:65535)
  PAUSE_IMAGE=${out% *} PAUSE_TAR=${out#* }
  out=$(scratch_image coredns localhost/authjwt/k8s-coredns "${COREDNS_VERSION#v}" "$(coredns_dir)/bin/coredns" "coredns $COREDNS_VERSION")
  COREDNS_IMAGE=${out% *} COREDNS_TAR=${out#* }
}

cmd_build() {
  local t0; t0=$(now)
  exec 8>"$CACHE/.build.lock"
  flock 8
  install_debian
  build_kubernetes
  build_etcd
  build_coredns
  fetch_crds
  build_images
  find "$CACHE" -mindepth 2 -maxdepth 2 -name .complete -mtime +30 2>/dev/null | while read -r old; do
    log "removing unused cache entry ${old%/.complete}"; chmod -R u+w "${old%/.complete}"; rm -rf "${old%/.complete}"
  done
  find "$CACHE/images" -name '*.tar' -mtime +30 -delete 2>/dev/null || true
  log "build: ready in $(( $(now) - t0 ))s (kubernetes cold build: $(cat "$(kubernetes_dir)/.build-seconds" 2>/dev/null || echo '?')s)"
  flock -u 8
}

# ------------------------------------------------------------------------------------ the cluster
KBIN="$(kubernetes_dir)/bin"
PKI="$STATE/pki"
RUN="$STATE/run"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
HOLDERS="$STATE/holders"
CTR_SOCK="$RUN/containerd.sock"
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"
SA_ISSUER="https://kubernetes.default.svc.$CLUSTER_DOMAIN"
kubectl() { "$KBIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
ctr_() { ctr --address "$CTR_SOCK" --namespace k8s.io "$@"; }

node_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  ip=${ip%%$'\n'*}
  [ -n "$ip" ] || ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  [ -n "$ip" ] || die "cannot find this host's primary IPv4 address"
  echo "$ip"
}

# ---- processes: started detached (setsid), PID recorded, stopped by that PID only
start_proc() { # NAME BINARY ARGS...
  local name=$1; shift
  mkdir -p "$LOGS" "$PIDS"
  readlink -f "$(command -v "$1")" >"$PIDS/$name.exe"
  # The lock descriptors are closed: a long-running child must not hold the build/up locks.
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 7>&- 8>&- &
  echo $! >"$PIDS/$name.pid"
}
# The PID of NAME if it still runs the binary it was started with (a reused PID is not ours).
proc_pid() {
  local f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(cat "$PIDS/$1.exe" 2>/dev/null)" ] || return 1
  echo "$pid"
}
record_exe() { # NAME: fails when the process is already gone
  sleep 0.2
  proc_pid "$1" >/dev/null || { tail -n 30 "$LOGS/$1.log" >&2; die "$1 exited at once (log: $LOGS/$1.log)"; }
}
stop_proc() { # NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 10)
  local name=$1 wait=${2:-10} pid i
  if pid=$(proc_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then log "$name (pid $pid) ignored SIGTERM for ${wait}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.exe"
}
wait_until() { # SECONDS WHAT COMMAND...: polls COMMAND every 0.25 s until it succeeds, for at most SECONDS
  local end=$(( $(now) + $1 )); shift 2
  until "$@" >/dev/null 2>&1; do [ "$(now)" -lt "$end" ] || return 1; sleep 0.25; done
}
need_up() { # NAME SECONDS WHAT COMMAND...
  local name=$1 secs=$2 what=$3; shift 3
  if ! wait_until "$secs" "$what" "$@"; then
    tail -n 40 "$LOGS/$name.log" >&2
    die "$what: not within ${secs}s (log: $LOGS/$name.log)"
  fi
}

# ---- certificates (a fresh CA per cluster start; EC P-256, the service-account key RSA like kubeadm's)
gen_cert() { # NAME SUBJECT [SANS]
  local name=$1 subj=$2 sans=${3:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"; else echo "extendedKeyUsage=clientAuth"; fi
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
kubeconfig() { # FILE CERT_NAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: authjwt
    cluster: {server: "https://$NODE_IP:$API_PORT", certificate-authority: "$PKI/ca.crt"}
users:
  - name: $2
    user: {client-certificate: "$PKI/$2.crt", client-key: "$PKI/$2.key"}
contexts:
  - name: authjwt
    context: {cluster: authjwt, user: $2, namespace: default}
current-context: authjwt
EOF
  chmod 600 "$1"
}
make_pki() {
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=authjwt-test-cluster-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$PKI/ca.crt" 2>/dev/null
  gen_cert apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  gen_cert admin "/O=system:masters/CN=authjwt-test-admin"
  gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  gen_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  gen_cert controller-manager "/CN=system:kube-controller-manager"
  gen_cert scheduler "/CN=system:kube-scheduler"
  gen_cert kube-proxy "/CN=system:kube-proxy"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  local c
  for c in admin kubelet controller-manager scheduler kube-proxy; do kubeconfig "$STATE/$c.kubeconfig" "$c"; done
}

# ---- control plane
start_etcd() {
  rm -rf "$STATE/etcd"
  start_proc etcd "$(etcd_dir)/bin/etcd" --name authjwt --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "authjwt=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --log-level warn
  record_exe etcd
}
start_apiserver() {
  start_proc kube-apiserver "$KBIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer "$SA_ISSUER" --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-preferred-address-types InternalIP --allow-privileged=true \
    --profiling=false --event-ttl 1h --v 1
  record_exe kube-apiserver
}
start_controllers() {
  start_proc kube-controller-manager "$KBIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --profiling=false --v 1
  record_exe kube-controller-manager
  start_proc kube-scheduler "$KBIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v 1
  record_exe kube-scheduler
}

# ---- the node: containerd (own root, state and socket: never the system's), CNI, kubelet, kube-proxy
write_cni() {
  mkdir -p "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-authjwt-k8s.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "authjwt-k8s",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}
start_containerd() {
  mkdir -p "$STATE/containerd" "$RUN"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails (runc cannot write kubelet's
  # oom_score_adj -998: "can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
  start_proc containerd containerd --config "$STATE/containerd/config.toml"
  record_exe containerd
  need_up containerd 30 "containerd answers" ctr --address "$CTR_SOCK" version
}
image_present() { local refs; refs=$(ctr_ images ls -q "name==$1" 2>/dev/null || true); grep -qxF "$1" <<<"$refs"; }
# REF TAR: imports TAR unless containerd has REF. REF names its content (a content tag): the name is
# all that is compared.
import_archive() {
  image_present "$1" && return 0
  ctr_ images import --no-unpack=false "$2" >/dev/null || die "ctr images import $2 failed"
  image_present "$1" || die "$2 did not provide $1"
}
# REF: podman save | ctr import, when containerd does not have it yet (REF: a content tag, see above).
# Remembered as the last imported image: teardown keeps it (the next run of the same checkout needs no
# import) and removes older ones.
import_podman_image() {
  local ref=$1 tar
  if image_present "$ref"; then
    log "image $ref: present"
  else
    command -v podman >/dev/null 2>&1 || die "podman is needed to export $ref"
    podman image exists "$ref" || die "no podman image $ref"
    tar=$(tmpdir image)/image.tar
    podman save --quiet --format docker-archive -o "$tar" "$ref"
    import_archive "$ref" "$tar"
    log "image $ref: imported ($(du -h "$tar" | cut -f1))"
  fi
  echo "$ref" >"$STATE/containerd/last-image"
}
# containerd's store outlives the cluster: keep the pause and CoreDNS images of this version and the
# last imported image, remove the rest (and the CRI's sha256:<id> aliases left without a named image).
# Only while no container runs (teardown), so no concurrent test run loses an image it uses.
prune_images() {
  local keep ref
  keep=$(cat "$STATE/containerd/keep" "$STATE/containerd/last-image" 2>/dev/null || true)
  for ref in $(ctr_ images ls -q 2>/dev/null | { grep -v '^sha256:' || true; }); do
    grep -qxF "$ref" <<<"$keep" || { ctr_ images rm "$ref" >/dev/null 2>&1 && log "image $ref: removed"; }
  done
  ctr_ images ls 2>/dev/null | awk 'NR > 1 { if ($1 ~ /^sha256:/) alias[$1] = $3; else named[$3] = 1 }
    END { for (a in alias) if (!(alias[a] in named)) print a }' | while read -r ref; do ctr_ images rm "$ref" >/dev/null 2>&1 || true; done
}
start_kubelet() {
  mkdir -p "$STATE/kubelet"
  # Its own mount point, shared: volume mounts propagate as on a real node, and teardown unmounts one tree.
  mountpoint -q "$STATE/kubelet" || mount --bind "$STATE/kubelet" "$STATE/kubelet"
  mount --make-rshared "$STATE/kubelet"
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
containerRuntimeEndpoint: "unix://$CTR_SOCK"
cgroupDriver: cgroupfs
clusterDNS: ["$DNS_IP"]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: "$STATE/resolv.conf"
podLogsDir: "$STATE/pod-logs"
failSwapOn: false
# Nothing can be pulled again here: never garbage-collect images.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# Secret and ConfigMap volumes are refreshed when the pod is re-synced: every syncFrequency plus up to
# half of it as jitter (default 1m: updates arrive after 60-90 s). 10s keeps the rotation tests short.
syncFrequency: $KUBELET_SYNC
configMapAndSecretChangeDetectionStrategy: Watch
rotateCertificates: false
serverTLSBootstrap: false
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
port: 10250
address: "$NODE_IP"
shutdownGracePeriod: 0s
EOF
  : >"$STATE/resolv.conf"   # pods with dnsPolicy Default get no upstream (nothing outside is reachable anyway)
  start_proc kubelet "$KBIN/kubelet" --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --cert-dir "$PKI/kubelet-serving" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
  record_exe kubelet
}
start_kube_proxy() {
  cat >"$STATE/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$STATE/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack sysctls and route_localnet alone (shared machine).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
oomScoreAdj: 0
EOF
  start_proc kube-proxy "$KBIN/kube-proxy" --config "$STATE/kube-proxy-config.yaml" --v 1
  record_exe kube-proxy
}

# ---- cluster add-ons: CoreDNS
apply_coredns() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health {
            lameduck 5s
        }
        ready
        kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
        - name: coredns
          image: $COREDNS_IMAGE
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {name: dns, containerPort: 53, protocol: UDP}
            - {name: dns-tcp, containerPort: 53, protocol: TCP}
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
          volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, protocol: UDP}
    - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

# ---- holders: several test runs may share one cluster. A holder is a name and the PID of the process
# that called `up` (the test runner); it counts while that process lives, so a killed run never keeps
# the cluster up for good.
holder_add() { mkdir -p "$HOLDERS"; echo "$PPID" >"$HOLDERS/$1"; }
live_holders() {
  local h n=0 pid
  [ -d "$HOLDERS" ] || { echo 0; return; }
  for h in "$HOLDERS"/*; do
    [ -e "$h" ] || continue
    pid=$(cat "$h" 2>/dev/null || true)
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then n=$((n + 1)); else rm -f "$h"; fi
  done
  echo "$n"
}

running() {
  local p
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy; do proc_pid "$p" >/dev/null || return 1; done
  kubectl get --raw /readyz >/dev/null 2>&1
}

print_env() {
  case "$STATE$CACHE" in *"'"*) die "paths must not contain a single quote" ;; esac
  cat <<EOF
export KUBECONFIG='$ADMIN_KUBECONFIG'
export AUTHJWT_K8S_KUBECONFIG='$ADMIN_KUBECONFIG'
export AUTHJWT_K8S_BIN='$KBIN'
export AUTHJWT_K8S_API='https://$NODE_IP:$API_PORT'
export AUTHJWT_K8S_CA='$PKI/ca.crt'
export AUTHJWT_K8S_NODE_IP='$NODE_IP'
export AUTHJWT_K8S_SA_ISSUER='$SA_ISSUER'
export AUTHJWT_K8S_VERSION='$KUBERNETES_VERSION'
export AUTHJWT_K8S_PROMETHEUS_CRDS='$(crds_dir)'
export AUTHJWT_K8S_STATE='$STATE'
EOF
}

cmd_up() {
  local holder=${1:-caller-$PPID} t0 phase
  t0=$(now)
  mkdir -p "$STATE"
  exec 7>"$STATE.lock"
  flock 7
  cmd_build
  NODE_IP=$(node_ip)
  if running && [ "$(cat "$STATE/node-ip" 2>/dev/null)" = "$NODE_IP" ]; then
    holder_add "$holder"
    log "cluster already running: joined as holder $holder ($(live_holders) holders)"
    print_env
    return 0
  fi
  if left_behind; then log "a previous cluster was left behind: tearing it down first"; teardown; fi
  log "starting a single-node Kubernetes $KUBERNETES_VERSION on $NODE_IP (state $STATE) ..."
  for m in br_netfilter overlay; do [ -d "/sys/module/$m" ] || modprobe "$m" 2>/dev/null || true; done
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || sysctl -qw net.ipv4.ip_forward=1
  [ -f /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "br_netfilter is not available: Services would not route between pods of the bridge"
  [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 1 ] || sysctl -qw net.bridge.bridge-nf-call-iptables=1
  echo "$NODE_IP" >"$STATE/node-ip"
  rm -rf "$LOGS" "$HOLDERS"
  phase=$(now)
  make_pki
  write_cni
  start_etcd
  start_containerd   # in parallel with the control plane's start
  need_up etcd 30 "etcd answers" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  start_apiserver
  import_archive "$PAUSE_IMAGE" "$PAUSE_TAR"
  import_archive "$COREDNS_IMAGE" "$COREDNS_TAR"
  printf '%s\n' "$PAUSE_IMAGE" "$COREDNS_IMAGE" >"$STATE/containerd/keep"
  need_up kube-apiserver 90 "kube-apiserver ready" kubectl get --raw /readyz
  log "control plane up in $(( $(now) - phase ))s"
  start_controllers
  start_kubelet
  start_kube_proxy
  need_up kubelet 90 "node $NODE_NAME Ready" kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  need_up kube-controller-manager 60 "the default ServiceAccount" kubectl -n default get serviceaccount default
  apply_coredns
  need_up kubelet 120 "CoreDNS ready" kubectl -n kube-system rollout status deployment/coredns --timeout=1s
  holder_add "$holder"
  log "cluster up in $(( $(now) - t0 ))s: kubectl --kubeconfig $ADMIN_KUBECONFIG (holder $holder)"
  print_env
}

# ---- teardown
delete_pods() {
  kubectl get --raw /readyz >/dev/null 2>&1 || return 0
  # No controller may replace what is deleted: stop them first.
  stop_proc kube-controller-manager
  stop_proc kube-scheduler
  kubectl delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
  # The kubelet stops each sandbox once its pod is gone; the CNI DEL that follows releases its IP (veth,
  # IP, iptables rules): done when no task runs and host-local holds no address any more.
  if proc_pid kubelet >/dev/null; then
    wait_until 60 "sandboxes stopped" sandboxes_gone || log "sandboxes still present after 60s: removing them by force"
  fi
}
# shellcheck disable=SC2317  # called through wait_until
sandboxes_gone() {
  [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] || return 1
  [ -z "$(find "$STATE/cni/ipam" -type f -name '[0-9]*.[0-9]*.[0-9]*.[0-9]*' 2>/dev/null)" ]
}
# Containers the kubelet did not stop (only when the normal path failed): their network namespaces are
# noted first (no CNI DEL will run for them), then they are killed and removed.
LEFTOVER_NETNS=()
kill_leftover_containers() {
  proc_pid containerd >/dev/null || return 0
  local c ns
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    ns=$(ctr_ containers info "$c" 2>/dev/null | sed -n 's#^ *"path": "\(/var/run/netns/cni-[0-9a-f-]*\)".*#\1#p')
    ns=${ns%%$'\n'*}
    [ -z "$ns" ] || LEFTOVER_NETNS+=("$ns")
  done
  for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
  sleep 0.5
  for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true; done
  for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
}
# KUBE-* chains (kube-proxy, kubelet), and the rules of our CNI network (comment `name: "authjwt-k8s"`,
# only left when a pod went without CNI DEL) with the per-pod CNI-<hash> chains they jump to. Other
# chains (podman's NETAVARK-*, another CNI network's) are not touched.
clean_iptables() {
  local ipt t chain rules cni_chains
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for t in filter nat mangle; do
      rules=$({ "$ipt" -t "$t" -S 2>/dev/null || true; } | { grep -E '^-A .* -j KUBE-|^-A .*authjwt-k8s' || true; } | { grep -vE '^-A KUBE-' || true; })
      cni_chains=$(printf '%s\n' "$rules" | { grep 'authjwt-k8s' || true; } | sed -n 's/.* -j \(CNI-[0-9a-f]\{8,\}\)$/\1/p' | sort -u)
      printf '%s\n' "$rules" | { grep -vE '^-A CNI-[0-9a-f]{8,} ' || true; } | sed 's/^-A /-D /' \
        | while read -r rule; do [ -z "$rule" ] || eval "$ipt -t $t $rule" 2>/dev/null || true; done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z0-9-]*\)$/\1/p') $cni_chains; do "$ipt" -t "$t" -F "$chain" 2>/dev/null || true; done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z0-9-]*\)$/\1/p') $cni_chains; do "$ipt" -t "$t" -X "$chain" 2>/dev/null || true; done
    done
  done
}
teardown() {
  local t0 p shim
  t0=$(now)
  NODE_IP=${NODE_IP:-$(cat "$STATE/node-ip" 2>/dev/null || node_ip)}
  delete_pods
  stop_proc kubelet 15
  kill_leftover_containers
  if proc_pid containerd >/dev/null; then prune_images; fi
  stop_proc kube-proxy
  if [ -x "$KBIN/kube-proxy" ]; then "$KBIN/kube-proxy" --cleanup --v 0 >/dev/null 2>&1 || true; fi
  stop_proc containerd 15
  # runc shims outlive containerd: stop those of our socket (by PID, found by their -address argument).
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $CTR_SOCK" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
  for p in kube-controller-manager kube-scheduler kube-apiserver etcd; do stop_proc "$p"; done
  # Network namespaces of containers removed by force: deleting them removes their veths too.
  for shim in "${LEFTOVER_NETNS[@]}"; do umount "$shim" 2>/dev/null || true; rm -f "$shim"; done
  clean_iptables
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f /var/lib/cni/results/authjwt-k8s-* 2>/dev/null || true
  # Every mount left under the state directory, deepest first: the kubelet directory (its bind mount,
  # Secret tmpfs volumes) and, after a forced removal, sandbox shm and container rootfs mounts.
  awk -v dir="$STATE/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r \
    | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$STATE/kubelet" "$STATE/etcd" "$STATE/cni/ipam" "$STATE/pod-logs" "$PIDS" "$HOLDERS" "$RUN" "$PKI" "$STATE"/*.kubeconfig \
    || log "WARNING: could not remove all of $STATE (still mounted?)"
  log "cluster stopped in $(( $(now) - t0 ))s (containerd's image store kept in $STATE/containerd; logs in $LOGS)"
}
# Anything of a cluster on this host: recorded processes, mounts under the state directory, the bridge.
left_behind() {
  local mounts
  mounts=$(awk -v dir="$STATE/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo)
  [ -d "$PIDS" ] || [ -n "$mounts" ] || ip link show "$BRIDGE" >/dev/null 2>&1
}
cmd_down() {
  local holder=${1:-caller-$PPID} n
  [ -d "$STATE" ] || return 0
  exec 7>"$STATE.lock"
  flock 7
  rm -f "$HOLDERS/$holder"
  n=$(live_holders)
  if [ "$n" -gt 0 ] && [ "${FORCE:-0}" != 1 ]; then log "holder $holder left; $n holder(s) still use the cluster"; return 0; fi
  left_behind || return 0
  teardown
}

cmd_status() {
  local d
  for d in "$(kubernetes_dir)" "$(etcd_dir)" "$(coredns_dir)" "$(crds_dir)"; do
    if [ -f "$d/.complete" ]; then echo "cached  $d ($(cat "$d/.build-seconds" 2>/dev/null || echo -)s to build)"; else echo "missing $d"; fi
  done
  if running 2>/dev/null; then echo "running on $(cat "$STATE/node-ip"), holders: $(live_holders)"; kubectl get nodes -o wide; else echo "not running"; fi
}

case "${1:-}" in
  deps) install_debian ;;
  build) cmd_build ;;
  up) cmd_up "${2:-}" ;;
  down) cmd_down "${2:-}" ;;
  env) NODE_IP=$(cat "$STATE/node-ip" 2>/dev/null || node_ip); running || die "the cluster is not running"; print_env ;;
  import-image) [ -n "${2:-}" ] || die "usage: import-image REF"; proc_pid containerd >/dev/null || die "the cluster is not running"; import_podman_image "$2" ;;
  status) cmd_status ;;
  *) die "usage: bash .ci/k8s-cluster.sh deps|build|up [HOLDER]|down [HOLDER]|env|status|import-image REF" ;;
esac; exit $?   # one line: bash never reads past it, so editing this file cannot derail a running build
