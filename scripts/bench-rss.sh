#!/usr/bin/env bash
# Peak memory and throughput of `lifeboat run` streaming synthetic Home Assistant backups through
# age to two real destinations at once (Azurite and an S3 server on 127.0.0.1).
#
#   scripts/bench-rss.sh            # 100 MiB and 1 GiB
#   SIZES="100 1024 10240" scripts/bench-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-"100 1024"}

cargo build --release --locked -q
scripts/test-servers.sh install
trap 'scripts/test-servers.sh stop; rm -rf "$work"' EXIT
scripts/test-servers.sh start
# shellcheck disable=SC1091
source target/test-servers/env
work=$(mktemp -d)
# A recipient whose identity is thrown away: this measures the run, not a restore.
recipient=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p

printf '%-10s %14s %10s %12s\n' "backup" "peak RSS" "seconds" "MiB/s"
for mib in $sizes; do
  mkdir -p "$work/src-$mib"
  python3 scripts/synthetic_backup.py "$mib" "$work/src-$mib/backup.tar"
  out=$(AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' \
    AWS_ACCESS_KEY_ID=AKTEST AWS_SECRET_ACCESS_KEY=SKTESTSECRET LIFEBOAT_LOG=warn \
    python3 scripts/peak_rss.py target/release/lifeboat --data-dir "$work/data-$mib" run \
      --source "folder:$work/src-$mib" \
      --to "azure://devstoreaccount1/backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_AZURITE" \
      --to "s3://backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_S3" \
      --recipient "$recipient" 2>&1 >/dev/null | grep '^PEAK')
  read -r _ kib secs code <<<"$out"
  [ "$code" = 0 ] || { echo "run of $mib MiB failed (exit $code)" >&2; exit 1; }
  awk -v m="$mib" -v k="$kib" -v s="$secs" 'BEGIN { printf "%-10s %10.1f MiB %10s %12.1f\n", m " MiB", k / 1024, s, m / s }'
  rm -f "$work/src-$mib/backup.tar"
done
