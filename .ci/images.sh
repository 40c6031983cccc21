#!/usr/bin/env bash
# Build the local container images the end-to-end tests need, without any container registry:
#
#   base      localhost/authjwt/debian-jre17:bookworm      debootstrap minbase bookworm + openjdk-17-jre-headless
#   keycloak  localhost/authjwt/keycloak:$KEYCLOAK_VERSION  base + keycloak-quarkus-dist zip from Maven Central
#                                                           (test/e2e/images/keycloak/Containerfile)
#   node      localhost/authjwt/node:$NODE_MAJOR-bookworm-slim  debootstrap minbase bookworm (ca-certificates) +
#                                                           the Node ELF binary from the npm `node@$NODE_MAJOR` package
#
# Usage: .ci/images.sh [base] [keycloak] [node]     (default: all; keycloak implies base)
# Idempotent: an image that already exists (by tag) is skipped; the keycloak image only when it was built
# from the current Containerfile and KC_DEV_WARMUP too (a recipe hash in its io.authjwt.recipe label), so an
# edited Containerfile is never served from an older image of the same tag. Downloads and debootstrap
# output are cached under $AUTHJWT_IMAGE_CACHE (default /var/cache/authjwt-images) so rebuilding is fast.
# Needs root and podman (run .ci/podman.sh first).
#
# Versions (KEYCLOAK_VERSION, NODE_MAJOR): .ci/versions.env.
# Env knobs:
#   KC_DEV_WARMUP        build-time options to pre-augment start-dev with (Containerfile default
#                        "KC_HEALTH_ENABLED=true", must match what the tests pass); "none" disables
#   DEBIAN_MIRROR        default: the Debian mirror from this machine's apt sources
#   AUTHJWT_IMAGE_CACHE  default /var/cache/authjwt-images
#   AUTHJWT_IMAGE_PREFIX default localhost/authjwt: the images are $AUTHJWT_IMAGE_PREFIX/{debian-jre17,keycloak,node}.
#                        Another prefix builds a separate set that never replaces (or removes) the images other
#                        runs on this machine use (.ci/cold-path.sh)
#   FORCE=1              rebuild images even if they exist (caches are still used)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$REPO_ROOT/.ci/versions.env"
CACHE="${AUTHJWT_IMAGE_CACHE:-/var/cache/authjwt-images}"
SUITE=bookworm
FORCE="${FORCE:-0}"

PREFIX="${AUTHJWT_IMAGE_PREFIX:-localhost/authjwt}"
BASE_IMAGE="${PREFIX}/debian-jre17:${SUITE}"
KEYCLOAK_IMAGE="${PREFIX}/keycloak:${KEYCLOAK_VERSION}"
NODE_IMAGE="${PREFIX}/node:${NODE_MAJOR}-${SUITE}-slim"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and rootful podman)"
command -v podman >/dev/null || die "podman not installed: run .ci/podman.sh first"
command -v debootstrap >/dev/null || die "debootstrap not installed: run .ci/podman.sh first"
# shellcheck source=container-cli.sh
source "$REPO_ROOT/.ci/container-cli.sh"   # image_id, label (on podman: checked above)

mkdir -p "$CACHE"/{rootfs,debs,downloads,tmp}
# one run at a time (shared cache); then leftovers of killed runs can go
exec 9>"$CACHE/.lock"
flock -n 9 || { log "another .ci/images.sh is running; waiting"; flock 9; }
# never rm -rf through a mount that a killed debootstrap left behind (e.g. DIR/proc)
safe_rm() {
  local d m
  for d in "$@"; do
    [ -e "$d" ] || continue
    d="$(readlink -f "$d")"
    awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while IFS= read -r m; do umount -l "$m" || true; done
    rm -rf "$d"
  done
}
safe_rm "$CACHE"/tmp/*
RUN_TMP="$(mktemp -d "$CACHE/tmp/run.XXXXXX")"
trap 'safe_rm "$RUN_TMP"' EXIT
mktmp() { mktemp -d "$RUN_TMP/$1.XXXXXX"; }

image_exists() { [ "$FORCE" != 1 ] && podman image exists "$1"; }
# after a rebuild (FORCE, or a changed recipe): drop the image the tag pointed to before, unless a container still uses it
drop_old() {
  local old="$1" tag="$2"
  [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ] || return 0
  if podman rmi "$old" >/dev/null 2>&1; then log "removed previous image ${old:0:12}"; else log "kept previous image ${old:0:12} (in use)"; fi
}
image_size() { podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1000000 }'; }

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local m
  # deb822 sources (URIs: ...) first, then one-line sources (deb URL suite ...); skip the security archive
  m="$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{ for (i = 2; i <= NF; i++) print $i }'
          grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }'
        } | grep -v -e security -e '^$' | grep '/debian/\?$' | sed -n 1p || true)"
  [ -n "$m" ] || die "no Debian mirror found in apt sources; set DEBIAN_MIRROR"
  echo "${m%/}"
}

# make_rootfs NAME PKG,PKG -> prints path of a cached, slimmed rootfs tarball
make_rootfs() {
  local name="$1" include="$2" key tarball dir t0
  key="$(printf '%s %s %s' "$SUITE" "$include" "v1" | sha256sum | cut -c1-12)"
  tarball="$CACHE/rootfs/${name}-${SUITE}-${key}.tar"
  if [ -f "$tarball" ]; then
    log "rootfs $name: cached $tarball"
    echo "$tarball"; return
  fi
  local mirror; mirror="$(debian_mirror)"
  dir="$(mktmp "rootfs-$name")"
  t0="$(now)"
  log "rootfs $name: debootstrap --variant=minbase --include=$include $SUITE ($mirror) ..."
  # --cache-dir keeps the .debs, so a re-bootstrap (cache key change) downloads nothing again
  if ! debootstrap --variant=minbase --include="$include" --cache-dir="$CACHE/debs" \
       "$SUITE" "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1; then
    tail -n 40 "$dir/debootstrap.log" >&2
    [ -f "$dir/root/debootstrap/debootstrap.log" ] && tail -n 40 "$dir/root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed"
  fi
  log "rootfs $name: debootstrap took $(elapsed "$t0")"
  local r="$dir/root"
  # slim it down like the official *-slim images: no apt lists/caches, docs, man pages, locales
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
         "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian/* \
         "$r"/usr/share/locale/* "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/var/cache/debconf/*-old \
         "$r"/var/lib/dpkg/*-old "$r"/tmp/* "$r"/var/tmp/* "$r"/debootstrap
  mkdir -p "$r/etc/dpkg/dpkg.cfg.d"
  cat >"$r/etc/dpkg/dpkg.cfg.d/authjwt-slim" <<'EOF'
# keep images small if something is apt-get installed later (like Docker's debian:*-slim)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  : >"$r/etc/resolv.conf"; : >"$r/etc/hostname"; : >"$r/etc/machine-id" 2>/dev/null || true
  # device nodes, /proc and /sys are provided by the container runtime
  tar -C "$r" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  safe_rm "$dir"
  log "rootfs $name: $(du -h "$tarball" | cut -f1) tarball in $(elapsed "$t0")"
  echo "$tarball"
}

build_base() {
  if image_exists "$BASE_IMAGE"; then log "$BASE_IMAGE exists, skipping"; return; fi
  local t0 tarball arch old; t0="$(now)"; old="$(image_id "$BASE_IMAGE")"
  arch="$(dpkg --print-architecture)"
  tarball="$(make_rootfs debian-jre17 openjdk-17-jre-headless,ca-certificates)"
  podman import --quiet \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-${arch}" \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap minbase $SUITE + openjdk-17-jre-headless" \
    "$tarball" "$BASE_IMAGE" >/dev/null
  # Read the whole output before keeping its first line: `| head -n1` under pipefail closes the pipe early,
  # podman's next write fails and the pipeline fails (exit 126 on a cold machine).
  local java_version
  java_version="$(podman run --rm "$BASE_IMAGE" java -version 2>&1)"
  log "  ${java_version%%$'\n'*}"
  drop_old "$old" "$BASE_IMAGE"
  log "built $BASE_IMAGE ($(image_size "$BASE_IMAGE")) in $(elapsed "$t0")"
}

fetch_keycloak_zip() {
  local zip="$CACHE/downloads/keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip"
  if [ -f "$zip" ]; then echo "$zip"; return; fi
  if ! command -v mvn >/dev/null; then
    log "installing maven (apt)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  fi
  local t0 d; t0="$(now)"; d="$(mktmp kc-download)"
  log "fetching org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip via maven ..."
  (cd "$d" && mvn -B -q dependency:copy \
      -Dartifact="org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip" \
      -DoutputDirectory="$d/out" >"$d/mvn.log" 2>&1) || { tail -n 40 "$d/mvn.log" >&2; die "maven download failed"; }
  mv "$d/out/keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip" "$zip"
  rm -rf "$d"
  log "downloaded $(du -h "$zip" | cut -f1) in $(elapsed "$t0")"
  echo "$zip"
}

# What the keycloak image is built from besides the zip (keyed by KEYCLOAK_VERSION): Containerfile, warm-up.
keycloak_recipe() {
  { cat "$REPO_ROOT/test/e2e/images/keycloak/Containerfile"
    echo "KEYCLOAK_VERSION=$KEYCLOAK_VERSION KC_DEV_WARMUP=${KC_DEV_WARMUP-<Containerfile default>}"
  } | sha256sum | cut -c1-12
}

build_keycloak() {
  local t0 zip ctx old recipe; recipe="$(keycloak_recipe)"
  if image_exists "$KEYCLOAK_IMAGE" && [ "$(label "$KEYCLOAK_IMAGE" io.authjwt.recipe)" = "$recipe" ]; then
    log "$KEYCLOAK_IMAGE exists (recipe $recipe), skipping"; return
  fi
  podman image exists "$BASE_IMAGE" || build_base
  t0="$(now)"; old="$(image_id "$KEYCLOAK_IMAGE")"
  zip="$(fetch_keycloak_zip)"
  command -v unzip >/dev/null || die "unzip missing: run .ci/podman.sh"
  ctx="$(mktmp kc-context)"
  unzip -q "$zip" -d "$ctx"
  [ -d "$ctx/keycloak-${KEYCLOAK_VERSION}" ] || die "zip did not contain keycloak-${KEYCLOAK_VERSION}/"
  log "podman build $KEYCLOAK_IMAGE (recipe $recipe) ..."
  podman build --quiet \
    -f "$REPO_ROOT/test/e2e/images/keycloak/Containerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "KEYCLOAK_VERSION=$KEYCLOAK_VERSION" \
    ${KC_DEV_WARMUP+--build-arg "KC_DEV_WARMUP=$KC_DEV_WARMUP"} \
    --label "io.authjwt.recipe=$recipe" \
    --layers=false \
    -t "$KEYCLOAK_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
  drop_old "$old" "$KEYCLOAK_IMAGE"
  log "built $KEYCLOAK_IMAGE ($(image_size "$KEYCLOAK_IMAGE")) in $(elapsed "$t0")"
}

# Finds the real Node ELF binary in the npm `node` package (bin/node may be a symlink or a shim)
fetch_node_binary() {
  local cached="$CACHE/downloads/node-${NODE_MAJOR}"
  if [ -x "$cached/node" ] && [ -f "$cached/version" ]; then echo "$cached"; return; fi
  command -v npm >/dev/null || die "npm is needed to fetch node@${NODE_MAJOR} from the npm registry"
  local t0 d bin; t0="$(now)"; d="$(mktmp node-npm)"
  log "npm i -g --prefix ... node@${NODE_MAJOR} ..."
  npm i -g --silent --no-audit --no-fund --prefix "$d/prefix" "node@${NODE_MAJOR}" >"$d/npm.log" 2>&1 \
    || { tail -n 40 "$d/npm.log" >&2; die "npm install node@${NODE_MAJOR} failed"; }
  bin=""
  while IFS= read -r f; do
    if [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then bin="$f"; break; fi
  done < <(find -L "$d/prefix" -type f -name node -size +10M 2>/dev/null)
  [ -n "$bin" ] || die "no ELF node binary found under $d/prefix"
  bin="$(readlink -f "$bin")"
  local ver; ver="$("$bin" --version)"
  case "$ver" in v"${NODE_MAJOR}".*) ;; *) die "expected node v${NODE_MAJOR}.x, got $ver from $bin";; esac
  mkdir -p "$cached.part"
  cp -L "$bin" "$cached.part/node"
  echo "$ver" >"$cached.part/version"
  rm -rf "$cached"; mv "$cached.part" "$cached"
  rm -rf "$d"
  log "node $ver binary ($(du -h "$cached/node" | cut -f1)) from $bin in $(elapsed "$t0")"
  echo "$cached"
}

build_node() {
  if image_exists "$NODE_IMAGE"; then log "$NODE_IMAGE exists, skipping"; return; fi
  local t0 tarball nodedir ver r old; t0="$(now)"; old="$(image_id "$NODE_IMAGE")"
  tarball="$(make_rootfs debian-slim ca-certificates)"
  nodedir="$(fetch_node_binary)"
  ver="$(cat "$nodedir/version")"
  r="$(mktmp node-root)"
  tar -C "$r" -xf "$tarball"
  install -m 0755 "$nodedir/node" "$r/usr/local/bin/node"
  ln -sf node "$r/usr/local/bin/nodejs"
  # same entrypoint as the official node image: `docker run img -e '...'` / `img script.js` run node
  cat >"$r/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# Run command with node if the first argument contains a "-" or is not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 0755 "$r/usr/local/bin/docker-entrypoint.sh"
  # user `node` (uid/gid 1000) as in the official image
  grep -q '^node:' "$r/etc/group" || echo 'node:x:1000:' >>"$r/etc/group"
  grep -q '^node:' "$r/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$r/etc/passwd"
  grep -q '^node:' "$r/etc/shadow" || echo 'node:!:19000:0:99999:7:::' >>"$r/etc/shadow"
  mkdir -p "$r/home/node"; chown 1000:1000 "$r/home/node"
  tar -C "$r" --numeric-owner -c . | podman import --quiet \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV NODE_VERSION=${ver#v}" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["node"]' \
    --message "debootstrap minbase $SUITE + node $ver" \
    - "$NODE_IMAGE" >/dev/null
  rm -rf "$r"
  local got; got="$(podman run --rm "$NODE_IMAGE" node --version)"
  [ "$got" = "$ver" ] || die "node --version in $NODE_IMAGE printed '$got', expected $ver"
  drop_old "$old" "$NODE_IMAGE"
  log "built $NODE_IMAGE (node $got, $(image_size "$NODE_IMAGE")) in $(elapsed "$t0")"
}

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(base keycloak node)
T0="$(now)"
for t in "${targets[@]}"; do
  case "$t" in
    base) build_base ;;
    keycloak) build_keycloak ;;
    node) build_node ;;
    *) die "unknown target '$t' (expected: base keycloak node)" ;;
  esac
done
log "done in $(elapsed "$T0"):"
for img in "$BASE_IMAGE" "$KEYCLOAK_IMAGE" "$NODE_IMAGE"; do
  if podman image exists "$img"; then log "  $img  $(image_size "$img")"; fi
done
