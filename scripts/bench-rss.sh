#!/usr/bin/env bash
# Peak memory and throughput of `lifeboat run` streaming synthetic Home Assistant backups through
# age to real destinations on 127.0.0.1: the clouds (Azurite and an S3 server at once), then the
# NAS kinds (Samba over SMB, OpenSSH over SFTP and wsgidav over WebDAV at once).
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

# measure <label> <MiB> <destination URL>…: one run, one row.
measure() {
  local label=$1 mib=$2 out kib secs code
  shift 2
  local to=()
  for url in "$@"; do to+=(--to "$url"); done
  out=$(AZURE_STORAGE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' \
    AWS_ACCESS_KEY_ID=AKTEST AWS_SECRET_ACCESS_KEY=SKTESTSECRET \
    LIFEBOAT_SMB_PASSWORD=$LIFEBOAT_TEST_SMB_PASSWORD LIFEBOAT_SFTP_PASSWORD=$LIFEBOAT_TEST_SFTP_PASSWORD \
    LIFEBOAT_WEBDAV_USER=davuser LIFEBOAT_WEBDAV_PASSWORD=davpass LIFEBOAT_LOG=warn \
    python3 scripts/peak_rss.py target/release/lifeboat --data-dir "$work/data-$label-$mib" run \
      --source "folder:$work/src-$mib" "${to[@]}" --recipient "$recipient" 2>&1 >/dev/null | grep '^PEAK')
  read -r _ kib secs code <<<"$out"
  [ "$code" = 0 ] || { echo "run of $mib MiB to $label failed (exit $code)" >&2; exit 1; }
  awk -v l="$label" -v m="$mib" -v k="$kib" -v s="$secs" \
    'BEGIN { printf "%-28s %-10s %10.1f MiB %10s %12.1f\n", l, m " MiB", k / 1024, s, m / s }'
}

printf '%-28s %-10s %14s %10s %12s\n' "destinations" "backup" "peak RSS" "seconds" "MiB/s"
for mib in $sizes; do
  mkdir -p "$work/src-$mib"
  python3 scripts/synthetic_backup.py "$mib" "$work/src-$mib/backup.tar"
  measure "azure + s3" "$mib" \
    "azure://devstoreaccount1/backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_AZURITE" \
    "s3://backups/bench-$mib-$$?endpoint=$LIFEBOAT_TEST_S3"
  measure "smb + sftp + webdav" "$mib" \
    "smb://$LIFEBOAT_TEST_SMB_USER@$LIFEBOAT_TEST_SMB/$LIFEBOAT_TEST_SMB_SHARE/bench-$mib-$$" \
    "sftp://$LIFEBOAT_TEST_SFTP_USER@$LIFEBOAT_TEST_SFTP/bench-$mib-$$" \
    "webdav+$LIFEBOAT_TEST_WEBDAV/bench-$mib-$$"
  rm -f "$work/src-$mib/backup.tar"
done
