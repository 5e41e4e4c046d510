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
#      /addon_configs, SUPERVISOR_TOKEN, on a network made here (172.30.32.0/23), beside a container
#      holding the Home Assistant / Supervisor test double at 172.30.32.2 as `supervisor` (the
#      Supervisor's own address, from which ingress comes) and two WebDAV servers served by the
#      image's own rclone (one over HTTPS with a certificate nobody signed). The field scenario: it
#      must become healthy by its own HEALTHCHECK, answer ingress from 172.30.32.2 and refuse another
#      address, import a remote on the drives page (and refuse the unsigned server), back up twice
#      through the double to a folder, a local rclone remote and the WebDAV one, back up a dir:
#      source of /addon_configs asked for on stdin, prune (last=1), and pass a restore drill asked
#      for on the panel; every copy must decrypt with the `age` command to what was backed up.
#   6. On amd64 that scenario runs with every capability dropped and under strace (this machine's,
#      run in the container through its own loader), and every file, program and socket it used is
#      checked against apparmor.txt with AppArmor's rules (tests/apparmor.rs): this kernel has no
#      AppArmor to enforce it.
#   7. The aarch64 image is built by the release path (scripts/release.sh: cross-compiled, assembled
#      from Debian's arm64 packages) and runs the same scenario under emulation (binfmt_misc and
#      Debian's qemu-user-static); then the library's unit tests, built for aarch64, run under qemu.
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
  command -v strace >/dev/null || want+=(strace)
  command -v apparmor_parser >/dev/null || want+=(apparmor)
  command -v openssl >/dev/null || want+=(openssl)
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
  log "hadolint Dockerfile release/builder.Dockerfile release/image.Dockerfile"
  "$ROOT/venv/bin/hadolint" Dockerfile release/builder.Dockerfile release/image.Dockerfile
  local args=(--tag "$tag" --file Dockerfile
    --label "io.hass.version=$version" --label "io.hass.arch=amd64" --label "io.hass.type=app"
    --label "io.hass.name=$name" --label "io.hass.description=$description"
    --build-arg "BUILD_VERSION=$version" --build-arg "BUILD_ARCH=amd64")
  [ -n "${IMAGE_NO_CACHE:-}" ] && args+=(--no-cache)
  # A board with more cores would build with more jobs only if told: BUILD_JOBS=4 measures that.
  [ -n "${BUILD_JOBS:-}" ] && args+=(--build-arg "BUILD_JOBS=$BUILD_JOBS")
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

containers=(lb-test-addon lb-test-supervisor lb-test-elsewhere lb-test-dav lb-test-davs)
attach_pid=
cleanup() {
  [ -n "$attach_pid" ] && kill "$attach_pid" 2>/dev/null || true
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
  docker exec lb-test-supervisor curl -sS --max-time 60 \
    -H 'X-Ingress-Path: /api/hassio_ingress/t0k3n' -H 'X-Hass-Source: core.ingress' \
    -H 'X-Remote-User-Id: 1a2b' -H 'X-Remote-User-Name: tester' \
    -H 'X-Remote-User-Display-Name: Image Tester' "$@"
}

# A page's form token (every form posts it).
form_token() { # path
  local page
  page=$(from_ingress "http://lb-test-addon:8099$1" || true)
  { grep -m 1 -o 'name="csrf" value="[^"]*"' <<<"$page" || true; } | sed 's/.*value="//; s/"$//'
}

fail() {
  log "FAILED: $*"
  log "the add-on's log:"; docker logs lb-test-addon 2>&1 | tail -n 40 >&2 || true
  log "the double's log:"; docker logs lb-test-supervisor 2>&1 | tail -n 20 >&2 || true
  exit 1
}

# strace from this machine, run inside the container through its own loader, to record what the
# image does (AppArmor's view of it: files, programs, sockets). It traces only the calls the
# profile mediates, with -y so each descriptor shows the path the kernel resolved.
STRACE_CALLS=execve,execveat,open,openat,openat2,creat,mkdir,mkdirat,rmdir,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,chmod,fchmodat,chown,lchown,fchownat,truncate,mmap,flock,fcntl,socket,clone,clone3,fork,vfork
strace_bundle() {
  local d=$WORK/strace
  rm -rf "$d" && mkdir -p "$d/lib"
  cp /usr/bin/strace "$d/strace"
  ldd /usr/bin/strace | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | xargs -I{} cp -L {} "$d/lib/"
  cp -L "$(ldd /usr/bin/strace | awk '$1 ~ /^\/.*ld-linux/ { print $1 }')" "$d/ld.so"
}
traced() { # name program args… : the words that run a program under strace in the container
  local name=$1; shift
  printf '%s\n' /.strace/ld.so --library-path /.strace/lib /.strace/strace -f -qq -y -z -s 4096 \
    --seccomp-bpf -e "trace=$STRACE_CALLS" -o "/.trace/$name.trace" "$@"
}

# Writes one command line to the add-on's stdin (as hassio.app_stdin does, through Docker's attach).
command_line() { printf '%s\n' "$1" >&7; }

# The newest runs, as the panel's API gives them.
runs_json() { from_ingress http://lb-test-addon:8099/api/runs || true; }

# Waits until $1 successful runs are recorded (any source), or fails.
wait_runs() { # count what
  local want=$1 runs n
  for _ in $(seq 1 600); do
    runs=$(runs_json)
    n=$({ grep -o '"status":"success"' <<<"$runs" || true; } | wc -l)
    [ "$n" -ge "$want" ] && return 0
    grep -q '"status":"failed"' <<<"$runs" && fail "a run failed ($2): $runs"
    sleep 0.5
  done
  fail "no $want successful runs after 300 s ($2): $runs"
}

run() { # arch image [record]
  local arch=$1 tag=$2 record=${3:-} platform begun
  begun=$(date +%s)
  platform=linux/$(case "$arch" in aarch64) echo arm64 ;; *) echo amd64 ;; esac)
  log "[$arch] the image runs as the Supervisor runs it ($platform${record:+, every access recorded})"
  cargo build -q --locked --example ha_double
  local double=$here/target/debug/examples/ha_double
  local fixture=$here/tests/data/supervisor-style/full-plain.tar
  local token=double-token-0123456789
  run_dir=$(mktemp -d)
  mkdir -p "$run_dir"/{data,backup,share,addon_configs/a0d7b954_nodered,dav,traces}
  printf 'flows: []\n' >"$run_dir/addon_configs/a0d7b954_nodered/settings.yaml"
  cp tests/data/addon/image-test-options.json "$run_dir/data/options.json"
  # A WebDAV server for the rclone: remote, served by the image's own rclone in the test network.
  local dav_pass
  dav_pass=$(docker run --rm --platform "$platform" --entrypoint /usr/bin/rclone "$tag" obscure davpass)
  # The remotes as "Add a cloud drive" writes them: a local one and the WebDAV server.
  printf '[usb]\ntype = local\n\n[dav]\ntype = webdav\nurl = http://lb-test-dav:8080\nvendor = other\nuser = dav\npass = %s\n' \
    "$dav_pass" >"$run_dir/data/rclone.conf"
  # And one over HTTPS whose certificate no authority signed: rclone must check it and refuse.
  mkdir -p "$run_dir/certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lb-test-davs -addext subjectAltName=DNS:lb-test-davs \
    -keyout "$run_dir/certs/key.pem" -out "$run_dir/certs/cert.pem" 2>/dev/null
  chmod 0644 "$run_dir/certs/key.pem"

  docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  docker network create --subnet 172.30.32.0/23 --gateway 172.30.32.1 "$NET" >/dev/null
  # The Supervisor is `supervisor` at 172.30.32.2, where ingress comes from too.
  docker run -d --name lb-test-supervisor --network "$NET" --ip 172.30.32.2 --network-alias supervisor \
    -v "$double:/usr/local/bin/ha_double:ro" -v "$fixture:/fixture.tar:ro" \
    "$TOOLS" /usr/local/bin/ha_double 0.0.0.0:80 /fixture.tar >/dev/null
  docker run -d --name lb-test-dav --platform "$platform" --network "$NET" --ip 172.30.32.20 \
    -v "$run_dir/dav:/srv" --entrypoint /usr/bin/rclone "$tag" \
    serve webdav /srv --addr 0.0.0.0:8080 --user dav --pass davpass --dir-cache-time 1s >/dev/null
  docker run -d --name lb-test-davs --platform "$platform" --network "$NET" --ip 172.30.32.21 \
    -v "$run_dir/dav:/srv" -v "$run_dir/certs:/certs:ro" --entrypoint /usr/bin/rclone "$tag" \
    serve webdav /srv --addr 0.0.0.0:8443 --cert /certs/cert.pem --key /certs/key.pem >/dev/null
  # As the Supervisor starts an add-on: tini (init: true), stdin open, its token, the mapped folders.
  # Recorded, it runs with no capability at all (AppArmor grants none: what needs one fails here)
  # and under strace.
  local how=() what=(serve)
  if [ -n "$record" ]; then
    strace_bundle
    how=(--cap-drop ALL -v "$WORK/strace:/.strace:ro" -v "$run_dir/traces:/.trace" --entrypoint /.strace/ld.so)
    mapfile -t what < <(traced main /usr/bin/lifeboat serve)
    what=("${what[@]:1}")
  fi
  docker run -d -i --init --name lb-test-addon --hostname lifeboat --network "$NET" --platform "$platform" \
    -e "SUPERVISOR_TOKEN=$token" -e "HASSIO_TOKEN=$token" -e TZ=Europe/Berlin \
    -v "$run_dir/data:/data" -v "$run_dir/backup:/backup:ro" -v "$run_dir/share:/share" \
    -v "$run_dir/addon_configs:/addon_configs:ro" "${how[@]}" "$tag" "${what[@]}" >/dev/null
  mkfifo "$run_dir/stdin"
  docker attach --sig-proxy=false lb-test-addon <"$run_dir/stdin" >/dev/null 2>&1 &
  attach_pid=$!
  exec 7>"$run_dir/stdin"

  log "[$arch] waiting for the add-on to become healthy by its own HEALTHCHECK"
  local state= started
  started=$(date +%s)
  for _ in $(seq 1 300); do
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' lb-test-addon)
    case "$state" in
      "running healthy") break ;;
      running*) sleep 1 ;;
      *) fail "the add-on container stopped ($state)" ;;
    esac
  done
  [ "$state" = "running healthy" ] || fail "not healthy after 300 s ($state)"
  log "[$arch] healthy after $(($(date +%s) - started)) s: $(docker inspect -f '{{(index .State.Health.Log 0).Output}}' lb-test-addon | head -c 200)"
  if [ -n "$record" ]; then
    local health=()
    mapfile -t health < <(traced exec-health /usr/bin/lifeboat health)
    docker exec lb-test-addon "${health[@]}" >/dev/null || fail "lifeboat health failed under strace"
  fi

  local page
  page=$(from_ingress -w '\n%{http_code}' http://lb-test-addon:8099/) || fail "ingress: no answer"
  [ "$(tail -n 1 <<<"$page")" = 200 ] || fail "ingress: $(tail -n 1 <<<"$page")"
  grep -q '/api/hassio_ingress/t0k3n/static/' <<<"$page" || fail "the page's links do not follow the ingress path"
  grep -q 'Image Tester' <<<"$page" || fail "the page does not name the person signed in"
  from_ingress http://lb-test-addon:8099/api/health | grep -q '"status":"ok"' || fail "the options were not taken: $(from_ingress http://lb-test-addon:8099/api/health)"
  log "[$arch] the panel answers ingress from 172.30.32.2"

  local other
  other=$(docker run --rm --name lb-test-elsewhere --network "$NET" --ip 172.30.33.9 "$TOOLS" \
    curl -sS --max-time 20 -o /dev/null -w '%{http_code}' http://lb-test-addon:8099/) || fail "no answer to 172.30.33.9"
  [ "$other" = 403 ] || fail "another address got HTTP $other, not 403"
  log "[$arch] another address on the network (172.30.33.9) is refused: HTTP $other"

  # The drives page: a remote pasted in is tried (rclone lists it) and written to rclone.conf.
  local csrf section
  csrf=$(form_token /drives)
  [ -n "$csrf" ] || fail "the drives page has no form token"
  section=$(printf '[dav2]\ntype = webdav\nurl = http://lb-test-dav:8080\nvendor = other\nuser = dav\npass = %s\n' "$dav_pass")
  from_ingress -o /dev/null --data-urlencode "csrf=$csrf" --data-urlencode "section=$section" \
    --data-urlencode name=dav2 --data-urlencode folder=imported http://lb-test-addon:8099/drives/import ||
    fail "the drives page did not answer the import"
  grep -q '^\[dav2\]' "$run_dir/data/rclone.conf" || fail "the imported remote is not in rclone.conf: $(docker logs lb-test-addon 2>&1 | grep -i rclone | tail -n 5)"
  grep -q '^\[dav\]' "$run_dir/data/rclone.conf" || fail "the import lost the remotes that were there"
  log "[$arch] the drives page imported a WebDAV remote (rclone tried it) beside the others"
  local refused
  refused=$(from_ingress --data-urlencode "csrf=$csrf" --data-urlencode "section=$(printf '[tls]\ntype = webdav\nurl = https://lb-test-davs:8443\nvendor = other\n')" \
    --data-urlencode name=tls --data-urlencode folder=imported http://lb-test-addon:8099/drives/import) ||
    fail "the drives page did not answer the second import"
  grep -qi 'certificate' <<<"$refused" || fail "a server whose certificate nobody signed was not refused for it"
  grep -q '^\[tls\]' "$run_dir/data/rclone.conf" && fail "a remote that failed its test was written to rclone.conf"
  log "[$arch] a WebDAV server over HTTPS with a certificate no authority signed is refused, and not written"

  # Two backups through the double: to the folder, to a local rclone remote, to the WebDAV remote.
  local n
  for n in 1 2; do
    [ "$(from_ingress -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' \
      http://lb-test-addon:8099/api/backup)" = 202 ] || fail "backup $n was not started"
    wait_runs "$n" "backup $n"
  done
  # The dir: source of /addon_configs, asked for on stdin as an automation asks.
  command_line '{"command": "backup", "sources": ["configs"]}'
  wait_runs 3 "the configs source"
  local copy= through= dav=
  copy=$(find "$run_dir/share/lifeboat" -name '*.age' -type f 2>/dev/null | head -n 1)
  [ -n "$copy" ] || fail "no copy in /share/lifeboat: $(runs_json)"
  log "[$arch] backed up through the double into /share: ${copy#"$run_dir"/}"
  ls "$run_dir/share/lifeboat/"*.manifest.json >/dev/null || fail "the copy has no manifest"
  local got want
  want=$(sha256sum "$fixture" | cut -d' ' -f1)
  for c in $(find "$run_dir/share/lifeboat" "$run_dir/share/lifeboat-rclone" "$run_dir/dav" -name '*.age' -type f); do
    got=$(age -d -i tests/data/addon/image-test.agekey "$c" | tar -tf - 2>/dev/null | head -n 1 || true)
    case "$c" in
      *configs*) [ -n "$got" ] || fail "the configs copy $c does not decrypt to a tar" ;;
      *)
        got=$(age -d -i tests/data/addon/image-test.agekey "$c" | sha256sum | cut -d' ' -f1)
        [ "$got" = "$want" ] || fail "$c decrypts to $got, not the backup the double made ($want)"
        ;;
    esac
  done
  through=$(find "$run_dir/share/lifeboat-rclone" -name '*.age' -type f 2>/dev/null | head -n 1)
  dav=$(find "$run_dir/dav" -name '*.age' -type f 2>/dev/null | head -n 1)
  [ -n "$through" ] || fail "no copy came through the image's rclone into /share/lifeboat-rclone"
  [ -n "$dav" ] || fail "no copy reached the WebDAV server through rclone"
  find "$run_dir/share/lifeboat" -name '*.age' | grep -q configs || fail "the configs source left no copy"
  log "[$arch] every copy decrypts with the age command to the very backup the double made ($want)"
  log "[$arch] rclone ($(docker exec lb-test-addon /usr/bin/rclone version | head -n 1)) carried copies to a local remote and to WebDAV"

  # A retention pass (last=1 in the options): the first backup's copies go everywhere.
  command_line '{"command": "prune"}'
  for _ in $(seq 1 120); do
    [ "$(find "$run_dir/share/lifeboat" -name '*.age' ! -name '*configs*' | wc -l)" -le 1 ] &&
      [ "$(find "$run_dir/dav" -name '*.age' | wc -l)" -le 2 ] && break
    sleep 0.5
  done
  [ "$(find "$run_dir/share/lifeboat" -name '*.age' ! -name '*configs*' | wc -l)" = 1 ] ||
    fail "retention left $(find "$run_dir/share/lifeboat" -name '*.age' ! -name '*configs*' | wc -l) backups in /share/lifeboat, not 1"
  log "[$arch] a retention pass kept the newest backup on each destination"

  # A restore drill from the panel, with the kit's age identity pasted in.
  local link answer
  from_ingress http://lb-test-addon:8099/copies >"$WORK/copies.html" || true
  link=$(grep -o '/copies/share/[^"/]*/restore' "$WORK/copies.html" | grep -v configs | head -n 1 || true)
  [ -n "$link" ] || fail "the copies page offers no restore for the folder's copy (page: $WORK/copies.html)"
  # The queue takes one job at a time: while the prune (or anything else) waits, it says busy.
  for _ in $(seq 1 120); do
    csrf=$(form_token "$link")
    answer=$(from_ingress -w '\n%{http_code} %{redirect_url}' --data-urlencode "csrf=$csrf" --data-urlencode mode=drill \
      --data-urlencode "identity=$(grep AGE-SECRET-KEY tests/data/addon/image-test.agekey)" \
      "http://lb-test-addon:8099$link") || fail "the drill was not started"
    case "$(tail -n 1 <<<"$answer")" in
      *notice=drilling*) break ;;
      *notice=busy*) sleep 1 ;;
      *) fail "the drill was not started: $(tail -n 1 <<<"$answer") $(head -c 600 <<<"$answer")" ;;
    esac
  done
  grep -q 'notice=drilling' <<<"$(tail -n 1 <<<"$answer")" || fail "the queue stayed busy for 120 s"
  local said
  for _ in $(seq 1 240); do
    said=$(docker logs lb-test-addon 2>&1 || true)
    grep -q 'Restore drill passed' <<<"$said" && break
    grep -q 'drilling .*:' <<<"$said" && fail "the drill failed: $(grep drilling <<<"$said" | tail -n 1)"
    sleep 0.5
  done
  grep -q 'Restore drill passed' <<<"$said" || fail "no drill verdict after 120 s"
  log "[$arch] $(grep -o 'Restore drill passed[^,]*' <<<"$said" | tail -n 1) from the panel"

  exec 7>&-
  kill "$attach_pid" 2>/dev/null || true
  attach_pid=
  if [ -n "$record" ]; then
    # The main process must end for strace to write its last lines.
    docker stop -t 20 lb-test-addon >/dev/null
    rm -rf "$WORK/apparmor" && cp -a "$run_dir/traces" "$WORK/apparmor"
    log "[$arch] checking every recorded access against apparmor.txt (tests/apparmor.rs)"
    LIFEBOAT_APPARMOR_TRACES=$WORK/apparmor cargo test -q --locked --test tests apparmor::every_access_of_the_fresh -- --ignored ||
      fail "the AppArmor profile would refuse what the image does (record: $WORK/apparmor/record.txt)"
    log "[$arch] $(wc -l <"$WORK/apparmor/record.txt") distinct accesses recorded, every one allowed by the profile"
  fi
  log "[$arch] the whole scenario took $(($(date +%s) - begun)) s"
  docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$run_dir"; run_dir=
}

# arm64 programs run here under emulation: binfmt_misc mounted and qemu-aarch64 registered
# (fix-binary, so containers need no emulator inside). Only what is missing is added.
emulation() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  command -v update-binfmts >/dev/null && [ -e /usr/share/binfmts/qemu-aarch64 ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support >/dev/null
  }
  # The package may have registered it as it installed (it does when binfmt_misc is mounted).
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { log "qemu-aarch64 could not be registered with binfmt_misc"; return 1; }
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { log "qemu-aarch64 is registered without fix-binary"; return 1; }
}

# The aarch64 image, by the release path (scripts/release.sh): cross-compiled here, assembled from
# Debian's arm64 packages; tagged as release.sh tags it.
arm_tag="lifeboat-release/aarch64-addon-$slug:$version"
build_aarch64() { scripts/release.sh image aarch64; }

case "${1:-all}" in
  base) install; start_dockerd; base_images ;;
  build) trap cleanup EXIT; install; start_dockerd; base_images; build ;;
  build-aarch64) trap cleanup EXIT; install; start_dockerd; build_aarch64 ;;
  run) trap cleanup EXIT; install; start_dockerd; base_images; run amd64 "$tag" record ;; # the image built last
  run-aarch64) trap cleanup EXIT; install; start_dockerd; base_images; emulation; run aarch64 "$arm_tag" ;;
  unit-aarch64) trap cleanup EXIT; install; start_dockerd; scripts/release.sh unit-tests aarch64 ;;
  all)
    trap cleanup EXIT
    install; start_dockerd; base_images; build; run amd64 "$tag" record
    log "ok (amd64): built as the Supervisor builds it, started, healthy, ingress only, backed up end to end, every access allowed by the AppArmor profile"
    emulation; build_aarch64; run aarch64 "$arm_tag"
    log "ok (aarch64): built by the release path, run under emulation, healthy, ingress only, backed up end to end"
    scripts/release.sh unit-tests aarch64
    log "ok (aarch64): the library's unit tests pass under qemu"
    ;;
  *) echo "usage: $0 [all|base|build|build-aarch64|run|run-aarch64|unit-aarch64]" >&2; exit 2 ;;
esac
