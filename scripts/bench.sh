#!/usr/bin/env bash
# The performance benchmark. Everything is measured in this one run, on this machine, beside a named
# peer where there is one, and printed as figures and ratios (machines here are shared and noisy:
# read the ratios, not the absolute times):
#
#   - peak RSS of `lifeboat run` streaming synthetic backups through age to real destinations at
#     once (Azurite and s3s-fs; Samba, OpenSSH and wsgidav), per size: the goal is <= 48 MiB, and
#     flat as the backup grows (what stays flat is the proof that nothing buffers a whole backup);
#   - upload throughput against `rclone copy` of the same file to the same local S3 server, while
#     encrypting (Lifeboat's upload phase from its history; its whole run, read-back included, too);
#   - age encryption (Lifeboat's stream, `examples/age_encrypt.rs`) against the `age` command, and
#     decryption (`examples/age_decrypt.rs`, as `lifeboat recover` decrypts) against `age -d`;
#   - SecureTar v3 decrypt + walk (`lifeboat inspect --ha-key`) against the Python securetar
#     library (`scripts/securetar_peer.py`) on the same protected backup;
#   - the rclone destination: the same backup through age to an rclone `s3` remote on the same
#     server, beside Lifeboat's native S3 store and `rclone copy`, with the peak RSS of Lifeboat and
#     its rclone processes together;
#   - what the restore-readiness report adds to the single pass: `lifeboat inspect` of a large
#     home's backup with the report's files, against the same bytes with them under other names;
#   - idle RSS, binary size with what the Dockerfile copies beside it (rclone, its glibc, the CA
#     bundle), and the time from start to serving the dashboard;
#   - a home server's database: `pg_dumpall` of about PG_MIB MiB (default 1024) through Lifeboat
#     against `pg_dumpall | gzip > file`, with the run's peak RSS.
#
#   scripts/bench.sh                         # 100 MiB and 1 GiB; peers on 1 GiB
#   RSS_SIZES="100 1024 10240" PEER_MIB=1024 scripts/bench.sh
#
# Installs rclone, age and hyperfine from Debian, and securetar from PyPI into target/bench/venv,
# when missing. Everything it uploads is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
rss_sizes=${RSS_SIZES:-"100 1024"}
peer_mib=${PEER_MIB:-1024}
recipient=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
ha_key=DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044
securetar_version=2026.10.0

log() { echo "[bench] $*" >&2; }

missing=()
for tool in rclone:rclone age:age hyperfine:hyperfine curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
venv=target/bench/venv
if ! "$venv/bin/python" -c "import securetar" 2>/dev/null; then
  log "installing securetar $securetar_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "securetar==$securetar_version"
fi

log "building"
cargo build --release --locked -q --bin lifeboat --example age_encrypt --example age_decrypt
bin=target/release/lifeboat

scripts/test-servers.sh install
work=$(mktemp -d -p "$PWD/target" bench.XXXXXX)
pids=()
forget_uploads() {
  scripts/test-servers.sh stop
  # What was uploaded stays in the servers' folders until they start again: a 10 GiB run fills a disk.
  rm -rf target/test-servers/data/s3 target/test-servers/data/azurite target/test-servers/data/dav \
    /tmp/lifeboat-sftp/home/bench-* /tmp/lifeboat-smb/share/bench-*
}
finish() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  forget_uploads
  rm -rf "$work"
}
trap finish EXIT
scripts/test-servers.sh start
# shellcheck disable=SC1091
source target/test-servers/env
export AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
export AWS_ACCESS_KEY_ID=AKTEST AWS_SECRET_ACCESS_KEY=SKTESTSECRET LIFEBOAT_LOG=warn

rows=()
# row <measure> <lifeboat> <peer> <ratio> <goal>
row() { rows+=("$(printf '%-52s %-14s %-32s %-8s %s' "$@")"); }
medians() { # medians <hyperfine JSON> → the median seconds of its two commands, peer first
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"]; print(r[0]["median"], r[1]["median"])' "$1"
}
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

synthetic() { # synthetic <MiB> → path of a backup of that size, made once
  local out="$work/src-$1/backup.tar"
  if [ ! -f "$out" ]; then
    mkdir -p "$work/src-$1"
    python3 scripts/synthetic_backup.py "$1" "$out"
  fi
  echo "$out"
}

# ---- binary size, start to serving, idle RSS
size=$(stat -c %s "$bin")
row "binary size (release, stripped)" "$(mb "$size")" "" "" ""
# What the Dockerfile puts beside the binary: Debian bookworm's rclone (this machine's Debian has
# the same package), the glibc it links, the CA bundle. The image itself: `scripts/image-test.sh build`.
rclone_bin=$(command -v rclone)
rclone_size=$(stat -L -c %s "$rclone_bin")
mapfile -t rclone_libs < <(ldd "$rclone_bin" | grep -o '/[^ ]*')
beside=$(stat -L -c %s "${rclone_libs[@]}" /etc/ssl/certs/ca-certificates.crt |
  awk -v s="$rclone_size" '{ s += $1 } END { print s }')
row "  + rclone, its glibc, CA bundle (Dockerfile)" "$(mb "$beside")" "rclone alone $(mb "$rclone_size")" "" ""
row "  = image contents, estimated" "$(mb $((size + beside)))" "" "" "<= 25 MB"
mkdir -p "$work/serve-src" "$work/serve-nas"
cat >"$work/lifeboat.toml" <<TOML
data_dir = "$work/serve-data"
[source]
type = "folder"
path = "$work/serve-src"
[encryption]
recipients = ["$recipient"]
[schedule]
backup = "30 3 * * *"
[[destinations]]
type = "local"
name = "nas"
path = "$work/serve-nas"
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
startup_ms=()
for _ in 1 2 3 4 5; do
  ms=$(python3 - "$bin" "$work/lifeboat.toml" "$port" <<'PY'
import subprocess, sys, time, urllib.request
bin, config, port = sys.argv[1:]
start = time.monotonic()
p = subprocess.Popen([bin, "--config", config, "serve", "--listen", f"127.0.0.1:{port}"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1).read()
        break
    except OSError:
        if p.poll() is not None or time.monotonic() - start > 30:
            sys.exit("lifeboat serve did not start")
        time.sleep(0.002)
print(round((time.monotonic() - start) * 1000))
p.terminate()
p.wait()
PY
)
  startup_ms+=("$ms")
done
median_ms=$(printf '%s\n' "${startup_ms[@]}" | sort -n | sed -n 3p)
row "start to serving the dashboard (median of 5)" "$median_ms ms" "" "" ""
"$bin" --config "$work/lifeboat.toml" serve --listen "127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/" >/dev/null
sleep 3
idle_kib=$(awk '/^VmRSS/ { print $2 }' "/proc/${pids[-1]}/status")
row "idle RSS (serving, after one page)" "$(mib_of_kib "$idle_kib")" "" "" "<= 15 MiB"
kill "${pids[-1]}"

# ---- peak RSS per size, to the clouds (Azurite and s3s-fs) and to the NAS kinds (Samba over SMB,
# OpenSSH over SFTP, wsgidav over WebDAV), each set at once
peak() { # peak <label> <MiB> <destination URL>…
  local label=$1 mib=$2 src out kib secs code to=()
  shift 2
  for url in "$@"; do to+=(--to "$url"); done
  src=$(synthetic "$mib")
  local errors="$work/rss-$mib.stderr"
  LIFEBOAT_SMB_PASSWORD=$LIFEBOAT_TEST_SMB_PASSWORD LIFEBOAT_SFTP_PASSWORD=$LIFEBOAT_TEST_SFTP_PASSWORD \
    LIFEBOAT_WEBDAV_USER=davuser LIFEBOAT_WEBDAV_PASSWORD=davpass \
    python3 scripts/peak_rss.py "$bin" --data-dir "$work/rss-$label-$mib" run \
    --source "folder:$(dirname "$src")" "${to[@]}" --recipient "$recipient" 2>"$errors" >"$errors.out" || true
  out=$(grep '^PEAK' "$errors" || true)
  read -r _ kib secs code <<<"$out"
  if [ "$code" != 0 ]; then
    log "the $mib MiB run to $label failed (exit ${code:-unknown}):"
    { grep -v '^PEAK' "$errors" | tail -20; tail -20 "$errors.out"; } >&2
    exit 1
  fi
  row "peak RSS, $mib MiB to $label" "$(mib_of_kib "$kib")" \
    "$(awk -v m="$mib" -v s="$secs" 'BEGIN { printf "(%.0f MiB/s)", m / s }')" "" "<= 48 MiB, flat"
}
for mib in $rss_sizes; do
  peak "Azurite + S3" "$mib" \
    "azure://devstoreaccount1/backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_AZURITE" \
    "s3://backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_S3"
  peak "SMB + SFTP + WebDAV" "$mib" \
    "smb://$LIFEBOAT_TEST_SMB_USER@$LIFEBOAT_TEST_SMB/$LIFEBOAT_TEST_SMB_SHARE/bench-$mib-$$" \
    "sftp://$LIFEBOAT_TEST_SFTP_USER@$LIFEBOAT_TEST_SFTP/bench-$mib-$$" \
    "webdav+$LIFEBOAT_TEST_WEBDAV/bench-$mib-$$"
  if [ "$mib" != "$peer_mib" ]; then rm -rf "$work/src-$mib"; fi
  # 10 GiB to five destinations is 50 GB on this disk: start the servers empty for each size.
  forget_uploads
  scripts/test-servers.sh start
done

# ---- upload throughput against rclone, same file, same S3 server
src=$(synthetic "$peer_mib")
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
  RCLONE_CONFIG_BENCH_ENDPOINT="$LIFEBOAT_TEST_S3" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=AKTEST \
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=SKTESTSECRET RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
log "rclone copy of $peer_mib MiB"
t0=$(date +%s.%N)
# A CA bundle in the environment makes rclone's S3 client refuse to start; loopback needs none.
env -u AWS_CA_BUNDLE rclone copy --s3-no-check-bucket "$src" "bench:backups/rclone-$$/"
rclone_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
# rclone's way to read a copy back: download it and compare it byte for byte with the file.
log "rclone check --download of the same copy"
t0=$(date +%s.%N)
env -u AWS_CA_BUNDLE rclone check --download --one-way "$(dirname "$src")" "bench:backups/rclone-$$/" 2>/dev/null
check_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
assured_s=$(awk -v a="$rclone_s" -v b="$check_s" 'BEGIN { printf "%.2f", a + b }')
log "lifeboat run of $peer_mib MiB to the same server"
t0=$(date +%s.%N)
"$bin" --data-dir "$work/peer-data" run --source "folder:$(dirname "$src")" \
  --to "s3://backups/lifeboat-$$?endpoint=$LIFEBOAT_TEST_S3" --recipient "$recipient" >/dev/null
run_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
upload_s=$(python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print("%.2f" % (c.execute("SELECT upload_ms FROM copies").fetchone()[0] / 1000))' "$work/peer-data/lifeboat.db")
mbps() { awk -v m="$peer_mib" -v s="$1" 'BEGIN { printf "%.0f MiB/s", m / s }'; }
ratio() { awk -v peer="$1" -v ours="$2" 'BEGIN { printf "%.2fx", peer / ours }'; }
row "S3 upload, encrypting, $peer_mib MiB" "$(mbps "$upload_s")" "rclone copy $(mbps "$rclone_s")" "$(ratio "$rclone_s" "$upload_s")" ">= 1.0x"
row "  whole run (hash, walk, encrypt, upload, read back)" "$(mbps "$run_s")" "copy + check --download $(mbps "$assured_s")" "$(ratio "$assured_s" "$run_s")" ">= 1.0x"

# ---- the rclone destination: the same file through age to an rclone s3 remote on the same server
# (the remote defined by the RCLONE_CONFIG_BENCH_* variables above; a bucket of its own, since
# rclone checks whether a folder's key is a file and s3s-fs answers that with a 500)
log "lifeboat run of $peer_mib MiB to an rclone s3 remote"
rclone_errors="$work/rclone-run.stderr"
env -u AWS_CA_BUNDLE PEAK_TREE=1 python3 scripts/peak_rss.py "$bin" --data-dir "$work/rclone-data" run \
  --source "folder:$(dirname "$src")" --to "rclone:bench:lifeboat-rclone-$$" \
  --recipient "$recipient" >/dev/null 2>"$rclone_errors" || { tail -20 "$rclone_errors" >&2; exit 1; }
read -r _ tree_kib via_rclone_s _ <<<"$(grep '^PEAK' "$rclone_errors")"
via_rclone_upload_s=$(python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print("%.2f" % (c.execute("SELECT upload_ms FROM copies").fetchone()[0] / 1000))' "$work/rclone-data/lifeboat.db")
row "rclone s3 remote, upload, encrypting, $peer_mib MiB" "$(mbps "$via_rclone_upload_s")" "rclone copy $(mbps "$rclone_s")" "$(ratio "$rclone_s" "$via_rclone_upload_s")" ">= 1.0x"
row "  beside Lifeboat's native S3 store (upload)" "$(mbps "$via_rclone_upload_s")" "native S3 $(mbps "$upload_s")" "$(ratio "$upload_s" "$via_rclone_upload_s")" ""
row "  whole run (hash, walk, encrypt, upload, read back)" "$(mbps "$via_rclone_s")" "copy + check --download $(mbps "$assured_s")" "$(ratio "$assured_s" "$via_rclone_s")" ""
row "  peak RSS, Lifeboat + rclone together" "$(mib_of_kib "$tree_kib")" "" "" ""

# ---- age encryption against the age command
log "age encryption of $peer_mib MiB"
hyperfine -N --warmup 1 --runs 5 --export-json "$work/age.json" \
  "age -r $recipient -o /dev/null $src" \
  "target/release/examples/age_encrypt $recipient $src /dev/null" >/dev/null
read -r age_s ours_s < <(medians "$work/age.json")
row "age encryption, $peer_mib MiB (median of 5)" "$(mbps "$ours_s")" "age $(age --version) $(mbps "$age_s")" "$(ratio "$age_s" "$ours_s")" ">= 1.0x"
log "age decryption of $peer_mib MiB"
age-keygen -o "$work/age.key" 2>/dev/null
age -r "$(age-keygen -y "$work/age.key")" -o "$work/age.ct" "$src"
hyperfine -N --warmup 1 --runs 5 --export-json "$work/age-d.json" \
  "age -d -i $work/age.key -o /dev/null $work/age.ct" \
  "target/release/examples/age_decrypt $work/age.key $work/age.ct /dev/null" >/dev/null
read -r age_s ours_s < <(medians "$work/age-d.json")
row "age decryption, $peer_mib MiB (median of 5)" "$(mbps "$ours_s")" "age -d $(age --version) $(mbps "$age_s")" "$(ratio "$age_s" "$ours_s")" ">= 1.0x"
rm -f "$work/age.ct"

# ---- SecureTar v3 decrypt + walk against the Python library
log "SecureTar v3: protecting $peer_mib MiB with the Python library"
"$venv/bin/python" scripts/securetar_peer.py protect "$src" "$work/protected.tar" "$ha_key"
rm -rf "$(dirname "$src")"
hyperfine -N --warmup 1 --runs 3 --export-json "$work/securetar.json" \
  "$venv/bin/python scripts/securetar_peer.py walk $work/protected.tar $ha_key" \
  "$bin inspect $work/protected.tar --ha-key $ha_key" >/dev/null
read -r py_s ours_s < <(medians "$work/securetar.json")
row "SecureTar v3 decrypt + walk, $peer_mib MiB" "$(mbps "$ours_s")" "securetar $securetar_version $(mbps "$py_s")" "$(ratio "$py_s" "$ours_s")" ">= 2.0x"
rm -f "$work/protected.tar"

# ---- what the restore-readiness report costs the single pass: the same bytes walked, once with
# the report's files under their names (parsed), once under other names (not parsed)
log "restore-readiness report: two $peer_mib MiB backups of a large home"
python3 scripts/readiness_bench.py "$work/ready.tar" "$work/unread.tar" "$peer_mib"
hyperfine -N --warmup 1 --runs 5 --export-json "$work/readiness.json" \
  "$bin inspect $work/unread.tar" \
  "$bin inspect $work/ready.tar" >/dev/null
read -r without_s with_s < <(medians "$work/readiness.json")
row "readiness report's cost in the pass, $peer_mib MiB" "$(awk -v a="$with_s" -v b="$without_s" 'BEGIN { printf "%+.2f %%", (a - b) / b * 100 }')" "same walk, files unread $(mbps "$without_s")" "$(ratio "$without_s" "$with_s")" "< 2 %"
rm -f "$work/ready.tar" "$work/unread.tar"

# ---- ship mode: from Home Assistant's backup-manager `completed` event to the first bytes of the
# backup stored on the destination (beyond age's header) (the daemon against the double, release build, median of 5); the peer is
# what a 15-minute poll gives on average
log "ship mode: event to first byte (builds the release test binary)"
latencies=()
for _ in 1 2 3 4 5; do
  ms=$(cargo test --release --locked -q --test tests ship_mode_ships_a_new_backup -- --nocapture 2>/dev/null |
    sed -n 's/.*first backup bytes on the destination \([0-9.]*\)\(ms\|µs\|s\).*/\1 \2/p' |
    awk '{ v = $1; if ($2 == "µs") v /= 1000; if ($2 == "s") v *= 1000; printf "%.1f", v }')
  latencies+=("$ms")
done
median_latency=$(printf '%s\n' "${latencies[@]}" | sort -n | sed -n 3p)
row "ship mode: HA's backup event to first bytes stored" "$median_latency ms" "15-min poll: 450000 ms on average" \
  "$(awk -v m="$median_latency" 'BEGIN { printf "%.0fx", 450000 / m }')" "< 2000 ms"

# ---- a home server's database: pg_dumpall of a PostgreSQL database of about $PG_MIB MiB (its
# dump's size) through Lifeboat (gzip, age, a local folder, read back and walked to the dump's
# closing line) against `pg_dumpall | gzip > file`, with Lifeboat's peak RSS
pg_mib=${PG_MIB:-1024}
pg=$LIFEBOAT_TEST_PG_BIN
pg_rows=$(( pg_mib * 12100 ))
log "PostgreSQL: a database whose dump is about $pg_mib MiB ($pg_rows rows)"
"$pg/psql" -X -q -h 127.0.0.1 -p "$LIFEBOAT_TEST_PG_PORT" -U postgres -c "CREATE DATABASE bench"
"$pg/psql" -X -q -h 127.0.0.1 -p "$LIFEBOAT_TEST_PG_PORT" -U postgres -d bench -c \
  "CREATE TABLE states AS SELECT i AS id, 'sensor.t_' || (i % 37) AS entity, (i * 0.1)::text AS state,
   '2026-01-01'::timestamptz + i * interval '1 second' AS at, md5(i::text) AS context
   FROM generate_series(1, $pg_rows) i"
dump_cmd="$pg/pg_dumpall -h 127.0.0.1 -p $LIFEBOAT_TEST_PG_PORT -U postgres"
dump_bytes=$($dump_cmd | wc -c)
t0=$(date +%s.%N)
$dump_cmd | gzip >"$work/peer-dump.sql.gz"
gzip_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
python3 scripts/peak_rss.py "$bin" --data-dir "$work/pg-data" run --source "command:$dump_cmd" \
  --to "file://$work/pg-copies" --recipient "$recipient" 2>"$work/pg.stderr" >/dev/null || true
read -r _ pg_kib pg_s pg_code < <(grep '^PEAK' "$work/pg.stderr" || echo "PEAK 0 0 1")
if [ "$pg_code" != 0 ]; then log "the pg_dumpall run failed:"; tail -20 "$work/pg.stderr" >&2; exit 1; fi
dump_mib=$(awk -v b="$dump_bytes" 'BEGIN { printf "%.0f", b / 1048576 }')
row "pg_dumpall, $dump_mib MiB dump: gzip, age, read back" "$pg_s s" "pg_dumpall | gzip > file $gzip_s s" "$(ratio "$gzip_s" "$pg_s")" ">= 1.0x"
row "  peak RSS of that run" "$(mib_of_kib "$pg_kib")" "" "" "<= 48 MiB"
"$pg/psql" -X -q -h 127.0.0.1 -p "$LIFEBOAT_TEST_PG_PORT" -U postgres -c "DROP DATABASE bench"
rm -rf "$work/pg-copies" "$work/peer-dump.sql.gz"

echo
printf '%-52s %-14s %-32s %-8s %s\n' "measure" "lifeboat" "peer" "ratio" "goal"
printf '%s\n' "${rows[@]}"
