#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets, each one line calling its body in src/fuzzing.rs: the
# outer-tar walker, backup.json and the readiness report's parsers, SecureTar headers and streams,
# the options parser, stdin commands, the age reader, extraction, SecureTar removal, the content
# walk and row counter, manifests and the names check, rclone.conf, WebDAV listings) under
# libFuzzer with AddressSanitizer for a bounded time each, and fails on the first crash, hang or
# leak (the input is left in fuzz/artifacts/). The corpus each run grows is minimised and kept in
# fuzz/corpus/<target> (tests/fuzz_corpora.rs replays every one in `cargo test`); seeds come from
# the real archives in tests/data and fuzz/seeds.py. Each run is held to FUZZ_RSS_MB of memory
# (256 unless set) and 10 s an input, on one core.
#
#   scripts/fuzz.sh                   # 60 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh outer_tar securetar
#
# Installs cargo-fuzz into target/fuzz-tools when missing. cargo-fuzz passes nightly-only compiler
# flags (the sanitizer); RUSTC_BOOTSTRAP lets this machine's stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(outer_tar backup_json securetar options stdin_commands
  age_open extract strip content manifest rclone_conf dav_xml)
tools=$PWD/target/fuzz-tools
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "[fuzz] installing cargo-fuzz into $tools" >&2
  cargo install -q --locked --root "$tools" cargo-fuzz@0.13.1
fi
export PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1
# AddressSanitizer keeps freed memory aside (256 MB by default) to catch its use after free; that
# counts against FUZZ_RSS_MB, and every SecureTar v3 salt frees a 16 MiB Argon2 block: the strip
# corpus replayed whole reached 282 MB this way while the program held 43 MB. A small quarantine
# keeps the limit about the program's memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

# Seeds: whole real archives, their backup.json, and their inner SecureTar files.
seeds=$PWD/target/fuzz-seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{outer_tar,backup_json,securetar,options,stdin_commands}
python3 - "$seeds" tests/data <<'PY'
import pathlib, sys, tarfile
seeds, data = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for n, archive in enumerate(sorted(data.glob("*/*.tar"))):
    raw = archive.read_bytes()
    if len(raw) <= 256 << 10:
        (seeds / "outer_tar" / f"{n}.tar").write_bytes(raw)
    with tarfile.open(archive) as t:
        for m in t:
            f = t.extractfile(m)
            if f is None:
                continue
            body = f.read(64 << 10)
            name = m.name.replace("/", "_")
            if m.name.endswith("backup.json"):
                (seeds / "backup_json" / f"{n}-{name}").write_bytes(body)
            elif m.name.endswith((".tar.gz", ".tar")):
                (seeds / "securetar" / f"{n}-{name}").write_bytes(body)
                # The files the restore-readiness report reads, from plain inner archives.
                try:
                    with tarfile.open(fileobj=t.extractfile(m)) as inner:
                        for im in inner:
                            wanted = ("core.config_entries", "core.device_registry", "auth",
                                      "configuration.yaml", "secrets.yaml", ".HA_VERSION", "addon.json")
                            if im.isfile() and im.name.rsplit("/", 1)[-1] in wanted:
                                data_ = inner.extractfile(im).read(64 << 10)
                                (seeds / "backup_json" / f"{n}-{name}-{im.name.replace('/', '_')}").write_bytes(data_)
                except (tarfile.TarError, EOFError, OSError):
                    pass  # a protected inner archive
PY
cat >"$seeds/options/lifeboat.toml" <<'TOML'
data_dir = "/var/lib/lifeboat"
retention = "last=3 daily=7 weekly=4 monthly=12 yearly=2"
[source]
type = "core"
url = "http://homeassistant.local:8123"
[encryption]
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
[[destinations]]
type = "s3"
name = "b2"
bucket = "my-bucket"
endpoint = "https://s3.us-west-004.backblazeb2.com"
access_key_id = "key"
secret_access_key = "secret"
TOML
printf '%s\n' '{"options": {"source": {"type": "supervisor"}, "encryption": {"recipients": []}}}' >"$seeds/options/options.json"
python3 fuzz/seeds.py "$seeds"
printf '%s' 'backup' >"$seeds/stdin_commands/plain"
printf '%s' '{"command": "backup", "destinations": ["nas"], "name": "before update"}' >"$seeds/stdin_commands/json"

status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "[fuzz] $t for ${seconds}s" >&2
  log=$(mktemp)
  if cargo fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "$seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb="${FUZZ_RSS_MB:-256}" -max_len=262144 \
      -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    # Keep the corpus small enough to commit: only inputs that add coverage stay.
    cargo fuzz cmin --fuzz-dir fuzz "$t" "fuzz/corpus/$t" >/dev/null 2>&1 || true
    printf '%-16s ok     %10s runs in %ss, corpus %s inputs\n' "$t" "${runs:-?}" "$seconds" \
      "$(find "fuzz/corpus/$t" -type f | wc -l)"
  else
    printf '%-16s FAILED (see below; the input is in fuzz/artifacts/%s)\n' "$t" "$t"
    tail -40 "$log"
    status=1
  fi
  rm -f "$log"
done
exit $status
