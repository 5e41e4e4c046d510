#!/usr/bin/env bash
# The dashboard under load: latency (p50, p99) and requests per second of its pages with 10 000
# runs in history, measured by wrk on loopback, beside nginx serving the very same overview page as
# a static file in the same run (the floor: a server that does no work per request). The goal is
# p99 <= 10 ms on every page at 10 000 runs, and within twice that at 100 000.
#
# The history is seeded through Lifeboat's own history code (`examples/seed_history.rs`: runs,
# copies, retention's deletions); one real run then stores a real copy on both destinations, for
# the copies and restore pages.
#
#   scripts/bench-dashboard.sh                 # 10 000 runs, 10 s per page
#   RUNS=100000 DURATION=20s scripts/bench-dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10000}
duration=${DURATION:-10s}

want=()
command -v wrk >/dev/null || want+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
if [ ${#want[@]} -gt 0 ]; then
  echo "installing ${want[*]} from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --locked -q --bin lifeboat --example seed_history
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

target/release/examples/seed_history "$work/data" "$runs" >&2
mkdir -p "$work/src" "$work/nas" "$work/b2" "$work/www" "$work/nginx"
python3 scripts/synthetic_backup.py 1 "$work/src/backup.tar"
# nginx's worker drops to an unprivileged user: let it read the page.
chmod 755 "$work" "$work/www"
cat >"$work/lifeboat.toml" <<TOML
data_dir = "$work/data"
[source]
type = "folder"
path = "$work/src"
[encryption]
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
[schedule]
backup = "30 3 * * *"
[[destinations]]
type = "local"
name = "nas"
path = "$work/nas"
[[destinations]]
type = "local"
name = "b2"
path = "$work/b2"
TOML

LIFEBOAT_LOG=warn target/release/lifeboat --config "$work/lifeboat.toml" run >/dev/null
copy=$(basename "$(ls "$work/nas"/*.manifest.json | head -1)" .manifest.json)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
lb_port=$(free_port)
LIFEBOAT_LOG=warn target/release/lifeboat --config "$work/lifeboat.toml" serve --listen "127.0.0.1:$lb_port" </dev/null >/dev/null 2>"$work/lifeboat.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$lb_port/api/health" >/dev/null && break; sleep 0.1; done

curl -fs "http://127.0.0.1:$lb_port/" >"$work/www/index.html"
ng_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$ng_port; root $work/www; }
}
CONF
"$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$ng_port/index.html" >/dev/null && break; sleep 0.1; done

# The p99 goal: 10 ms at 10 000 runs, twice that at 100 000 (in between, in proportion).
goal=$(awk -v r="$runs" 'BEGIN { g = 10 + 10 * (r - 10000) / 90000; if (g < 10) g = 10; if (g > 20) g = 20; printf "%.0f", g }')

# wrk's latency lines in milliseconds: "50%  1.23ms" → 1.23
measure() { # name url
  wrk -t2 -c8 -d"$duration" --latency "$2" | awk -v name="$1" -v goal="$goal" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { if (bad) { print name ": " bad " answers were errors" > "/dev/stderr"; exit 1 }
          verdict = name ~ /^nginx/ ? "-" : (p99 <= goal ? "yes" : "NO")
          printf "%-42s %10.2f %10.2f %12.0f   %s\n", name, p50, p99, rps, verdict }'
}

lb="http://127.0.0.1:$lb_port"
echo "history: $runs runs; wrk -t2 -c8 -d$duration on 127.0.0.1; page size $(wc -c <"$work/www/index.html") bytes"
printf '%-42s %10s %10s %12s   %s\n' "page" "p50 ms" "p99 ms" "requests/s" "p99 <= $goal ms"
results=$(
  measure "nginx: overview as a file" "http://127.0.0.1:$ng_port/index.html"
  measure "lifeboat: overview" "$lb/"
  measure "lifeboat: runs, page 1" "$lb/runs"
  measure "lifeboat: runs, page 200" "$lb/runs?page=200"
  measure "lifeboat: runs, last page" "$lb/runs?page=$(( (runs + 24) / 25 ))"
  measure "lifeboat: runs, failed only" "$lb/runs?status=failed"
  measure "lifeboat: runs, problems, page 20" "$lb/runs?status=problems&page=20"
  measure "lifeboat: runs, one destination, p. 100" "$lb/runs?destination=nas&page=100"
  measure "lifeboat: runs, schedule only, p. 50" "$lb/runs?trigger=schedule&page=50"
  measure "lifeboat: one run" "$lb/runs/$((runs / 2))"
  measure "lifeboat: copies" "$lb/copies"
  measure "lifeboat: copies, one destination" "$lb/copies?destination=nas"
  measure "lifeboat: destinations" "$lb/destinations"
  measure "lifeboat: emergency kit" "$lb/kit"
  measure "lifeboat: restore a copy" "$lb/copies/nas/$copy/restore"
)
echo "$results"
echo "$results" | awk '
  /^nginx/ { np50 = $(NF-3); nrps = $(NF-1) }
  /lifeboat: overview/ { lp50 = $(NF-3); lrps = $(NF-1) }
  END { printf "overview vs nginx serving the same bytes: p50 %.1fx, throughput %.2fx\n", lp50 / np50, lrps / nrps }'
