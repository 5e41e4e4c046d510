#!/usr/bin/env bash
# The release path: the add-on's ready-made images, one per architecture, built on one x86-64
# machine. The tests (scripts/image-test.sh) build the aarch64 image with these very steps; the
# GitHub workflow (.github/workflows/release.yaml) runs this script and pushes what it built.
#
#   scripts/release.sh builder            the builder image (release/builder.Dockerfile)
#   scripts/release.sh binary ARCH        target/release-build/ARCH/lifeboat, cross-compiled there
#   scripts/release.sh image ARCH         binary + rootfs + image, tagged $REGISTRY/ARCH-addon-lifeboat:VERSION
#   scripts/release.sh unit-tests ARCH    the library's unit tests built for ARCH, run under qemu
#   scripts/release.sh push ARCH…         docker push of the images built (REGISTRY must be set)
#   scripts/release.sh all                builder, then both images
#
# ARCH is the Supervisor's name: amd64 or aarch64. The binary is built by Debian trixie's Rust
# (rustc-web) in the builder, with the release profile and glibc linked in (crt-static); rclone
# and the libraries it links come from Debian's package of that architecture. The image is the
# Dockerfile's final stage (release/image.Dockerfile repeats it; a test keeps the two alike).
#
# Where no registry gives debian:trixie-slim (this machine kind), a stand-in is made locally with
# debootstrap, as image-test.sh does for the Rust image; it carries this machine's CA bundle for
# cargo only (CARGO_HTTP_CAINFO), never into an image users get.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
OUT=${LIFEBOAT_RELEASE_DIR:-$here/target/release-build}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Not "local": the Supervisor tags what it builds on the device local/ARCH-addon-SLUG.
REGISTRY=${REGISTRY:-lifeboat-release}
JOBS=${JOBS:-$(nproc)}
version=$(sed -n 's/^version: "\(.*\)"$/\1/p' config.yaml)
slug=$(sed -n 's/^slug: \(.*\)$/\1/p' config.yaml)
base=$(sed -n 's/^ARG DEBIAN=\(.*\)$/\1/p' release/builder.Dockerfile)
# The builder's tag changes with its Dockerfile, so an old builder is never reused by mistake.
builder="lifeboat-build/release-builder:$(sha256sum release/builder.Dockerfile | cut -c1-12)"
log() { printf '[release] %s\n' "$*" >&2; }
mkdir -p "$OUT"

triple() {
  case "$1" in
    amd64) echo x86_64-unknown-linux-gnu ;;
    aarch64) echo aarch64-unknown-linux-gnu ;;
    *) log "unknown architecture '$1': amd64 or aarch64"; exit 2 ;;
  esac
}
# Debian's and Docker's names for the same architecture.
debian_arch() { case "$1" in amd64) echo amd64 ;; aarch64) echo arm64 ;; esac; }
image_tag() { echo "$REGISTRY/$1-addon-$slug:$version"; }

stand_in_base() {
  docker image inspect "$base" >/dev/null 2>&1 && return 0
  docker pull -q "$base" >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local root=$OUT/trixie-root
  rm -rf "$root"
  log "no registry gives $base here: debootstrap trixie (minbase) as a local stand-in"
  debootstrap --variant=minbase trixie "$root" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 ||
    { tail -n 20 "$OUT/debootstrap.log" >&2; return 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  local env=()
  # crates.io is reached here through a TLS-inspecting proxy: cargo trusts it through this
  # machine's bundle, kept apart from Debian's /etc/ssl/certs (which the images copy).
  if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/usr/local/share/lifeboat-stand-in"
    cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/lifeboat-stand-in/registry-ca.crt"
    env=(-c 'ENV CARGO_HTTP_CAINFO=/usr/local/share/lifeboat-stand-in/registry-ca.crt')
  fi
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' "${env[@]}" -c 'LABEL lifeboat.stand-in=true' - "$base" >/dev/null
  rm -rf "$root"
}

make_builder() {
  docker image inspect "$builder" >/dev/null 2>&1 && return 0
  stand_in_base
  log "building $builder (release/builder.Dockerfile; log: $OUT/builder.log)"
  docker build --tag "$builder" --file release/builder.Dockerfile release >"$OUT/builder.log" 2>&1 ||
    { tail -n 30 "$OUT/builder.log" >&2; return 1; }
}

# Runs a command in the builder with the checkout read-only at /src, the target folder and cargo's
# download cache kept on this machine between runs.
in_builder() {
  mkdir -p "$OUT/target" "$OUT/cargo-home"
  docker run --rm \
    -v "$here:/src:ro" -v "$OUT/target:/target" -v "$OUT/cargo-home:/cargo-home" \
    -e CARGO_HOME=/cargo-home -e CARGO_TARGET_DIR=/target -e CARGO_BUILD_JOBS="$JOBS" \
    -w /src "$builder" "$@"
}

binary() { # arch
  local arch=$1 t start
  t=$(triple "$arch")
  make_builder
  log "cargo build --release --target $t ($JOBS jobs; log: $OUT/$arch-build.log)"
  start=$(date +%s)
  in_builder env RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --release --target "$t" --bin lifeboat >"$OUT/$arch-build.log" 2>&1 ||
    { tail -n 40 "$OUT/$arch-build.log" >&2; return 1; }
  mkdir -p "$OUT/$arch"
  cp "$OUT/target/$t/release/lifeboat" "$OUT/$arch/lifeboat"
  printf '%s binary: %s bytes, built in %s s\n' "$arch" "$(stat -c %s "$OUT/$arch/lifeboat")" \
    "$(($(date +%s) - start))" | tee "$OUT/$arch/binary.txt" >&2
}

# Inside the builder: the image's files beside the binary, from Debian's packages of ARCH.
_rootfs() { # arch (run in the builder)
  local arch=$1 darch root lib
  darch=$(debian_arch "$arch")
  root=/target/rootfs-$arch
  rm -rf "$root" && mkdir -p "$root/usr/bin" "$root/tmp" "$root/etc/ssl/certs"
  dpkg-deb -x /opt/debs/rclone_*_"$darch".deb /tmp/rclone-$darch
  cp /tmp/rclone-$darch/usr/bin/rclone "$root/usr/bin/rclone"
  local libdir=/usr/lib/x86_64-linux-gnu
  [ "$darch" = arm64 ] && libdir=/usr/lib/aarch64-linux-gnu
  # The program interpreter and every library rclone names, taken from libc6 of ARCH; with
  # their own needs, until nothing new is named.
  local want=() seen=() l interp
  interp=$(readelf -l "$root/usr/bin/rclone" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  mapfile -t want < <(readelf -d "$root/usr/bin/rclone" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
  while [ ${#want[@]} -gt 0 ]; do
    l=${want[0]}; want=("${want[@]:1}")
    [[ " ${seen[*]} " == *" $l "* ]] && continue
    seen+=("$l")
    lib=$libdir/$l
    [ -e "$lib" ] || { echo "rclone needs $l, not found in $libdir" >&2; return 1; }
    mkdir -p "$root$libdir" && cp -L "$lib" "$root$libdir/$l"
    mapfile -t -O "${#want[@]}" want < <(readelf -d "$lib" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
  done
  mkdir -p "$root$(dirname "$interp")"
  cp -L "$interp" "$root$interp"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  echo "rclone: $(dpkg-deb -f /opt/debs/rclone_*_"$darch".deb Version) for $darch; interpreter $interp; libraries: ${seen[*]}"
}

# The image's config names the architecture its files are for. Debian's engine builds with the
# classic builder, which fails on `--platform` for a foreign one (its intermediate steps take the
# machine's platform, moby#41552): nothing in the image runs while it is built, so it is built
# plainly and its config then says the architecture, through save and load.
set_platform() { # tag docker-arch
  local tmp
  tmp=$(mktemp -d)
  docker save -o "$tmp/image.tar" "$1"
  python3 - "$tmp/image.tar" "$2" <<'PY'
import hashlib, io, json, sys, tarfile
path, arch = sys.argv[1], sys.argv[2]
with tarfile.open(path) as t:
    members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
files = {m.name: data for m, data in members}
manifest = json.loads(files["manifest.json"])
old = manifest[0]["Config"]
config = json.loads(files[old])
config["architecture"] = arch
if arch == "arm64":
    config["variant"] = "v8"
data = json.dumps(config, separators=(",", ":")).encode()
new = hashlib.sha256(data).hexdigest() + ".json"
manifest[0]["Config"] = new
files[old] = None
with tarfile.open(path, "w") as t:
    def add(name, body, like=None):
        info = tarfile.TarInfo(name) if like is None else like
        info.name, info.size = name, len(body)
        t.addfile(info, io.BytesIO(body))
    for m, body in members:
        if m.name == old:
            add(new, data)
        elif m.name == "manifest.json":
            add(m.name, json.dumps(manifest).encode(), m)
        elif body is None:
            t.addfile(m)
        else:
            add(m.name, body, m)
PY
  docker load -q -i "$tmp/image.tar" >/dev/null
  rm -rf "$tmp"
}

image() { # arch
  local arch=$1 ctx tag
  # Always through cargo, which rebuilds only what changed: never a binary of an older checkout.
  binary "$arch"
  in_builder env LIFEBOAT_RELEASE_DIR=/target bash /src/scripts/release.sh _rootfs "$arch" >"$OUT/$arch/rootfs.txt"
  ctx=$OUT/$arch/context
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -a "$OUT/target/rootfs-$arch" "$ctx/rootfs"
  cp "$OUT/$arch/lifeboat" "$ctx/rootfs/usr/bin/lifeboat"
  cp release/image.Dockerfile "$ctx/Dockerfile"
  tag=$(image_tag "$arch")
  log "docker build $tag (linux/$(debian_arch "$arch"))"
  local build=(--tag "$tag" --build-arg "BUILD_VERSION=$version" --build-arg "BUILD_ARCH=$arch" "$ctx")
  if docker buildx version >/dev/null 2>&1; then
    # BuildKit (GitHub's runners) builds for the platform itself; nothing in the image runs.
    docker buildx build --load --platform "linux/$(debian_arch "$arch")" "${build[@]}" \
      >"$OUT/$arch/image.log" 2>&1 || { tail -n 30 "$OUT/$arch/image.log" >&2; return 1; }
  else
    docker build "${build[@]}" >"$OUT/$arch/image.log" 2>&1 ||
      { tail -n 30 "$OUT/$arch/image.log" >&2; return 1; }
    set_platform "$tag" "$(debian_arch "$arch")"
  fi
  local got
  got=$(docker image inspect -f '{{.Architecture}}' "$tag")
  [ "$got" = "$(debian_arch "$arch")" ] || { log "$tag is for $got, not $(debian_arch "$arch")"; return 1; }
  printf '%s image: %s, %s MB (%s MiB); binary %s MB; %s\n' "$arch" "$tag" \
    "$(($(docker image inspect -f '{{.Size}}' "$tag") / 1000000))" \
    "$(($(docker image inspect -f '{{.Size}}' "$tag") / 1048576))" \
    "$(($(stat -c %s "$OUT/$arch/lifeboat") / 1000000))" "$(cat "$OUT/$arch/rootfs.txt")" |
    tee "$OUT/$arch/image.txt" >&2
}

unit_tests() { # arch
  local arch=$1 t start
  t=$(triple "$arch")
  make_builder
  log "cargo test --lib --target $t (run by qemu-$arch; log: $OUT/$arch-unit-tests.log)"
  start=$(date +%s)
  # The tests read their fixtures from the checkout; cargo's runner (qemu) is set by the builder.
  # One test is left out where emulated: qemu-user runs glibc's posix_spawn (a vfork sharing its
  # memory) as a plain fork, so a program that does not exist is found only when it exits 127,
  # not when it is started; on the device the spawn itself fails, as on x86-64.
  local skip=()
  [ "$arch" != amd64 ] && skip=(-- --skip source::command::tests::a_missing_program_is_said_to_be_missing)
  if ! in_builder cargo test --locked --lib --target "$t" "${skip[@]}" >"$OUT/$arch-unit-tests.log" 2>&1; then
    tail -n 60 "$OUT/$arch-unit-tests.log" >&2
    return 1
  fi
  grep '^test result:' "$OUT/$arch-unit-tests.log" >&2
  log "unit tests for $arch: $(($(date +%s) - start)) s, build included"
}

push() {
  [ "$REGISTRY" != lifeboat-release ] || { log "set REGISTRY (e.g. ghcr.io/OWNER) to push"; exit 2; }
  local arch
  for arch in "$@"; do docker push "$(image_tag "$arch")"; done
}

case "${1:-}" in
  builder) make_builder ;;
  binary) binary "${2:?arch}" ;;
  image) image "${2:?arch}" ;;
  unit-tests) unit_tests "${2:?arch}" ;;
  push) shift; push "$@" ;;
  all) make_builder; for a in amd64 aarch64; do binary "$a"; image "$a"; done ;;
  _rootfs) _rootfs "${2:?arch}" ;;
  *) echo "usage: $0 builder|binary ARCH|image ARCH|unit-tests ARCH|push ARCH…|all" >&2; exit 2 ;;
esac
