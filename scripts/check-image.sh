#!/usr/bin/env bash
# What can be proven here about the add-on image without a Docker engine:
#   1. the Dockerfile passes hadolint;
#   2. the binary built the way the Dockerfile builds it (release, crt-static) is static (no ELF
#      interpreter, no shared libraries);
#   3. it runs from an empty root — a chroot holding only what the Dockerfile copies into `scratch`,
#      with an empty environment — makes a real backup there, serves, and answers its health check
#      by host name.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${LIFEBOAT_TEST_ROOT:-$PWD/target/test-servers}
log() { printf '[check-image] %s\n' "$*" >&2; }

log "hadolint Dockerfile"
"$ROOT/venv/bin/hadolint" Dockerfile

target=$(rustc -vV | sed -n 's/^host: //p')
log "building the static binary ($target)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --locked --target "$target" --target-dir target/static
bin="target/static/$target/release/lifeboat"

python3 - "$bin" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF", "not an ELF file"
phoff, = struct.unpack_from("<Q", data, 0x20)
phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
kinds = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
assert 3 not in kinds, "the binary has an ELF interpreter: it is not static"
print(f"static: {len(data) / 1e6:.1f} MB, no ELF interpreter")
PY
# ldd (Debian's libc-bin) says so too: no shared library is needed.
ldd_says=$(ldd "$bin" 2>&1 || true)
case "$ldd_says" in
  *"statically linked"*|*"not a dynamic executable"*) echo "ldd: $ldd_says" ;;
  *) echo "the binary needs shared libraries: $ldd_says" >&2; exit 1 ;;
esac

jail=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$jail"; }
trap cleanup EXIT
mkdir -p "$jail/usr/bin" "$jail/etc/ssl/certs" "$jail/tmp" "$jail/data"
cp "$bin" "$jail/usr/bin/lifeboat"
cp /etc/ssl/certs/ca-certificates.crt "$jail/etc/ssl/certs/" 2>/dev/null || true
printf '127.0.0.1 localhost lifeboat-check\n' >"$jail/etc/hosts"

log "running from an empty root with an empty environment"
chroot=$(command -v chroot)
env -i "$chroot" "$jail" /usr/bin/lifeboat --version
env -i "$chroot" "$jail" /usr/bin/lifeboat demo --dir /tmp/demo | tail -n 4
test -n "$(ls "$jail"/tmp/demo/copies/*.manifest.json)"

port=$((20000 + RANDOM % 20000))
printf 'data_dir = "/data"\nlisten = "127.0.0.1:%s"\n[source]\ntype = "folder"\npath = "/tmp/demo/source"\n[encryption]\nrecipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]\n[[destinations]]\ntype = "local"\nname = "jail"\npath = "/data/copies"\n' "$port" >"$jail/data/lifeboat.toml"
env -i LIFEBOAT_LOG=warn "$chroot" "$jail" /usr/bin/lifeboat --config /data/lifeboat.toml serve </dev/null &
server_pid=$!
for _ in $(seq 1 50); do
  env -i "$chroot" "$jail" /usr/bin/lifeboat health --url "http://lifeboat-check:$port/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done
env -i "$chroot" "$jail" /usr/bin/lifeboat health --url "http://lifeboat-check:$port/api/health"
log "ok: static, runs from an empty root, resolves names from /etc/hosts, serves and answers health"
