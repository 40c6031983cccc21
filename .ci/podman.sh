#!/usr/bin/env bash
# Make real containers runnable on a Docker-less Debian bookworm machine (CI / offline dev box)
# using podman + runc, and expose a Docker-compatible API socket for testcontainers.
#
# Idempotent: safe to run again; it only installs/changes what is missing and only starts
# the API service when the socket is not answering.
#
# After it succeeds the caller must export (the script prints these lines too):
#   export DOCKER_HOST=unix:///run/podman/podman.sock
#   export TESTCONTAINERS_RYUK_DISABLED=true        (Ryuk's own image can't be pulled here)
#   export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1   (this machine has /.dockerenv, so testcontainers would
#                                                    otherwise reach ports via the podman bridge gateway)
# Only those lines go to stdout (all logging is on stderr), so   eval "$(.ci/podman.sh)"
# sets them in the calling shell.
#
# Env knobs:
#   PODMAN_SOCKET       socket path (default /run/podman/podman.sock)
#   PODMAN_SERVICE_LOG  log file of the API service (default /var/log/authjwt-podman-service.log)
#   PODMAN_STORAGE_DRIVER  force "overlay" or "vfs" (default: probe, prefer overlay)
set -euo pipefail

SOCKET="${PODMAN_SOCKET:-/run/podman/podman.sock}"
SERVICE_LOG="${PODMAN_SERVICE_LOG:-/var/log/authjwt-podman-service.log}"
CONF=/etc/containers/containers.conf
STORAGE_CONF=/etc/containers/storage.conf

log() { printf '[podman] %s\n' "$*" >&2; }
die() { printf '[podman] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (rootful podman; the sandbox has no user namespaces set up for rootless)"

# ---------------------------------------------------------------- packages
PKGS=(podman runc conmon containernetworking-plugins iptables debootstrap uidmap slirp4netns fuse-overlayfs unzip curl python3 ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  # Captured, then compared: no early-closing reader (`| grep -q`) under pipefail.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != 'install ok installed' ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update when lists are absent or the first install attempt fails (stale lists)
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]; then
    log "apt-get update"
    apt-get update -qq
  fi
  if ! apt-get install -y -qq "${missing[@]}" >/tmp/setup-podman-apt.log 2>&1; then
    log "install failed, running apt-get update and retrying"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/tmp/setup-podman-apt.log 2>&1 \
      || { cat /tmp/setup-podman-apt.log >&2; die "apt-get install failed"; }
  fi
else
  log "packages already installed: ${PKGS[*]}"
fi
runc_version="$(runc --version)"
log "$(podman --version); ${runc_version%%$'\n'*}"

# ---------------------------------------------------------------- containers.conf (merge)
# Set only our keys, keeping everything else in the file:
#   [containers] default_ulimits -- the sandbox refuses raising rlimits (setrlimit EPERM with podman defaults)
#   [engine]     runtime = "runc" -- crun fails here: "cgroups in hybrid mode not supported"
mkdir -p /etc/containers
python3 - "$CONF" <<'PY'
import os, re, sys
path = sys.argv[1]
want = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=4096:4096"]'},
    "engine": {"runtime": '"runc"'},
}
lines = open(path).read().splitlines() if os.path.exists(path) else []
out, table, done = [], None, {t: set() for t in want}

def flush_missing(t):
    # append keys of table t that were not present, right after its last line
    if t in want:
        for k, v in want[t].items():
            if k not in done[t]:
                out.append(f"{k} = {v}")
                done[t].add(k)

seen_tables = set()
for line in lines:
    m = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
    if m:
        flush_missing(table)
        table = m.group(1).strip()
        seen_tables.add(table)
        out.append(line)
        continue
    km = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
    if table in want and km and km.group(1) in want[table]:
        k = km.group(1)
        if k in done[table]:
            continue  # drop duplicate
        out.append(f"{k} = {want[table][k]}")
        done[table].add(k)
        continue
    out.append(line)
flush_missing(table)
for t in want:
    if t not in seen_tables:
        if out and out[-1].strip():
            out.append("")
        out.append(f"[{t}]")
        flush_missing(t)
new = "\n".join(out) + "\n"
old = open(path).read() if os.path.exists(path) else None
if new != old:
    open(path, "w").write(new)
    print(f"[podman] updated {path}", file=sys.stderr)
else:
    print(f"[podman] {path} already up to date", file=sys.stderr)
PY

# ---------------------------------------------------------------- storage driver
# Rootful podman on this machine's ext4 root can use the kernel's native overlay driver
# (fast image builds, layer sharing). We verify with a real overlay mount; if the kernel
# refuses (e.g. /var/lib/containers sits on an overlay/tmpfs that can't be an upperdir),
# fall back to vfs (slow, full copy per layer, but works everywhere).
probe_overlay() {
  local d
  d="$(mktemp -d /var/lib/authjwt-overlay-probe.XXXXXX)"
  mkdir -p "$d"/{l,u,w,m}
  echo ok >"$d/l/f"
  if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
    local r=1
    if [ "$(cat "$d/m/f")" = ok ] && echo x >"$d/m/g"; then r=0; fi
    umount "$d/m"
    rm -rf "$d"
    return $r
  fi
  rm -rf "$d"
  return 1
}
mkdir -p /var/lib/containers
driver="${PODMAN_STORAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  if probe_overlay; then driver=overlay; else driver=vfs; fi
fi
log "storage driver: $driver"
current="$(sed -n '/^[[:space:]]*driver[[:space:]]*=[[:space:]]*"\([^"]*\)".*/{s//\1/p;q;}' "$STORAGE_CONF" 2>/dev/null || true)"
if [ "$current" != "$driver" ]; then
  if [ -f "$STORAGE_CONF" ] && grep -q '^[[:space:]]*driver[[:space:]]*=' "$STORAGE_CONF"; then
    sed -i "s/^[[:space:]]*driver[[:space:]]*=.*/driver = \"$driver\"/" "$STORAGE_CONF"
  elif [ -f "$STORAGE_CONF" ] && grep -q '^\[storage\]' "$STORAGE_CONF"; then
    sed -i "/^\[storage\]/a driver = \"$driver\"" "$STORAGE_CONF"
  else
    cat >>"$STORAGE_CONF" <<EOF
[storage]
driver = "$driver"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
  fi
  log "wrote driver=\"$driver\" to $STORAGE_CONF"
  if [ -n "$current" ]; then
    log "NOTE: storage driver changed from '${current:-default}'; if podman complains, run 'podman system reset -f' (deletes images)"
  fi
fi
actual="$(podman info --format '{{.Store.GraphDriverName}}')" || die "podman info failed"
[ "$actual" = "$driver" ] || die "podman reports storage driver '$actual', expected '$driver'"
log "podman info: driver=$actual runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}') cgroups=$(podman info --format '{{.Host.CgroupsVersion}}')"

# ---------------------------------------------------------------- smoke test: run a real container
# No registry is reachable, so build a throw-away image from the host's /bin/sh and its libraries.
SMOKE_IMG=localhost/authjwt/smoke:latest
if ! podman image exists "$SMOKE_IMG"; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/bin"
  cp -L /bin/sh "$tmp/bin/sh"
  for lib in $(ldd /bin/sh | grep -o '/[^ ]*'); do
    mkdir -p "$tmp$(dirname "$lib")"
    cp -L "$lib" "$tmp$lib"
  done
  tar -C "$tmp" -c . | podman import --quiet - "$SMOKE_IMG" >/dev/null
  rm -rf "$tmp"
  trap - EXIT
fi
out="$(podman run --rm "$SMOKE_IMG" /bin/sh -c 'echo container-ok')" || die "podman run failed (see messages above)"
[ "$out" = container-ok ] || die "unexpected smoke output: $out"
log "podman run works (storage=$driver, runtime=runc)"

# ---------------------------------------------------------------- Docker-compatible API service
ping() { curl -fsS --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }
# A service started from a directory that was deleted since (an earlier clone) still answers pings,
# but conmon inherits that working directory and every container start fails ("write child: broken
# pipe", "[conmon:e] Failed to get working directory"): restart it.
pidfile=/run/podman/authjwt-podman-service.pid
service_cwd=""
[ -f "$pidfile" ] && service_cwd="$(readlink "/proc/$(cat "$pidfile")/cwd" 2>/dev/null || true)"
if ping && [[ "$service_cwd" == *' (deleted)' ]]; then
  log "API service (pid $(cat "$pidfile")) runs in a deleted directory: restarting it"
  stale=$(cat "$pidfile")
  kill "$stale" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$stale" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$stale" 2>/dev/null || true
  rm -f "$SOCKET"
fi
if ping; then
  log "API socket already answering: $SOCKET"
else
  mkdir -p "$(dirname "$SOCKET")"
  rm -f "$SOCKET"
  log "starting: podman system service --time=0 unix://$SOCKET (log: $SERVICE_LOG)"
  # setsid + nohup: detach from this shell so it survives the script; stdin from /dev/null. Started
  # from / so that no checkout it was started from can pull its working directory away.
  cd /
  setsid nohup podman system service --time=0 "unix://$SOCKET" </dev/null >>"$SERVICE_LOG" 2>&1 &
  echo $! >"$pidfile"
  cd "$OLDPWD"
  for _ in $(seq 1 100); do
    ping && break
    sleep 0.2
  done
  ping || { tail -n 50 "$SERVICE_LOG" >&2 || true; die "podman API did not answer on $SOCKET"; }
  log "API socket answering: $SOCKET (pid $(cat /run/podman/authjwt-podman-service.pid))"
fi
log "Docker API version: $(curl -fsS --unix-socket "$SOCKET" http://d/version | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Version"), "api", d.get("ApiVersion"))')"

log "callers need:"
echo "export DOCKER_HOST=unix://$SOCKET"
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
