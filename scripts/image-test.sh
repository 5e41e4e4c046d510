#!/usr/bin/env bash
# The add-on image, built and run the way the Supervisor builds and runs it, in a real Docker engine.
#
#   1. hadolint on the Dockerfile.
#   2. dockerd is started if none runs (and stopped again at the end).
#   3. Base images no registry here can give are made locally (`debootstrap` + this machine's Rust
#      toolchain, tagged with the Dockerfile's builder name), so the Dockerfile stays what users build.
#   4. `docker build` as the Supervisor runs it: context = the add-on folder (where config.yaml is),
#      `--build-arg BUILD_VERSION=… BUILD_ARCH=amd64`, its labels. Build time, the build's peak
#      memory and the image size are printed.
#   5. The image runs as the Supervisor runs it: `--init`, /data with an options.json, /backup, /share,
#      SUPERVISOR_TOKEN, on a network made here (172.30.32.0/23), beside a container holding the
#      Home Assistant / Supervisor test double at 172.30.32.2 as `supervisor` (the Supervisor's own
#      address, from which ingress comes). It must become healthy by its own HEALTHCHECK, answer
#      ingress from 172.30.32.2 and refuse another address, back up end to end through the double
#      into /share, and the copy must decrypt with the `age` command to the archive the double made.
#
# Traffic goes only between containers this script starts, on the network it made; all are removed
# at the end. The Supervisor itself runs `docker buildx build --pull --platform linux/amd64`: the
# pull cannot work here (no outside registry) and Debian's engine has the classic builder, so both
# are left out; the Dockerfile, context, arguments and labels are the same.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
ROOT=${LIFEBOAT_TEST_ROOT:-$here/target/test-servers}
WORK=$ROOT/image
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NET=lifeboat-addon-test
TOOLS=lifeboat-test/bookworm-tools:1
log() { printf '[image-test] %s\n' "$*" >&2; }
mkdir -p "$WORK"

builder=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' Dockerfile)
version=$(sed -n 's/^version: "\(.*\)"$/\1/p' config.yaml)
slug=$(sed -n 's/^slug: \(.*\)$/\1/p' config.yaml)
name=$(sed -n 's/^name: \(.*\)$/\1/p' config.yaml)
description=$(sed -n 's/^description: \(.*\)$/\1/p' config.yaml)
# The Supervisor's name for an image it built itself.
tag="local/amd64-addon-$slug:$version"
[ -n "$builder" ] && [ -n "$version" ] && [ -n "$slug" ] || { log "cannot read the builder image, version or slug"; exit 1; }

install() {
  local want=()
  command -v dockerd >/dev/null || want+=(docker.io)
  command -v debootstrap >/dev/null || want+=(debootstrap)
  command -v age >/dev/null || want+=(age)
  command -v curl >/dev/null || want+=(curl)
  if [ ${#want[@]} -gt 0 ]; then
    log "installing ${want[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
}

started_dockerd=
start_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd (log: $WORK/dockerd.log)"
  dockerd --host unix:///var/run/docker.sock >"$WORK/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 100); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.3
  done
  log "dockerd did not start:"; tail -n 20 "$WORK/dockerd.log" >&2
  return 1
}

# One Debian bookworm root for both local images: the tools image (curl, for the double and the
# ingress stand-in) and the builder stand-in (compilers as the official rust image has them, plus
# this machine's Rust toolchain).
base_images() {
  if docker image inspect "$TOOLS" >/dev/null 2>&1 && docker image inspect "$builder" >/dev/null 2>&1; then
    return 0
  fi
  local root=$WORK/rootfs
  rm -rf "$root"
  log "debootstrap bookworm (minbase) for the local base images"
  debootstrap --variant=minbase --include=ca-certificates,curl,gcc,libc6-dev,make,pkg-config \
    bookworm "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; return 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$TOOLS" >/dev/null
  # The stand-in for the official rust image: its layout (RUSTUP_HOME, CARGO_HOME, PATH).
  local toolchain
  toolchain=$(dirname "$(dirname "$(rustup which cargo)")")
  mkdir -p "$root/usr/local/rustup/toolchains" "$root/usr/local/cargo/bin"
  cp -a "$toolchain" "$root/usr/local/rustup/toolchains/stable"
  for b in cargo rustc rustdoc; do ln -s "/usr/local/rustup/toolchains/stable/bin/$b" "$root/usr/local/cargo/bin/$b"; done
  # crates.io is reached here through a TLS-inspecting proxy: cargo trusts it through this machine's
  # bundle, kept apart from Debian's /etc/ssl/certs (which the image copies) and only in this stand-in.
  mkdir -p "$root/usr/local/share/lifeboat-stand-in"
  cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/lifeboat-stand-in/registry-ca.crt"
  tar -C "$root" -c . | docker import \
    -c 'ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV CARGO_HTTP_CAINFO=/usr/local/share/lifeboat-stand-in/registry-ca.crt' \
    -c 'LABEL lifeboat.stand-in=true' \
    - "$builder" >/dev/null
  rm -rf "$root"
  log "made $TOOLS and the stand-in $builder ($(docker run --rm "$builder" rustc --version))"
}

# The peak anonymous memory of everything Docker runs (the build's RUN steps are containers in
# Docker's cgroup), sampled twice a second into $1 until $2 disappears.
sample_memory() { # out-file stop-file
  local stat peak=0 now
  for stat in /sys/fs/cgroup/memory/docker/memory.stat /sys/fs/cgroup/docker/memory.stat; do
    [ -r "$stat" ] && break
  done
  if [ ! -r "$stat" ]; then echo "unmeasured" >"$1"; return 0; fi
  while [ -e "$2" ]; do
    # cgroup v1: total_rss counts the whole tree; v2: anon.
    now=$(awk '$1 == "total_rss" || $1 == "anon" { print $2; exit }' "$stat")
    [ -n "$now" ] && [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.5
  done
  echo "$peak" >"$1"
}

build() {
  log "hadolint Dockerfile"
  "$ROOT/venv/bin/hadolint" Dockerfile
  local args=(--tag "$tag" --file Dockerfile
    --label "io.hass.version=$version" --label "io.hass.arch=amd64" --label "io.hass.type=app"
    --label "io.hass.name=$name" --label "io.hass.description=$description"
    --build-arg "BUILD_VERSION=$version" --build-arg "BUILD_ARCH=amd64")
  [ -n "${IMAGE_NO_CACHE:-}" ] && args+=(--no-cache)
  log "docker build $tag (context: the add-on folder; log: $WORK/build.log)"
  local flag=$WORK/build.running start end
  touch "$flag"
  sample_memory "$WORK/build.peak" "$flag" &
  local sampler=$!
  start=$(date +%s)
  if ! docker build "${args[@]}" . >"$WORK/build.log" 2>&1; then
    rm -f "$flag"; wait "$sampler" || true
    log "the image did not build:"; tail -n 40 "$WORK/build.log" >&2
    return 1
  fi
  end=$(date +%s)
  rm -f "$flag"; wait "$sampler" || true
  local peak size
  peak=$(cat "$WORK/build.peak")
  size=$(docker image inspect -f '{{.Size}}' "$tag")
  [ "$peak" != unmeasured ] && peak="$((peak / 1048576)) MiB"
  printf 'image: %s, %s MB (%s MiB); build %s s; peak build memory %s%s\n' "$tag" \
    "$((size / 1000000))" "$((size / 1048576))" "$((end - start))" "$peak" \
    "$(grep -q 'Using cache' "$WORK/build.log" && echo ' (some steps cached)')" | tee "$WORK/figures.txt"
  # What the Supervisor reads off the image.
  docker image inspect -f '{{json .Config.Labels}}' "$tag" | grep -q '"io.hass.type":"app"'
}

containers=(lb-test-addon lb-test-supervisor lb-test-elsewhere)
cleanup() {
  docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  [ -n "${run_dir:-}" ] && rm -rf "$run_dir"
  if [ -n "$started_dockerd" ]; then
    kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
}

# From the double's container, at the Supervisor's address: curl with ingress's headers.
from_ingress() { # curl args…
  docker exec lb-test-supervisor curl -sS --max-time 20 \
    -H 'X-Ingress-Path: /api/hassio_ingress/t0k3n' -H 'X-Hass-Source: core.ingress' \
    -H 'X-Remote-User-Id: 1a2b' -H 'X-Remote-User-Name: tester' \
    -H 'X-Remote-User-Display-Name: Image Tester' "$@"
}

fail() {
  log "FAILED: $*"
  log "the add-on's log:"; docker logs lb-test-addon 2>&1 | tail -n 40 >&2 || true
  log "the double's log:"; docker logs lb-test-supervisor 2>&1 | tail -n 20 >&2 || true
  exit 1
}

run() {
  log "building the Supervisor double (cargo build --example ha_double)"
  cargo build -q --locked --example ha_double
  local double=$here/target/debug/examples/ha_double
  local fixture=$here/tests/data/supervisor-style/full-plain.tar
  local token=double-token-0123456789
  run_dir=$(mktemp -d)
  mkdir -p "$run_dir"/{data,backup,share}
  cp tests/data/addon/image-test-options.json "$run_dir/data/options.json"
  # The rclone destination's remote, as "Add a cloud drive" writes it: the image's own rclone runs.
  printf '[usb]\ntype = local\n' >"$run_dir/data/rclone.conf"

  docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  docker network create --subnet 172.30.32.0/23 --gateway 172.30.32.1 "$NET" >/dev/null
  # The Supervisor is `supervisor` at 172.30.32.2, where ingress comes from too.
  docker run -d --name lb-test-supervisor --network "$NET" --ip 172.30.32.2 --network-alias supervisor \
    -v "$double:/usr/local/bin/ha_double:ro" -v "$fixture:/fixture.tar:ro" \
    "$TOOLS" /usr/local/bin/ha_double 0.0.0.0:80 /fixture.tar >/dev/null
  # As the Supervisor starts an add-on: tini (init: true), stdin open, its token, the mapped folders.
  docker run -d -i --init --name lb-test-addon --hostname lifeboat --network "$NET" \
    -e "SUPERVISOR_TOKEN=$token" -e "HASSIO_TOKEN=$token" -e TZ=Europe/Berlin \
    -v "$run_dir/data:/data" -v "$run_dir/backup:/backup:ro" -v "$run_dir/share:/share" \
    "$tag" >/dev/null

  log "waiting for the add-on to become healthy by its own HEALTHCHECK"
  local state=
  for _ in $(seq 1 180); do
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' lb-test-addon)
    case "$state" in
      "running healthy") break ;;
      running*) sleep 1 ;;
      *) fail "the add-on container stopped ($state)" ;;
    esac
  done
  [ "$state" = "running healthy" ] || fail "not healthy after 180 s ($state)"
  log "healthy: $(docker inspect -f '{{(index .State.Health.Log 0).Output}}' lb-test-addon | head -c 200)"

  local page
  page=$(from_ingress -w '\n%{http_code}' http://lb-test-addon:8099/) || fail "ingress: no answer"
  [ "$(tail -n 1 <<<"$page")" = 200 ] || fail "ingress: $(tail -n 1 <<<"$page")"
  grep -q '/api/hassio_ingress/t0k3n/static/' <<<"$page" || fail "the page's links do not follow the ingress path"
  grep -q 'Image Tester' <<<"$page" || fail "the page does not name the person signed in"
  from_ingress http://lb-test-addon:8099/api/health | grep -q '"status":"ok"' || fail "the options were not taken"
  log "the panel answers ingress from 172.30.32.2"

  local other
  other=$(docker run --rm --name lb-test-elsewhere --network "$NET" --ip 172.30.33.9 "$TOOLS" \
    curl -sS --max-time 20 -o /dev/null -w '%{http_code}' http://lb-test-addon:8099/) || fail "no answer to 172.30.33.9"
  [ "$other" = 403 ] || fail "another address got HTTP $other, not 403"
  log "another address on the network (172.30.33.9) is refused: HTTP $other"

  [ "$(from_ingress -o /dev/null -w '%{http_code}' -X POST http://lb-test-addon:8099/api/backup)" = 202 ] ||
    fail "the backup was not started"
  local copy=
  for _ in $(seq 1 240); do
    runs=$(from_ingress http://lb-test-addon:8099/api/runs || true)
    if grep -q '"status":"success"' <<<"$runs"; then
      copy=$(find "$run_dir/share/lifeboat" -name '*.age' -type f 2>/dev/null | head -n 1)
      break
    fi
    grep -q '"status":"failed"' <<<"$runs" && fail "the run failed: $runs"
    sleep 0.5
  done
  [ -n "$copy" ] || fail "no successful run with a copy in /share/lifeboat: ${runs:-}"
  log "backed up through the double into /share: ${copy#"$run_dir"/}"
  ls "$run_dir/share/lifeboat/"*.manifest.json >/dev/null || fail "the copy has no manifest"
  local got want
  got=$(age -d -i tests/data/addon/image-test.agekey "$copy" | sha256sum | cut -d' ' -f1)
  want=$(sha256sum "$fixture" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "the copy decrypts to $got, not the backup the double made ($want)"
  log "the copy decrypts with the age command to the very backup the double made ($want)"
  # The same run sent it through the image's rclone too.
  local through
  through=$(find "$run_dir/share/lifeboat-rclone" -name '*.age' -type f 2>/dev/null | head -n 1)
  [ -n "$through" ] || fail "no copy came through the image's rclone into /share/lifeboat-rclone"
  got=$(age -d -i tests/data/addon/image-test.agekey "$through" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "the copy sent through rclone decrypts to $got, not $want"
  log "the image's rclone ($(docker exec lb-test-addon /usr/bin/rclone version | head -n 1)) carried a copy that decrypts to the same backup"
}

case "${1:-all}" in
  base) install; start_dockerd; base_images ;;
  build) trap cleanup EXIT; install; start_dockerd; base_images; build ;;
  run) trap cleanup EXIT; install; start_dockerd; base_images; run ;; # the image built last
  all)
    trap cleanup EXIT
    install; start_dockerd; base_images; build; run
    log "ok: built as the Supervisor builds it, started, healthy, ingress only, backed up end to end"
    ;;
  *) echo "usage: $0 [all|base|build|run]" >&2; exit 2 ;;
esac
